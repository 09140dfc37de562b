import assert from "node:assert/strict";
import { KvStore } from "./kv_store.ts";
import { type CommitTarget, GroupCommit } from "./group_commit.ts";
import type { Append } from "./store.ts";

/** A store whose commits wait for the test, recording each batch's seqs. */
function gatedStore(inner: CommitTarget) {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  let failures = 0;
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === "append") {
        return async (batch: Append[]) => {
          batches.push(batch.map((a) => a.message.seq));
          await new Promise<void>((r) => gates.push(r));
          if (failures > 0) {
            failures--;
            throw new Error("disk full");
          }
          return await target.append(batch);
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return {
    store,
    batches,
    failNext: (n: number) => failures = n,
    /** Lets the pending commit finish. */
    async open() {
      while (gates.length === 0) await new Promise((r) => setTimeout(r, 0));
      gates.shift()!();
    },
  };
}

function message(seq: number): Append {
  return {
    message: {
      seq,
      ts: seq,
      channel: "#général",
      line: { type: "message", from: "a", content: "c", timestamp: "t", seq },
    },
  };
}

Deno.test("GroupCommit commits what arrives during a commit as one batch, then calls back", async () => {
  const kv = await KvStore.open(":memory:");
  try {
    const g = gatedStore(kv);
    const log = await GroupCommit.open(g.store);
    const done: number[] = [];
    for (let i = 0; i < 5; i++) {
      const seq = log.nextSeq();
      log.append(message(seq), () => done.push(seq));
    }
    assert.deepEqual(done, [], "nothing is called back before its commit");
    await g.open(); // the first message started a commit at once, alone
    await g.open(); // the four that arrived meanwhile share the next one
    await log.flushed();
    assert.deepEqual(g.batches, [[1], [2, 3, 4, 5]]);
    assert.deepEqual(done, [1, 2, 3, 4, 5]);
    for (let i = 0; i < 3; i++) log.append(message(log.nextSeq()));
    const flushed = log.flushed();
    await g.open();
    await g.open();
    await flushed;
    assert.deepEqual(g.batches, [[1], [2, 3, 4, 5], [6], [7, 8]]);
    assert.equal(await kv.lastSeq(), 8);
  } finally {
    kv.close();
  }
});

Deno.test("GroupCommit callbacks run only after the commit, and report a lost batch", async () => {
  const kv = await KvStore.open(":memory:");
  try {
    const g = gatedStore(kv);
    const log = await GroupCommit.open(g.store, { attempts: 2 });
    const results: (string | undefined)[] = [];
    g.failNext(2);
    log.append(message(log.nextSeq()), (err) => results.push(err?.message));
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(results, [], "nothing is acknowledged before the commit");
    await g.open();
    await g.open();
    await log.flushed();
    assert.deepEqual(results, ["disk full"]);
  } finally {
    kv.close();
  }
});

Deno.test("GroupCommit continues the seq after the last stored one", async () => {
  const kv = await KvStore.open(":memory:");
  try {
    await kv.append([message(41)]);
    const log = await GroupCommit.open(kv);
    assert.equal(log.nextSeq(), 42);
  } finally {
    kv.close();
  }
});
