import assert from "node:assert/strict";
import { FlushPacer } from "./flush_pacer.ts";

const options = { share: 0.5, maxDelayMs: 25, windowMs: 200, linesPerWrite: 4 };

/**
 * Flushes every `every` ms for a second, each cycle costing `cost` ms of CPU; then the delay asked
 * at the next due time.
 */
function steady(pacer: FlushPacer, cost: number, every: number): number {
  let t = 1000;
  let cpu = 0;
  for (; t < 2000; t += every) pacer.flushing(t, cpu += cost), pacer.wrote(1000, 1000);
  return pacer.delay(t);
}

Deno.test("FlushPacer: no delay at a classroom's pace, whatever a cycle costs", () => {
  // 25 messages a second to 1,000 clients: 13 ms of CPU every 40 ms, a third of a core.
  assert.equal(steady(new FlushPacer(options), 13, 40), 0);
});

Deno.test("FlushPacer: under load the next flush waits until the CPU is back to its share", () => {
  // 100 messages a second: 9.7 ms of CPU every 10 ms.
  const pacer = new FlushPacer(options);
  const delay = steady(pacer, 9.7, 10);
  assert.ok(pacer.share > 0.9, `share ${pacer.share}`);
  // The last flush began at 1990 after a cycle of 9.7 ms: the next begins 9.7 / 0.5 ms after it.
  assert.ok(Math.abs(delay - (1990 + 9.7 / 0.5 - 2000)) < 1e-9, `delay ${delay}`);
});

Deno.test("FlushPacer: the delay never passes its budget, and an idle spell forgets the load", () => {
  const pacer = new FlushPacer(options);
  assert.equal(steady(pacer, 40, 40), 25);
  // 200 ms without a flush: the next one goes at once.
  assert.equal(pacer.delay(2000 + 200), 0);
});

Deno.test("FlushPacer: no delay once the writes carry several lines each by themselves", () => {
  const pacer = new FlushPacer(options);
  let t = 1000;
  let cpu = 0;
  // 1,600 messages a second: each flush finds 5 lines per connection without waiting.
  for (; t < 2000; t += 10) pacer.flushing(t, cpu += 9.7), pacer.wrote(5000, 1000);
  assert.equal(pacer.delay(t), 0);
});
