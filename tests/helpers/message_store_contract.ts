// The contract of the messages part of a store (MessageStore, src/store/store.ts): history,
// conversations and read marks, inboxes, retention, exports and channels; and of MessageAppender
// where the implementation has one. Run by every implementation (see
// tests/helpers/store_contract.ts for how, and where).
import assert from "node:assert/strict";
import type { Append, MessageAppender, MessageStore } from "../../src/store/store.ts";
import { message, type SkipList, StoreContract } from "./store_contract.ts";
import type { FakeClock } from "./fake_clock.ts";

/** An empty store of the implementation under test, and how messages reach it there. */
export interface OpenedMessageStore {
  store: MessageStore;
  /**
   * Stores messages the way this implementation receives them: `append` on a single server; on
   * a cluster node, the writes of the feed that reads the stream into the node's read model.
   */
  put(batch: Append[]): Promise<void>;
  /** The implementation's appender, if it has one (a single server's store). */
  appender?: MessageAppender;
  close(): Promise<void>;
}

const CONTRACT = new StoreContract<OpenedMessageStore>();

/**
 * Runs every case of the MessageStore contract as a step of `t`, each on a store `open` gives
 * (whose clock is the one given), but those `skip` names, with the reason.
 */
export function messageStoreContract(
  t: Deno.TestContext,
  open: (clock: FakeClock) => Promise<OpenedMessageStore>,
  skip: SkipList = {},
): Promise<void> {
  return CONTRACT.run(t, open, skip);
}

CONTRACT.test(
  "conversations: each partner once, the newest first, with unread counts from read marks",
  async ({ store: s, put }) => {
    const pm = (seq: number, from: string, to: string) => ({
      message: message(seq, { channel: null, from, to, content: `${from}>${to} ${seq}` }),
    });
    await put([pm(1, "bob", "Alice"), pm(2, "alice", "Bob"), pm(3, "Carol", "alice")]);
    await put([pm(4, "bob", "alice"), pm(5, "bob", "alice"), { message: message(6) }]);
    const list = await s.conversations("ALICE", { limit: 10 });
    assert.deepEqual(
      list.map((c) => [c.partner, c.last.seq, c.unread]),
      [["bob", 5, 3], ["Carol", 3, 1]],
    );
    await s.markRead("alice", "BOB", 4);
    await s.markRead("alice", "bob", 2); // never backwards
    assert.deepEqual(
      (await s.conversations("alice", { limit: 10 })).map((c) => [c.partner, c.unread]),
      [["bob", 1], ["Carol", 1]],
    );
    assert.deepEqual(
      (await s.conversations("bob", { limit: 10 })).map((c) => [c.partner, c.unread]),
      [["alice", 1]],
      "bob's side: one message from alice",
    );
    assert.deepEqual(
      (await s.conversations("alice", { limit: 10, after: 3 })).map((c) => c.partner),
      ["bob"],
    );
    assert.deepEqual((await s.conversations("alice", { limit: 1 })).map((c) => c.partner), ["bob"]);
    const since = message(4).ts;
    assert.deepEqual(
      (await s.conversations("alice", { limit: 10, since })).map((c) => c.partner),
      ["bob"],
      "a conversation older than the account is not its",
    );
    assert.equal((await s.conversations("carol", { limit: 10 })).length, 1);
  },
);

CONTRACT.test(
  "history pages backwards with before, oldest first, and says when more",
  async ({ store: s, put }) => {
    await put(Array.from({ length: 7 }, (_, i) => ({ message: message(i + 1) })));
    const last = await s.history({ channel: "#général" }, { limit: 3 });
    assert.deepEqual(last.messages.map((m) => m.seq), [5, 6, 7]);
    assert.equal(last.more, true);
    const before = await s.history({ channel: "#GÉNÉRAL" }, { limit: 3, before: 5 });
    assert.deepEqual(before.messages.map((m) => m.seq), [2, 3, 4]);
    const first = await s.history({ channel: "#général" }, { limit: 3, before: 2 });
    assert.deepEqual(first.messages.map((m) => m.seq), [1]);
    assert.equal(first.more, false);
    assert.equal(await s.lastSeq(), 7);
  },
);

CONTRACT.test("history is in time order, so imported old messages sort first", async ({ store: s, put }) => {
  await put([{ message: message(1, { ts: 2000 }) }, { message: message(2, { ts: 1000 }) }]);
  const page = await s.history({ channel: "#général" }, { limit: 10 });
  assert.deepEqual(page.messages.map((m) => m.seq), [2, 1]);
});

CONTRACT.test(
  "history after pages forward from a seq, oldest first, and says when newer ones remain",
  async ({ store: s, put }) => {
    await put(Array.from({ length: 7 }, (_, i) => ({ message: message(i + 1) })));
    const first = await s.history({ channel: "#général" }, { limit: 3, after: 2 });
    assert.deepEqual(first.messages.map((m) => m.seq), [3, 4, 5]);
    assert.equal(first.more, true);
    const rest = await s.history({ channel: "#GÉNÉRAL" }, { limit: 3, after: 5 });
    assert.deepEqual(rest.messages.map((m) => m.seq), [6, 7]);
    assert.equal(rest.more, false);
    assert.deepEqual(
      (await s.history({ channel: "#général" }, { limit: 3, after: 7 })).messages,
      [],
    );
    // An unknown seq (pruned, or never stored): from the beginning.
    const unknown = await s.history({ channel: "#général" }, { limit: 2, after: 999 });
    assert.deepEqual(unknown.messages.map((m) => m.seq), [1, 2]);
  },
);

CONTRACT.test("history since leaves out what is older", async ({ store: s, put }) => {
  await put([1, 2, 3].map((seq) => ({ message: message(seq, { ts: seq * 100 }) })));
  const page = await s.history({ channel: "#général" }, { limit: 10, since: 200 });
  assert.deepEqual(page.messages.map((m) => m.seq), [2, 3]);
  assert.equal(page.more, false);
});

CONTRACT.test(
  "private conversations stay apart and are found from either side, in any case",
  async ({ store: s, put }) => {
    await put([
      { message: message(1, { channel: null, from: "Alice", to: "bob" }) },
      { message: message(2, { channel: null, from: "bob", to: "alice" }) },
      { message: message(3, { channel: null, from: "carol", to: "alice" }) },
    ]);
    const ab = await s.history({ between: ["BOB", "alice"] }, { limit: 10 });
    assert.deepEqual(ab.messages.map((m) => m.seq), [1, 2]);
    const general = await s.history({ channel: "#général" }, { limit: 10 });
    assert.deepEqual(general.messages, []);
  },
);

CONTRACT.test("a message too big for one value is stored whole", async ({ store: s, put }) => {
  const content = "é😀".repeat(30_000); // ~210 KB of UTF-8
  await put([{ message: message(1, { content }) }]);
  const [back] = (await s.history({ channel: "#général" }, { limit: 1 })).messages;
  assert.equal(back.line.content, content);
  assert.equal(await s.pruneBefore(Number.MAX_SAFE_INTEGER), 1);
  assert.deepEqual((await s.history({ channel: "#général" }, { limit: 1 })).messages, []);
});

CONTRACT.test("a large batch is kept whole", async ({ store: s, put }) => {
  const batch = Array.from({ length: 1200 }, (_, i) => ({ message: message(i + 1) }));
  await put(batch);
  assert.equal(await s.lastSeq(), 1200);
  const page = await s.history({ channel: "#général" }, { limit: 200 });
  assert.equal(page.messages.at(-1)!.seq, 1200);
  assert.equal((await Array.fromAsync(s.exportMessages({}))).length, 1200);
});

CONTRACT.test("inbox lists offline messages in order until cleared, in any case", async ({ store: s, put }) => {
  await put([
    { message: message(1, { channel: null, to: "Bob" }), inbox: "Bob" },
    { message: message(2, { channel: null, to: "bob" }), inbox: "bob" },
  ]);
  assert.deepEqual((await s.inbox("BOB")).map((m) => m.seq), [1, 2]);
  await s.clearInbox("bob", [1, 2]);
  assert.deepEqual(await s.inbox("bob"), []);
  assert.equal((await s.history({ between: ["alice", "bob"] }, { limit: 5 })).messages.length, 2);
});

CONTRACT.test(
  "pruneBefore removes old messages from history and inboxes, keeps the rest",
  async ({ store: s, put }) => {
    await put([
      { message: message(1, { ts: 100 }) },
      { message: message(2, { ts: 200, channel: null, to: "bob" }), inbox: "bob" },
      { message: message(3, { ts: 300 }) },
    ]);
    assert.equal(await s.pruneBefore(250), 2);
    assert.deepEqual(
      (await s.history({ channel: "#général" }, { limit: 5 })).messages.map((m) => m.seq),
      [3],
    );
    assert.deepEqual(await s.inbox("bob"), []);
    assert.deepEqual((await s.history({ between: ["alice", "bob"] }, { limit: 5 })).messages, []);
  },
);

CONTRACT.test("imports it already has are skipped, however many in one call", async ({ store: s, appender }) => {
  assert.ok(appender, "this case needs a MessageAppender: skip it where there is none");
  assert.equal(await appender.append([{ message: message(1), importKey: "k1" }]), 1);
  assert.equal(
    await appender.append([
      { message: message(2), importKey: "k1" },
      { message: message(3), importKey: "k2" },
    ]),
    1,
  );
  const batch = Array.from(
    { length: 250 },
    (_, i) => ({ message: message(i + 10), importKey: `b${i}` }),
  );
  assert.equal(await appender.append(batch), 250);
  assert.equal((await s.knownImports(["b0", "b249", "nope"])).size, 2);
  assert.equal(await appender.append(batch), 0);
});

CONTRACT.test("channels() counts messages per channel, named as first stored", async ({ store: s, put }) => {
  await put([{ message: message(1) }, { message: message(2, { channel: "#Sisr" }) }]);
  await put([{ message: message(3, { channel: "#SISR" }) }]);
  assert.deepEqual(await s.channels(), [
    { name: "#général", count: 1 },
    { name: "#Sisr", count: 2 },
  ]);
});

CONTRACT.test(
  "export: by channel then time, one spelling per channel, filters, no private",
  async ({ store: s, put }) => {
    await put([
      { message: message(1, { channel: "#Sisr", from: "Alice" }) },
      { message: message(2, { channel: "#SISR", from: "bob" }) },
      { message: message(3, { from: "alice" }) },
      { message: message(4, { channel: null, from: "alice", to: "bob" }) },
    ]);
    const all = await Array.fromAsync(s.exportMessages({}));
    assert.deepEqual(all.map((m) => [m.channel, m.seq]), [["#général", 3], ["#Sisr", 1], [
      "#Sisr",
      2,
    ]]);
    const alices = await Array.fromAsync(s.exportMessages({ user: "ALICE" }));
    assert.deepEqual(alices.map((m) => m.seq), [3, 1]);
    const sisr = await Array.fromAsync(s.exportMessages({ channel: "#sisr", since: 1 }));
    assert.deepEqual(sisr.map((m) => m.seq), [1, 2]);
    assert.deepEqual(await Array.fromAsync(s.exportMessages({ since: 5000, until: 1000 })), []);
  },
);
