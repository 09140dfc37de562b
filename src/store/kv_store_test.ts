import assert from "node:assert/strict";
import { KvStore } from "./kv_store.ts";
import type { StoredMessage } from "./store.ts";

function msg(seq: number, opts: Partial<StoredMessage> & { from?: string; content?: string } = {}) {
  const ts = opts.ts ?? 1_700_000_000_000 + seq * 1000;
  const m: StoredMessage = {
    seq,
    ts,
    channel: opts.channel === undefined ? "#général" : opts.channel,
    line: {
      type: "message",
      from: opts.from ?? "alice",
      content: opts.content ?? `m${seq}`,
      timestamp: `t${seq}`,
      seq,
    },
  };
  if (opts.to) m.to = opts.to;
  return m;
}

async function withStore(run: (s: KvStore) => Promise<void>) {
  const store = await KvStore.open(":memory:");
  try {
    await run(store);
  } finally {
    store.close();
  }
}

Deno.test("KvStore history pages backwards with before, oldest first, and says when more", () =>
  withStore(async (s) => {
    await s.append(Array.from({ length: 7 }, (_, i) => ({ message: msg(i + 1) })));
    const last = await s.history({ channel: "#général" }, { limit: 3 });
    assert.deepEqual(last.messages.map((m) => m.seq), [5, 6, 7]);
    assert.equal(last.more, true);
    const before = await s.history({ channel: "#GÉNÉRAL" }, { limit: 3, before: 5 });
    assert.deepEqual(before.messages.map((m) => m.seq), [2, 3, 4]);
    const first = await s.history({ channel: "#général" }, { limit: 3, before: 2 });
    assert.deepEqual(first.messages.map((m) => m.seq), [1]);
    assert.equal(first.more, false);
    assert.equal(await s.lastSeq(), 7);
  }));

Deno.test("KvStore orders history by time, so imported old messages sort first", () =>
  withStore(async (s) => {
    await s.append([{ message: msg(1, { ts: 2000 }) }, { message: msg(2, { ts: 1000 }) }]);
    const page = await s.history({ channel: "#général" }, { limit: 10 });
    assert.deepEqual(page.messages.map((m) => m.seq), [2, 1]);
  }));

Deno.test("KvStore keeps private conversations apart and finds them from either side", () =>
  withStore(async (s) => {
    await s.append([
      { message: msg(1, { channel: null, from: "Alice", to: "bob" }) },
      { message: msg(2, { channel: null, from: "bob", to: "alice" }) },
      { message: msg(3, { channel: null, from: "carol", to: "alice" }) },
    ]);
    const ab = await s.history({ between: ["bob", "alice"] }, { limit: 10 });
    assert.deepEqual(ab.messages.map((m) => m.seq), [1, 2]);
    const general = await s.history({ channel: "#général" }, { limit: 10 });
    assert.deepEqual(general.messages, []);
  }));

Deno.test("KvStore stores a message too big for one KV value in parts, whole", () =>
  withStore(async (s) => {
    const content = "é😀".repeat(30_000); // ~210 KB of UTF-8
    await s.append([{ message: msg(1, { content }) }]);
    const [back] = (await s.history({ channel: "#général" }, { limit: 1 })).messages;
    assert.equal(back.line.content, content);
    assert.equal(await s.pruneBefore(Number.MAX_SAFE_INTEGER), 1);
    const left = [];
    for await (const e of s.kv.list({ prefix: [] })) left.push(e.key);
    assert.deepEqual(left, [["channel", "#général"], ["seq"]], "parts and indexes are gone");
  }));

Deno.test("KvStore splits a large batch over several commits and keeps all of it", () =>
  withStore(async (s) => {
    const batch = Array.from({ length: 1200 }, (_, i) => ({ message: msg(i + 1) }));
    assert.equal(await s.append(batch), 1200);
    const page = await s.history({ channel: "#général" }, { limit: 200 });
    assert.equal(page.messages.at(-1)!.seq, 1200);
    let n = 0;
    for await (const _ of s.exportMessages({})) n++;
    assert.equal(n, 1200);
  }));

Deno.test("KvStore inbox lists offline messages in order until cleared", () =>
  withStore(async (s) => {
    await s.append([
      { message: msg(1, { channel: null, to: "bob" }), inbox: "bob" },
      { message: msg(2, { channel: null, to: "bob" }), inbox: "bob" },
    ]);
    assert.deepEqual((await s.inbox("bob")).map((m) => m.seq), [1, 2]);
    await s.clearInbox("bob", [1, 2]);
    assert.deepEqual(await s.inbox("bob"), []);
    assert.equal((await s.history({ between: ["alice", "bob"] }, { limit: 5 })).messages.length, 2);
  }));

Deno.test("KvStore pruneBefore removes old messages with their indexes, keeps the rest", () =>
  withStore(async (s) => {
    await s.append([
      { message: msg(1, { ts: 100 }) },
      { message: msg(2, { ts: 200, channel: null, to: "bob" }), inbox: "bob" },
      { message: msg(3, { ts: 300 }) },
    ]);
    assert.equal(await s.pruneBefore(250), 2);
    assert.deepEqual(
      (await s.history({ channel: "#général" }, { limit: 5 })).messages.map((m) => m.seq),
      [3],
    );
    assert.deepEqual(await s.inbox("bob"), []);
    assert.deepEqual((await s.history({ between: ["alice", "bob"] }, { limit: 5 })).messages, []);
  }));

Deno.test("KvStore skips imports it already has", () =>
  withStore(async (s) => {
    assert.equal(await s.append([{ message: msg(1), importKey: "k1" }]), 1);
    assert.equal(
      await s.append([{ message: msg(2), importKey: "k1" }, { message: msg(3), importKey: "k2" }]),
      1,
    );
    assert.deepEqual(
      (await s.history({ channel: "#général" }, { limit: 5 })).messages.map((m) => m.seq),
      [1, 3],
    );
  }));

Deno.test("KvStore channels() counts messages per channel, named as first stored", () =>
  withStore(async (s) => {
    await s.append([{ message: msg(1) }, { message: msg(2, { channel: "#Sisr" }) }]);
    await s.append([{ message: msg(3, { channel: "#SISR" }) }]);
    assert.deepEqual(await s.channels(), [
      { name: "#général", count: 1 },
      { name: "#Sisr", count: 2 },
    ]);
  }));

Deno.test("KvStore appends more imports in one call than KV allows checks in one commit", () =>
  withStore(async (s) => {
    const batch = Array.from(
      { length: 250 },
      (_, i) => ({ message: msg(i + 1), importKey: `k${i}` }),
    );
    assert.equal(await s.append(batch), 250);
    assert.equal((await s.knownImports(["k0", "k249", "nope"])).size, 2);
    assert.equal(await s.append(batch), 0);
  }));

Deno.test("KvStore history since leaves out what is older", () =>
  withStore(async (s) => {
    await s.append([1, 2, 3].map((seq) => ({ message: msg(seq, { ts: seq * 100 }) })));
    const page = await s.history({ channel: "#général" }, { limit: 10, since: 200 });
    assert.deepEqual(page.messages.map((m) => m.seq), [2, 3]);
    assert.equal(page.more, false);
  }));

Deno.test("KvStore exports one spelling per channel, and nothing for an empty time range", () =>
  withStore(async (s) => {
    await s.append([{ message: msg(1, { channel: "#Sisr" }) }, {
      message: msg(2, { channel: "#SISR" }),
    }]);
    const names = [];
    for await (const m of s.exportMessages({})) names.push(m.channel);
    assert.deepEqual(names, ["#Sisr", "#Sisr"]);
    const none = [];
    for await (const m of s.exportMessages({ since: 5000, until: 1000 })) none.push(m);
    assert.deepEqual(none, []);
  }));
