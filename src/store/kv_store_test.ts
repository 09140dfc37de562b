import assert from "node:assert/strict";
import { message, storeContract } from "../../tests/helpers/store_contract.ts";
import { KvStore } from "./kv_store.ts";

storeContract("KvStore", (clock) => KvStore.open(":memory:", { clock }));

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
