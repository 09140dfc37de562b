// The contract of the accounts-and-moderation part of a store (AccountStore, src/store/store.ts):
// accounts, administrators, bans, the directory and the store's secrets. Run by every
// implementation (see tests/helpers/store_contract.ts for how, and where).
import assert from "node:assert/strict";
import type { AccountStore, Append, MessageStore } from "../../src/store/store.ts";
import { message, type SkipList, StoreContract } from "./store_contract.ts";
import type { FakeClock } from "./fake_clock.ts";

/** An empty store of the implementation under test. */
export interface OpenedAccountStore {
  store: AccountStore;
  /**
   * The message part over the same data, where the implementation keeps both, and how messages
   * reach it there (see tests/helpers/message_store_contract.ts): deleting an account takes its
   * inbox and conversation lists.
   */
  messages?: { store: MessageStore; put(batch: Append[]): Promise<void> };
  close(): Promise<void>;
}

const CONTRACT = new StoreContract<OpenedAccountStore>();

/**
 * Runs every case of the AccountStore contract as a step of `t`, each on a store `open` gives
 * (whose clock is the one given), but those `skip` names, with the reason.
 */
export function accountStoreContract(
  t: Deno.TestContext,
  open: (clock: FakeClock) => Promise<OpenedAccountStore>,
  skip: SkipList = {},
): Promise<void> {
  return CONTRACT.run(t, open, skip);
}

CONTRACT.test("createUser is atomic: of concurrent creations of one name in any case, one wins", async ({ store: s }) => {
  const names = ["Zoé", "zoé", "ZOÉ", "zoe\u0301"];
  const results = await Promise.all(
    names.map((name, i) => s.createUser({ name, passwordHash: `h${i}`, createdAt: i })),
  );
  assert.equal(results.filter((ok) => ok).length, 1);
  assert.ok(await s.getUser("ZOé"), "found in any case and composition");
});

CONTRACT.test(
  "users: password hash replaced, listed by name, deleted",
  async ({ store: s }) => {
    for (const name of ["bob", "Alice"]) {
      assert.equal(await s.createUser({ name, passwordHash: "old", createdAt: 1 }), true);
    }
    assert.equal(await s.setPasswordHash("BOB", "new"), true);
    assert.equal((await s.getUser("bob"))?.passwordHash, "new");
    assert.equal(await s.setPasswordHash("nobody", "x"), false);
    assert.deepEqual((await Array.fromAsync(s.listUsers())).map((u) => u.name), ["Alice", "bob"]);
    assert.equal(await s.deleteUser("Bob"), true);
    assert.equal(await s.getUser("bob"), null);
    assert.equal(await s.deleteUser("bob"), false);
  },
);

CONTRACT.test(
  "deleteUser takes the account's offline inbox and conversation lists with it",
  async ({ store: s, messages }) => {
    assert.ok(messages, "this case needs the message part: skip it where there is none");
    const pm = (seq: number, from: string, to: string) => ({
      message: message(seq, { channel: null, from, to }),
    });
    await s.createUser({ name: "Bob", passwordHash: "h", createdAt: 1 });
    await messages.put([{ ...pm(1, "alice", "bob"), inbox: "Bob" }, pm(2, "Carol", "bob")]);
    assert.equal((await messages.store.inbox("bob")).length, 1);
    assert.equal((await messages.store.conversations("bob", { limit: 10 })).length, 2);
    assert.equal(await s.deleteUser("BOB"), true);
    assert.deepEqual(await messages.store.inbox("bob"), [], "the inbox goes with the account");
    assert.deepEqual(
      await messages.store.conversations("bob", { limit: 10 }),
      [],
      "a new account of that name starts with no conversation",
    );
    assert.deepEqual(
      (await messages.store.history({ between: ["alice", "bob"] }, { limit: 5 })).messages
        .map((m) => m.seq),
      [1],
      "the messages stay in the partners' histories",
    );
  },
);

CONTRACT.test(
  "bans: a name is banned until a time, in any case; listed while running; lifted",
  async ({ store: s }, clock) => {
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

CONTRACT.test("findUsers gives registered names by prefix in any case, by name, up to a limit", async ({ store: s }) => {
  for (const name of ["Alice", "alan", "Albert", "bob", "Élodie"]) {
    await s.createUser({ name, passwordHash: "h", createdAt: 1 });
  }
  assert.deepEqual(await s.findUsers("AL", 10), ["alan", "Albert", "Alice"]);
  assert.deepEqual(await s.findUsers("al", 2), ["alan", "Albert"]);
  assert.deepEqual(await s.findUsers("élo", 10), ["Élodie"]);
  assert.deepEqual(await s.findUsers("z", 10), []);
});

CONTRACT.test("setAdmin makes an account an administrator and back", async ({ store: s }) => {
  await s.createUser({ name: "Prof", passwordHash: "h", createdAt: 1 });
  assert.equal(await s.setAdmin("prof", true), true);
  assert.equal((await s.getUser("PROF"))?.admin, true);
  assert.equal(await s.setAdmin("prof", false), true);
  assert.deepEqual(await s.getUser("prof"), { name: "Prof", passwordHash: "h", createdAt: 1 });
  assert.equal(await s.setAdmin("nobody", true), false);
});

// Each write is read back at once, many times over: a store whose reads can miss its own last
// write (a lagging replica) fails here, not only now and then in the cases above.
CONTRACT.test("what was just written reads back, every time: password, administrator, ban", async ({ store: s }) => {
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

CONTRACT.test("secret() makes 32 random bytes once, the same ever after", async ({ store: s }) => {
  const [a, b] = await Promise.all([s.secret("resume"), s.secret("resume")]);
  assert.equal(a.length, 32);
  assert.deepEqual(a, b);
  assert.deepEqual(await s.secret("resume"), a);
  assert.notDeepEqual(await s.secret("other"), a);
});
