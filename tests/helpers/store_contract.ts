// The contract of the Store interface (src/store/store.ts): every implementation runs these
// cases, as the steps of one test, with `storeContract(t, open, skip)` in its own test file:
// KvStore in src/store/kv_store_test.ts, the cluster's ClusterStore against a real NATS cluster
// in tests/cluster_store_test.ts. A case that does not apply to an implementation is skipped by
// name, with the reason, and the reason shows in the step's name.
import assert from "node:assert/strict";
import type { Append, Store, StoredMessage } from "../../src/store/store.ts";
import { FakeClock } from "./fake_clock.ts";

/** A message of the default channel (or private, with `channel: null` and `to`). */
export function message(
  seq: number,
  opts: Partial<StoredMessage> & { from?: string; content?: string } = {},
): StoredMessage {
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

/** An empty store of the implementation under test, and how messages reach it there. */
export interface OpenedStore {
  store: Store;
  /**
   * Stores messages the way this implementation receives them: `append` on a single server; on
   * a cluster node, the writes of the feed that reads the stream into the node's read model.
   */
  put(batch: Append[]): Promise<void>;
  /** Closes the store and anything opened with it; the next case starts empty. */
  close(): Promise<void>;
}

/** Opens an empty store of the implementation under test, whose clock is `clock`. */
export type OpenStore = (clock: FakeClock) => Promise<OpenedStore>;

/** Cases that do not apply to an implementation: case name → the reason. */
export type SkipList = Record<string, string>;

type Case = (s: Store, clock: FakeClock, put: (batch: Append[]) => Promise<void>) => Promise<void>;

/**
 * Runs every case of the Store contract as a step of `t`, each on a store `open` gives, but
 * those `skip` names (reported as ignored, with the reason).
 *
 * @throws {AssertionError} when `skip` names a case the contract does not have
 */
export async function storeContract(
  t: Deno.TestContext,
  open: OpenStore,
  skip: SkipList = {},
): Promise<void> {
  for (const name of Object.keys(skip)) {
    assert.ok(CASES.has(name), `the skip list names "${name}", which is no case of the contract`);
  }
  for (const [name, run] of CASES) {
    const reason = skip[name];
    await t.step({
      name: reason === undefined ? name : `${name} (skipped: ${reason})`,
      ignore: reason !== undefined,
      fn: async () => {
        const clock = new FakeClock();
        const opened = await open(clock);
        try {
          await run(opened.store, clock, opened.put);
        } finally {
          await opened.close();
        }
      },
    });
  }
}

/** The cases, by name, in order. */
const CASES = new Map<string, Case>();

function test(name: string, run: Case): void {
  assert.ok(!CASES.has(name), `two cases named "${name}"`);
  CASES.set(name, run);
}

test("createUser is atomic: of concurrent creations of one name in any case, one wins", async (s) => {
  const names = ["Zoé", "zoé", "ZOÉ", "zoe\u0301"];
  const results = await Promise.all(
    names.map((name, i) => s.createUser({ name, passwordHash: `h${i}`, createdAt: i })),
  );
  assert.equal(results.filter((ok) => ok).length, 1);
  assert.ok(await s.getUser("ZOé"), "found in any case and composition");
});

test(
  "users: password hash replaced, listed by name, deleted with their inbox",
  async (s, _clock, put) => {
    for (const name of ["bob", "Alice"]) {
      assert.equal(await s.createUser({ name, passwordHash: "old", createdAt: 1 }), true);
    }
    assert.equal(await s.setPasswordHash("BOB", "new"), true);
    assert.equal((await s.getUser("bob"))?.passwordHash, "new");
    assert.equal(await s.setPasswordHash("nobody", "x"), false);
    assert.deepEqual((await Array.fromAsync(s.listUsers())).map((u) => u.name), ["Alice", "bob"]);
    await put([{ message: message(1, { channel: null, to: "bob" }), inbox: "Bob" }]);
    assert.equal(await s.deleteUser("Bob"), true);
    assert.equal(await s.getUser("bob"), null);
    assert.deepEqual(await s.inbox("bob"), []);
    assert.equal(await s.deleteUser("bob"), false);
  },
);

test(
  "bans: a name is banned until a time, in any case; listed while running; lifted",
  async (s, clock) => {
    assert.equal(await s.bannedUntil("bob"), null);
    await s.ban("Bob", clock.now() + 60_000);
    await s.ban("zed", clock.now() + 120_000);
    assert.equal(await s.bannedUntil("BOB"), clock.now() + 60_000);
    assert.deepEqual(await s.bans(), [
      { name: "Bob", until: clock.now() + 60_000 },
      { name: "zed", until: clock.now() + 120_000 },
    ], "listed as banned, by case-folded name");
    clock.advance(90_000);
    assert.deepEqual((await s.bans()).map((b) => b.name), ["zed"], "an ended ban is not listed");
    assert.equal(await s.unban("ZED"), true);
    assert.equal(await s.bannedUntil("zed"), null);
    assert.equal(await s.unban("zed"), false);
  },
);

test("findUsers gives registered names by prefix in any case, by name, up to a limit", async (s) => {
  for (const name of ["Alice", "alan", "Albert", "bob", "Élodie"]) {
    await s.createUser({ name, passwordHash: "h", createdAt: 1 });
  }
  assert.deepEqual(await s.findUsers("AL", 10), ["alan", "Albert", "Alice"]);
  assert.deepEqual(await s.findUsers("al", 2), ["alan", "Albert"]);
  assert.deepEqual(await s.findUsers("élo", 10), ["Élodie"]);
  assert.deepEqual(await s.findUsers("z", 10), []);
});

test(
  "conversations: each partner once, the newest first, with unread counts from read marks",
  async (s, _clock, put) => {
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
    await s.createUser({ name: "Carol", passwordHash: "h", createdAt: 1 });
    assert.equal((await s.conversations("carol", { limit: 10 })).length, 1);
    await s.deleteUser("carol");
    assert.deepEqual(
      await s.conversations("carol", { limit: 10 }),
      [],
      "forgotten with the account",
    );
  },
);

test("setAdmin makes an account an administrator and back", async (s) => {
  await s.createUser({ name: "Prof", passwordHash: "h", createdAt: 1 });
  assert.equal(await s.setAdmin("prof", true), true);
  assert.equal((await s.getUser("PROF"))?.admin, true);
  assert.equal(await s.setAdmin("prof", false), true);
  assert.deepEqual(await s.getUser("prof"), { name: "Prof", passwordHash: "h", createdAt: 1 });
  assert.equal(await s.setAdmin("nobody", true), false);
});

// Each write is read back at once, many times over: a store whose reads can miss its own last
// write (a lagging replica) fails here, not only now and then in the cases above.
test("what was just written reads back, every time: password, administrator, ban", async (s) => {
  assert.equal(await s.createUser({ name: "Prof", passwordHash: "h0", createdAt: 1 }), true);
  for (let i = 1; i <= 30; i++) {
    assert.equal(await s.setPasswordHash("prof", `h${i}`), true);
    assert.equal((await s.getUser("prof"))?.passwordHash, `h${i}`, `password ${i} read back`);
    const admin = i % 2 === 1;
    assert.equal(await s.setAdmin("prof", admin), true);
    assert.equal((await s.getUser("prof"))?.admin ?? false, admin, `administrator ${i} read back`);
  }
  for (let i = 1; i <= 15; i++) {
    await s.ban("zed", 1_000_000 + i);
    assert.equal(await s.bannedUntil("zed"), 1_000_000 + i, `ban ${i} read back`);
    assert.equal(await s.unban("zed"), true);
    assert.equal(await s.bannedUntil("zed"), null, `lifted ban ${i} read back`);
  }
});

test(
  "history pages backwards with before, oldest first, and says when more",
  async (s, _clock, put) => {
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

test("history is in time order, so imported old messages sort first", async (s, _clock, put) => {
  await put([{ message: message(1, { ts: 2000 }) }, { message: message(2, { ts: 1000 }) }]);
  const page = await s.history({ channel: "#général" }, { limit: 10 });
  assert.deepEqual(page.messages.map((m) => m.seq), [2, 1]);
});

test(
  "history after pages forward from a seq, oldest first, and says when newer ones remain",
  async (s, _clock, put) => {
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

test("secret() makes 32 random bytes once, the same ever after", async (s) => {
  const [a, b] = await Promise.all([s.secret("resume"), s.secret("resume")]);
  assert.equal(a.length, 32);
  assert.deepEqual(a, b);
  assert.deepEqual(await s.secret("resume"), a);
  assert.notDeepEqual(await s.secret("other"), a);
});

test("history since leaves out what is older", async (s, _clock, put) => {
  await put([1, 2, 3].map((seq) => ({ message: message(seq, { ts: seq * 100 }) })));
  const page = await s.history({ channel: "#général" }, { limit: 10, since: 200 });
  assert.deepEqual(page.messages.map((m) => m.seq), [2, 3]);
  assert.equal(page.more, false);
});

test(
  "private conversations stay apart and are found from either side, in any case",
  async (s, _clock, put) => {
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

test("a message too big for one value is stored whole", async (s, _clock, put) => {
  const content = "é😀".repeat(30_000); // ~210 KB of UTF-8
  await put([{ message: message(1, { content }) }]);
  const [back] = (await s.history({ channel: "#général" }, { limit: 1 })).messages;
  assert.equal(back.line.content, content);
  assert.equal(await s.pruneBefore(Number.MAX_SAFE_INTEGER), 1);
  assert.deepEqual((await s.history({ channel: "#général" }, { limit: 1 })).messages, []);
});

test("a large batch is kept whole", async (s, _clock, put) => {
  const batch = Array.from({ length: 1200 }, (_, i) => ({ message: message(i + 1) }));
  await put(batch);
  assert.equal(await s.lastSeq(), 1200);
  const page = await s.history({ channel: "#général" }, { limit: 200 });
  assert.equal(page.messages.at(-1)!.seq, 1200);
  assert.equal((await Array.fromAsync(s.exportMessages({}))).length, 1200);
});

test("inbox lists offline messages in order until cleared, in any case", async (s, _clock, put) => {
  await put([
    { message: message(1, { channel: null, to: "Bob" }), inbox: "Bob" },
    { message: message(2, { channel: null, to: "bob" }), inbox: "bob" },
  ]);
  assert.deepEqual((await s.inbox("BOB")).map((m) => m.seq), [1, 2]);
  await s.clearInbox("bob", [1, 2]);
  assert.deepEqual(await s.inbox("bob"), []);
  assert.equal((await s.history({ between: ["alice", "bob"] }, { limit: 5 })).messages.length, 2);
});

test(
  "pruneBefore removes old messages from history and inboxes, keeps the rest",
  async (s, _clock, put) => {
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

test("imports it already has are skipped, however many in one call", async (s) => {
  assert.equal(await s.append([{ message: message(1), importKey: "k1" }]), 1);
  assert.equal(
    await s.append([
      { message: message(2), importKey: "k1" },
      { message: message(3), importKey: "k2" },
    ]),
    1,
  );
  const batch = Array.from(
    { length: 250 },
    (_, i) => ({ message: message(i + 10), importKey: `b${i}` }),
  );
  assert.equal(await s.append(batch), 250);
  assert.equal((await s.knownImports(["b0", "b249", "nope"])).size, 2);
  assert.equal(await s.append(batch), 0);
});

test("channels() counts messages per channel, named as first stored", async (s, _clock, put) => {
  await put([{ message: message(1) }, { message: message(2, { channel: "#Sisr" }) }]);
  await put([{ message: message(3, { channel: "#SISR" }) }]);
  assert.deepEqual(await s.channels(), [
    { name: "#général", count: 1 },
    { name: "#Sisr", count: 2 },
  ]);
});

test(
  "export: by channel then time, one spelling per channel, filters, no private",
  async (s, _clock, put) => {
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
