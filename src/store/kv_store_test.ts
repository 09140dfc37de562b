import assert from "node:assert/strict";
import { accountStoreContract } from "../../tests/helpers/account_store_contract.ts";
import { messageStoreContract } from "../../tests/helpers/message_store_contract.ts";
import { message } from "../../tests/helpers/store_contract.ts";
import { KvStore } from "./kv_store.ts";

Deno.test("KvStore keeps the AccountStore contract", async (t) => {
  await accountStoreContract(t, async (clock) => {
    const store = await KvStore.open(":memory:", { clock });
    return {
      store,
      messages: { store, put: async (batch) => void await store.append(batch) },
      close: () => Promise.resolve(store.close()),
    };
  });
});

Deno.test("KvStore keeps the MessageStore contract, with its appender", async (t) => {
  await messageStoreContract(t, async (clock) => {
    const store = await KvStore.open(":memory:", { clock });
    return {
      store,
      put: async (batch) => void await store.append(batch),
      appender: store,
      close: () => Promise.resolve(store.close()),
    };
  });
});

// What only the KV layout shows.

Deno.test("KvStore leaves no part or index of a pruned message behind", async () => {
  const s = await KvStore.open(":memory:");
  try {
    const content = "é😀".repeat(30_000); // stored in parts
    await s.append([{ message: message(1, { content }) }]);
    assert.equal(await s.pruneBefore(Number.MAX_SAFE_INTEGER), 1);
    const left = [];
    for await (const e of s.kv.list({ prefix: [] })) left.push(e.key);
    assert.deepEqual(left, [["channel", "#général"], ["seq"]], "parts and indexes are gone");
  } finally {
    s.close();
  }
});

Deno.test("KvStore writes a side value with the seq and ts of an append's last message", async () => {
  const s = await KvStore.open(":memory:");
  try {
    const side = { key: ["stream"], value: { epoch: "e1" } };
    await s.append([{ message: message(1) }, { message: message(2, { ts: 5 }) }], side);
    assert.deepEqual(await s.sideValue(["stream"]), { epoch: "e1", seq: 2, ts: 5 });
    await s.append([{ message: message(3) }], side);
    assert.deepEqual(await s.sideValue(["stream"]), { epoch: "e1", seq: 3, ts: message(3).ts });
  } finally {
    s.close();
  }
});

Deno.test("KvStore.indexConversations() lists the conversations of a store from before the lists", async () => {
  const store = await KvStore.open(":memory:");
  try {
    await store.append([
      { message: message(1, { channel: null, from: "bob", to: "Alice" }) },
      { message: message(2, { channel: null, from: "alice", to: "bob" }) },
    ]);
    // As a store written by an earlier version: private messages, no lists.
    for (const prefix of [["peer"], ["pmin"], ["read"]]) {
      for await (const e of store.kv.list({ prefix })) await store.kv.delete(e.key);
    }
    assert.deepEqual(await store.conversations("alice", { limit: 10 }), []);
    await store.indexConversations();
    assert.deepEqual(
      (await store.conversations("alice", { limit: 10 })).map((
        c,
      ) => [c.partner, c.last.seq, c.unread]),
      [["bob", 2, 0]],
    );
    await store.indexConversations(); // once only
    assert.equal((await store.conversations("bob", { limit: 10 })).length, 1);
  } finally {
    store.close();
  }
});
