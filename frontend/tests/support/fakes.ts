// Stand-ins for the browser's WebSocket and EventSource (jsdom has neither a server nor a
// network), driven by the test: open, send a frame, drop. The shop's API is shop.ts's.
import { act } from "@testing-library/react";
export class FakeSocket {
  static all: FakeSocket[] = [];
  static last(): FakeSocket {
    const socket = FakeSocket.all.at(-1);
    if (!socket) throw new Error("no WebSocket was opened");
    return socket;
  }
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  closedByPage = false;
  readonly url: URL;
  constructor(url: string | URL) {
    this.url = new URL(url);
    FakeSocket.all.push(this);
  }
  open(): void {
    this.onopen?.();
  }
  frame(data: object): void {
    this.onmessage?.({ data: JSON.stringify(data) });
  }
  drop(code = 1006): void {
    this.onclose?.({ code });
  }
  close(): void {
    this.closedByPage = true;
  }
}

export class FakeEventSource {
  static readonly CLOSED = 2;
  static all: FakeEventSource[] = [];
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  readyState = 0;
  closedByPage = false;
  readonly url: URL;
  private readonly listeners = new Map<string, (event: { data: string }) => void>();
  constructor(url: string | URL) {
    this.url = new URL(url);
    FakeEventSource.all.push(this);
  }
  addEventListener(type: string, listener: (event: { data: string }) => void): void {
    this.listeners.set(type, listener);
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  event(type: string, data: object): void {
    this.listeners.get(type)?.({ data: JSON.stringify(data) });
  }
  /** An HTTP error: the browser gives up on this one. */
  fail(): void {
    this.readyState = FakeEventSource.CLOSED;
    this.onerror?.();
  }
  close(): void {
    this.closedByPage = true;
  }
}

export function installFakes(): void {
  FakeSocket.all = [];
  FakeEventSource.all = [];
  // Defined, not assigned: MSW's interceptor holds WebSocket as a read-only property.
  for (const [name, value] of [
    ["WebSocket", FakeSocket],
    ["EventSource", FakeEventSource],
  ] as const) {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
}

/** A frame over the last socket, and what it changes rendered: an async act, since TanStack
 * Query tells components in a microtask (setup.ts). */
export function sent(frame: object): Promise<void> {
  return act(() => {
    FakeSocket.last().frame(frame);
    return Promise.resolve();
  });
}
