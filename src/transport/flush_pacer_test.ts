import assert from "node:assert/strict";
import { FlushPacer } from "./flush_pacer.ts";

const options = { share: 0.3, maxDelayMs: 25, windowMs: 100 };

/** Flushes of `cost` ms every `every` ms for a second, then the delay asked at the next due time. */
function steady(pacer: FlushPacer, cost: number, every: number): number {
  let t = 1000;
  for (; t < 2000; t += every) pacer.flushed(t, t + cost);
  return pacer.delay(t);
}

Deno.test("FlushPacer: no delay at a classroom's pace, whatever a flush costs", () => {
  // 25 messages a second to 1,000 clients: a flush of 7 ms every 40 ms, 18 % of the time.
  assert.equal(steady(new FlushPacer(options), 7, 40), 0);
});

Deno.test("FlushPacer: under load the next flush waits until flushes are back to their share", () => {
  // 100 messages a second: 7 ms of writes every 10 ms.
  const pacer = new FlushPacer(options);
  const delay = steady(pacer, 7, 10);
  assert.ok(pacer.share > 0.5, `share ${pacer.share}`);
  // The last flush began at 1990 and cost 7 ms: the next begins 7 / 0.3 = 23.3 ms after it.
  assert.ok(Math.abs(delay - (1990 + 7 / 0.3 - 2000)) < 1e-9, `delay ${delay}`);
});

Deno.test("FlushPacer: the delay never passes its budget, and an idle spell forgets the load", () => {
  const pacer = new FlushPacer(options);
  assert.equal(steady(pacer, 40, 41), 25);
  // 100 ms without a flush: the next one goes at once.
  assert.equal(pacer.delay(2000 + 100), 0);
});
