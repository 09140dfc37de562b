// The MessageLog contract (tests/helpers/message_log_contract.ts) on a single server's log, over a
// Deno KV store in memory; then what is its own: one commit for what arrives during a commit.
import assert from "node:assert/strict";
import { messageLogContract } from "../../tests/helpers/message_log_contract.ts";
import { DEFAULT } from "../protocol/channel.ts";
import { KvStore } from "../store/kv_store.ts";
import type { Append } from "../store/store.ts";
import { type CommitTarget, LocalLog } from "./local_log.ts";
import type { Draft, LogReader } from "./message_log.ts";

Deno.test("LocalLog keeps the MessageLog contract", async (t) => {
  await messageLogContract(t, async () => {
    const store = await KvStore.open(":memory:");
    let broken = false;
    // The store's own append, failing once the case breaks it (a full disk, say).
    const append = store.append.bind(store);
    store.append = (batch: Append[]) =>
      broken ? Promise.reject(new Error("Cannot write: disk full")) : append(batch);
    const log = await LocalLog.open(store, { attempts: 1 });
    return {
      log,
      async read(channel, seq) {
        const page = await store.history({ channel }, { limit: 1, after: seq - 1 });
        return page.messages.find((m) => m.seq === seq);
      },
      breakStorage() {
        broken = true;
        return Promise.resolve();
      },
      close() {
        store.close();
        return Promise.resolve();
      },
    };
  });
});

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

/** A hub stand-in: stores each message as a line of the default channel; fans out to nobody. */
const reader: LogReader = {
  numbered: (seq: number, draft: Draft): Append => ({
    message: {
      seq,
      ts: draft.ts,
      channel: DEFAULT.name,
      line: { type: "message", from: draft.from, content: "c", timestamp: "t", seq },
    },
  }),
  fanOut: () => 0,
};

const draft: Draft = { fields: { content: "c" }, from: "a", ts: 1, to: { channel: DEFAULT } };

Deno.test("LocalLog commits what arrives during a commit as one batch, then says durable", async () => {
  const kv = await KvStore.open(":memory:");
  try {
    const g = gatedStore(kv);
    const log = await LocalLog.open(g.store);
    log.attach(reader);
    const durable: number[] = [];
    for (let i = 0; i < 5; i++) log.append(draft, {}, (seq) => durable.push(seq));
    assert.deepEqual(durable, [], "nothing is durable before its commit");
    await g.open(); // the first message started a commit at once, alone
    await g.open(); // the four that arrived meanwhile share the next one
    await log.flushed();
    assert.deepEqual(g.batches, [[1], [2, 3, 4, 5]]);
    assert.deepEqual(durable, [1, 2, 3, 4, 5]);
    for (let i = 0; i < 3; i++) log.append(draft, {});
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

Deno.test("LocalLog says durable only after the commit, and reports a lost batch", async () => {
  const kv = await KvStore.open(":memory:");
  try {
    const g = gatedStore(kv);
    const log = await LocalLog.open(g.store, { attempts: 2 });
    log.attach(reader);
    const results: (string | undefined)[] = [];
    g.failNext(2);
    log.append(draft, {}, (_seq, err) => results.push(err?.message));
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

Deno.test("LocalLog continues the seq after the last stored one", async () => {
  const kv = await KvStore.open(":memory:");
  try {
    await kv.append([reader.numbered(41, draft)]);
    const log = await LocalLog.open(kv);
    log.attach(reader);
    const seqs: number[] = [];
    log.append(draft, {}, (seq) => seqs.push(seq));
    await log.flushed();
    assert.deepEqual(seqs, [42]);
  } finally {
    kv.close();
  }
});
