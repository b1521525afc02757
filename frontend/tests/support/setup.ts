// Every Vitest file: Mock Service Worker answers the page's requests (tests/support/shop.ts);
// a request no route answers fails its test. TanStack Query tells components of a change
// in a microtask rather than a timer, so that an async act() has them render it.
import { notifyManager } from "@tanstack/react-query";
import { afterAll, afterEach, beforeAll } from "vitest";

import { server } from "./shop";

notifyManager.setScheduler(queueMicrotask);

beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());
