import assert from "node:assert/strict";
import { argon2Verify } from "hash-wasm";
import { type IdleTimers, WorkerHasher } from "./password.ts";

const CHEAP = { memoryKiB: 64, iterations: 1 };

// Answers of the reference implementation (Debian's argon2 0~20171227, libargon2):
// `echo -n password | argon2 somesalt_16bytes -id -t 2 -k 19456 -p 1 -l 32 -e`, then -k 64.
const REFERENCE_DEFAULT_COST =
  "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRfMTZieXRlcw$xBv+MNDwvzgeqsXLs4YT3KbuTjg52RLN0HPaTWwPl2k";
const REFERENCE_64_KIB =
  "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHRfMTZieXRlcw$38AOcL7o4pyVXf4gyYSs0peofFPEwKidHRItBl3cz+g";

/** Timers that only fire when told: the idle stop without waiting for it. */
class FakeTimers implements IdleTimers {
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  #next = 1;
  setTimeout(fn: () => void, ms: number): number {
    this.pending.set(this.#next, { fn, ms });
    return this.#next++;
  }
  clearTimeout(id: unknown): void {
    this.pending.delete(id as number);
  }
  /** Fires every pending timer, as if their time had come. */
  fireAll(): void {
    for (const [id, { fn }] of [...this.pending]) {
      this.pending.delete(id);
      fn();
    }
  }
}

Deno.test("WorkerHasher hashes with argon2id and verifies only the right password", async () => {
  const hasher = new WorkerHasher({ params: CHEAP });
  try {
    const hash = await hasher.hash("mot de passe");
    assert.match(hash, /^\$argon2id\$v=19\$m=64,t=1,p=1\$/);
    assert.equal(await hasher.verify(hash, "mot de passe"), true);
    assert.equal(await hasher.verify(hash, "mot de pass"), false);
    assert.notEqual(await hasher.hash("mot de passe"), hash, "a fresh salt each time");
  } finally {
    hasher.close();
  }
});

// The worker reuses one WebAssembly memory from job to job: every answer after the first comes
// from memory an earlier job used.
Deno.test("WorkerHasher answers as the reference implementation, job after job in one worker", async () => {
  const hasher = new WorkerHasher({ workers: 1, timers: new FakeTimers() });
  try {
    assert.equal(await hasher.verify(REFERENCE_DEFAULT_COST, "password"), true);
    assert.equal(await hasher.verify(REFERENCE_DEFAULT_COST, "passwore"), false);
    assert.equal(await hasher.verify(REFERENCE_DEFAULT_COST, "password"), true);
    assert.equal(await hasher.verify(REFERENCE_64_KIB, "password"), true, "in a larger memory");
    for (const password of ["a", "mot de passe"]) {
      const hash = await hasher.hash(password);
      assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      // Checked here, by hash-wasm in a fresh memory of this thread.
      assert.equal(await argon2Verify({ password, hash }), true);
    }
    assert.equal(hasher.workersRunning, 1);
  } finally {
    hasher.close();
  }
});

Deno.test("WorkerHasher refuses a pool without workers or a negative idle time", () => {
  assert.throws(() => new WorkerHasher({ workers: 0 }), RangeError);
  assert.throws(() => new WorkerHasher({ idleMs: -1 }), RangeError);
});

Deno.test("WorkerHasher refuses jobs instead of hanging when its workers cannot start", async () => {
  const hasher = new WorkerHasher({
    params: CHEAP,
    workerUrl: new URL("./no_such_worker.ts", import.meta.url),
  });
  try {
    await assert.rejects(hasher.hash("a"));
    await assert.rejects(hasher.hash("b"), /unavailable|worker/i);
  } finally {
    hasher.close();
  }
});

Deno.test("WorkerHasher starts no worker before the first job", () => {
  const hasher = new WorkerHasher({ params: CHEAP, timers: new FakeTimers() });
  try {
    assert.equal(hasher.workersRunning, 0);
  } finally {
    hasher.close();
  }
});

Deno.test("WorkerHasher stops a worker after idleMs without a job and starts one for the next", async () => {
  const timers = new FakeTimers();
  const hasher = new WorkerHasher({ params: CHEAP, idleMs: 5000, timers });
  try {
    const hash = await hasher.hash("mot de passe");
    assert.equal(hasher.workersRunning, 1);
    assert.deepEqual([...timers.pending.values()].map((t) => t.ms), [5000]);
    timers.fireAll();
    assert.equal(hasher.workersRunning, 0);
    assert.equal(await hasher.verify(hash, "mot de passe"), true);
    assert.equal(hasher.workersRunning, 1);
  } finally {
    hasher.close();
  }
});

Deno.test("WorkerHasher runs an idle timer only while a worker waits for a job", async () => {
  const timers = new FakeTimers();
  const hasher = new WorkerHasher({ params: CHEAP, workers: 1, timers });
  try {
    const jobs = [hasher.hash("a"), hasher.hash("b"), hasher.hash("c")];
    assert.equal(timers.pending.size, 0);
    await Promise.all(jobs);
    assert.equal(timers.pending.size, 1);
    await hasher.hash("d");
    assert.equal(timers.pending.size, 1, "the earlier timer was cleared when the job came");
  } finally {
    hasher.close();
  }
});

Deno.test("WorkerHasher starts at most `workers` workers and answers jobs in order", async () => {
  const timers = new FakeTimers();
  const two = new WorkerHasher({ params: CHEAP, workers: 2, timers });
  const one = new WorkerHasher({ params: CHEAP, workers: 1, timers });
  try {
    const jobs = Array.from({ length: 6 }, (_, i) => two.hash(`p${i}`));
    assert.equal(two.workersRunning, 2);
    const hashes = await Promise.all(jobs);
    assert.equal(new Set(hashes).size, 6);
    assert.equal(two.workersRunning, 2);
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 4 }, (_, i) => one.hash(`p${i}`).then(() => order.push(i))),
    );
    assert.deepEqual(order, [0, 1, 2, 3]);
    assert.equal(one.workersRunning, 1);
  } finally {
    two.close();
    one.close();
  }
});

Deno.test("WorkerHasher close() while idle stops the worker and its timer", async () => {
  const timers = new FakeTimers();
  const hasher = new WorkerHasher({ params: CHEAP, timers });
  await hasher.hash("a");
  assert.equal(timers.pending.size, 1);
  hasher.close();
  assert.equal(timers.pending.size, 0);
  assert.equal(hasher.workersRunning, 0);
  await assert.rejects(hasher.hash("b"), /unavailable/);
});

// With the real timers: the op sanitizer fails this test if the idle timer outlives close().
Deno.test("WorkerHasher close() while idle leaves no system timer behind", async () => {
  const hasher = new WorkerHasher({ params: CHEAP });
  await hasher.hash("a");
  hasher.close();
  assert.equal(hasher.workersRunning, 0);
});

Deno.test("WorkerHasher close() rejects running and waiting jobs", async () => {
  const hasher = new WorkerHasher({ params: CHEAP, workers: 1, timers: new FakeTimers() });
  const jobs = [hasher.hash("a"), hasher.hash("b"), hasher.verify("$argon2id$x", "c")];
  hasher.close();
  for (const job of jobs) await assert.rejects(job, /closed/);
  assert.equal(hasher.workersRunning, 0);
});

Deno.test("WorkerHasher rejects the job of a worker that crashes and starts another", async () => {
  // The real worker, except that the password "crash" kills it once it has loaded.
  const source = `import ${JSON.stringify(new URL("./password_worker.ts", import.meta.url).href)};
    const { promise: loaded, resolve } = Promise.withResolvers();
    const post = self.postMessage.bind(self);
    self.postMessage = (msg) => {
      if (msg.ready) resolve();
      post(msg);
    };
    const real = self.onmessage;
    self.onmessage = async (e) => {
      if (e.data.password !== "crash") return real(e);
      await loaded;
      throw new Error("Crash on request");
    };`;
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const hasher = new WorkerHasher({
    params: CHEAP,
    workers: 1,
    workerUrl: new URL(url),
    timers: new FakeTimers(),
  });
  try {
    const crash = hasher.hash("crash");
    const queued = hasher.hash("queued");
    await assert.rejects(crash, /Password worker failed: .*Crash on request/);
    assert.match(await queued, /^\$argon2id\$/);
    assert.match(await hasher.hash("after"), /^\$argon2id\$/);
    assert.equal(hasher.workersRunning, 1);
  } finally {
    hasher.close();
    URL.revokeObjectURL(url);
  }
});

Deno.test("WorkerHasher refuses the jobs waiting for a worker that cannot load, then tries again", async () => {
  const hasher = new WorkerHasher({
    params: CHEAP,
    workers: 1,
    workerUrl: new URL("./no_such_worker.ts", import.meta.url),
    timers: new FakeTimers(),
  });
  try {
    const jobs = [hasher.hash("a"), hasher.hash("b"), hasher.verify("$argon2id$x", "c")];
    for (const job of jobs) await assert.rejects(job, /Password worker failed/);
    assert.equal(hasher.workersRunning, 0);
    await assert.rejects(hasher.hash("d"), /Password worker failed/);
    assert.equal(hasher.workersRunning, 0);
  } finally {
    hasher.close();
  }
});
