import assert from "node:assert/strict";
import { httpHandler } from "./http.ts";
import { Metrics, processMetrics } from "./metrics.ts";

const handler = (ready: () => Promise<boolean>) =>
  httpHandler({ metrics: new Metrics("1.2.3", { process: processMetrics() }), ready });
const get = (h: ReturnType<typeof handler>, path: string, method = "GET") =>
  h(new Request(`http://localhost${path}`, { method }));

Deno.test("httpHandler() serves the Prometheus text on /metrics", async () => {
  const res = await get(handler(() => Promise.resolve(true)), "/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /^classcord_build_info\{version="1\.2\.3"\} 1$/m);
  assert.match(text, /^process_resident_memory_bytes \d+/m);
  assert.match(text, /^classcord_logins_total\{result="ok"\} 0$/m);
});

Deno.test("httpHandler() /healthz is always ok, /readyz follows readiness", async () => {
  assert.equal((await get(handler(() => Promise.resolve(false)), "/healthz")).status, 200);
  assert.equal((await get(handler(() => Promise.resolve(true)), "/readyz")).status, 200);
  assert.equal((await get(handler(() => Promise.resolve(false)), "/readyz")).status, 503);
  assert.equal((await get(handler(() => Promise.reject(new Error("kv"))), "/readyz")).status, 503);
});

Deno.test("httpHandler() answers 404 elsewhere and 405 to other methods", async () => {
  const h = handler(() => Promise.resolve(true));
  assert.equal((await get(h, "/")).status, 404);
  assert.equal((await get(h, "/metrics", "POST")).status, 405);
});
