// Every Vitest file: Mock Service Worker answers the page's requests (tests/support/shop.ts);
// a request no route answers fails its test.
import { afterAll, afterEach, beforeAll } from "vitest";

import { server } from "./shop";

beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());
