import assert from "node:assert/strict";
import { FakeClock } from "../../tests/helpers/fake_clock.ts";
import { KeyedWindows, LoginThrottle, TokenBucket, WindowCounter } from "./limits.ts";

Deno.test("TokenBucket allows the burst, then the rate, and says when to retry", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(clock, { burst: 20, perSecond: 5 });
  for (let i = 0; i < 20; i++) assert.ok(bucket.take(), `burst ${i}`);
  assert.equal(bucket.take(), false);
  assert.equal(bucket.retryAfterMs(), 200);
  clock.advance(200);
  assert.ok(bucket.take());
  assert.equal(bucket.take(), false);
  clock.advance(60_000);
  for (let i = 0; i < 20; i++) assert.ok(bucket.take(), "refills up to the burst only");
  assert.equal(bucket.take(), false);
});

Deno.test("TokenBucket lets a users poll every 3 s through a session at the message limit", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(clock, { burst: 20, perSecond: 5 });
  // A client sending exactly 5 messages per second, plus one poll every 3 seconds, would be
  // refused its polls if they were counted: they are not (see Dispatcher), and the bucket agrees
  // that 5/s alone is sustainable forever.
  for (let s = 0; s < 600; s++) {
    for (let i = 0; i < 5; i++) assert.ok(bucket.take(), `second ${s}`);
    clock.advance(1000);
  }
});

Deno.test("WindowCounter says when a window holds more than its max", () => {
  const clock = new FakeClock();
  const w = new WindowCounter(clock, { max: 3, windowMs: 60_000 });
  assert.equal(w.add(), false);
  clock.advance(30_000);
  assert.equal(w.add(), false);
  assert.equal(w.add(), false);
  assert.equal(w.add(), true);
  clock.advance(30_001); // the first one leaves the window
  assert.equal(w.count(), 3);
  assert.equal(w.retryAfterMs(), 29_999);
});

Deno.test("KeyedWindows blocks a key at its max and forgets idle keys", () => {
  const clock = new FakeClock();
  const k = new KeyedWindows(clock, { max: 2, windowMs: 1000 });
  k.add("a");
  k.add("a");
  assert.ok(k.blocked("a") > 0);
  assert.equal(k.blocked("b"), 0);
  clock.advance(1000);
  assert.equal(k.blocked("a"), 0);
});

const options = {
  free: 5,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  perAccount: 20,
  perAddress: 30,
  windowMs: 600_000,
};

Deno.test("LoginThrottle: 5 free failures, then a delay doubling from 1 s to 60 s", () => {
  const clock = new FakeClock();
  const t = new LoginThrottle(clock, options);
  for (let i = 0; i < 5; i++) {
    assert.equal(t.check("bob", "10.0.0.1"), 0);
    t.failed("bob", "10.0.0.1");
  }
  const delays = [];
  for (let i = 0; i < 8; i++) {
    t.failed("bob", "10.0.0.1");
    delays.push(t.check("bob", "10.0.0.1"));
    clock.advance(delays.at(-1)!);
  }
  assert.deepEqual(delays.slice(0, 8), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  assert.equal(t.check("bob", "10.0.0.2"), 0, "another address is not delayed");
  t.succeeded("bob", "10.0.0.1");
});

Deno.test("LoginThrottle caps failures per account and per address over 10 minutes", () => {
  const clock = new FakeClock();
  const t = new LoginThrottle(clock, options);
  for (let i = 0; i < 20; i++) t.failed("bob", `10.0.0.${i}`);
  assert.ok(t.check("bob", "10.9.9.9") > 0, "20 per account");
  for (let i = 0; i < 30; i++) t.failed(`user${i}`, "10.1.1.1");
  assert.ok(t.check("someone", "10.1.1.1") > 0, "30 per address");
  clock.advance(600_000);
  assert.equal(t.check("bob", "10.9.9.9"), 0);
  assert.equal(t.check("someone", "10.1.1.1"), 0);
});
