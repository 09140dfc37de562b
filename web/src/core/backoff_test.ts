import assert from "node:assert/strict";
import { Backoff } from "./backoff.ts";

Deno.test("Backoff ceilings double from 0.5 s up to 30 s", () => {
  const b = new Backoff({ random: () => 0.999999 });
  const delays = Array.from({ length: 10 }, () => b.next());
  assert.deepEqual(
    delays.map((d) => Math.ceil(d / 100) * 100),
    [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000],
  );
});

Deno.test("Backoff delays are full jitter: between 0 and the ceiling", () => {
  for (const r of [0, 0.25, 0.5, 0.999]) {
    const b = new Backoff({ random: () => r });
    for (let i = 0; i < 12; i++) {
      const ceiling = b.ceiling;
      const d = b.next();
      assert.ok(d >= 0 && d < Math.max(1, ceiling), `${d} within [0, ${ceiling})`);
    }
  }
  assert.equal(new Backoff({ random: () => 0 }).next(), 0);
});

Deno.test("Backoff reset() starts again from the first ceiling", () => {
  const b = new Backoff({ random: () => 0.5 });
  b.next();
  b.next();
  b.next();
  assert.equal(b.attempts, 3);
  b.reset();
  assert.equal(b.attempts, 0);
  assert.equal(b.next(), 250);
});

Deno.test("Backoff never overflows however long the outage", () => {
  const b = new Backoff({ random: () => 0.5 });
  for (let i = 0; i < 2000; i++) b.next();
  assert.equal(b.next(), 15000);
});
