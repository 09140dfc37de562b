import assert from "node:assert/strict";
import {
  deleteEntries,
  hasEntries,
  KvBatchWriter,
  KvCommitError,
  KvFileError,
  KvSnapshot,
} from "./kv_entries.ts";
import { KV_LIMITS, KvStore } from "./kv_store.ts";

/** A store in memory, closed after `fn`. */
async function withStore(fn: (store: KvStore) => Promise<void>): Promise<void> {
  const store = await KvStore.open(":memory:");
  try {
    await fn(store);
  } finally {
    store.close();
  }
}

async function keys(store: KvStore): Promise<Deno.KvKey[]> {
  const out = [];
  for await (const e of store.kv.list({ prefix: [] })) out.push(e.key);
  return out;
}

// With the estimates of kv_entries.ts: ["k", i] is 14 bytes (2 * 1 + 2 for "k", 10 for a
// number), a Uint8Array value its length.
const KEY_BYTES = 14;

Deno.test("KvBatchWriter commits at most KV_LIMITS.commitMutations mutations at once", async () => {
  await withStore(async (store) => {
    const writer = new KvBatchWriter(store);
    for (let i = 0; i < 2000; i++) await writer.set(["k", i], i, { jsonBytes: 4 });
    await writer.flush();
    assert.equal(KV_LIMITS.commitMutations, 900);
    assert.equal(writer.commits, 3, "900 + 900 + 200");
    assert.equal((await keys(store)).length, 2000);
  });
});

Deno.test("KvBatchWriter starts a new commit before the bytes or key bytes would pass", async () => {
  await withStore(async (store) => {
    const value = new Uint8Array(100);
    const bytes = new KvBatchWriter(store, {
      limits: { commitMutations: 1000, commitBytes: 2 * (KEY_BYTES + 100), commitKeyBytes: 1e6 },
    });
    for (let i = 0; i < 10; i++) await bytes.set(["k", i], value, { jsonBytes: 1e6 });
    await bytes.flush();
    assert.equal(bytes.commits, 5, "two entries per commit");

    const keyBytes = new KvBatchWriter(store, {
      limits: { commitMutations: 1000, commitBytes: 1e6, commitKeyBytes: 3 * KEY_BYTES },
    });
    for (let i = 0; i < 10; i++) await keyBytes.delete(["k", i]);
    await keyBytes.flush();
    assert.equal(keyBytes.commits, 4, "three deletes per commit");
    assert.deepEqual(await keys(store), []);
  });
});

Deno.test("KvBatchWriter estimates a value from its JSON length, at twice that plus 64", async () => {
  await withStore(async (store) => {
    // 2 * 100 + 64 = 264 bytes of value, with a 14-byte key: one entry per commit under 300.
    const writer = new KvBatchWriter(store, {
      limits: { commitMutations: 1000, commitBytes: 300, commitKeyBytes: 1e6 },
    });
    for (let i = 0; i < 3; i++) await writer.set(["k", i], { i }, { jsonBytes: 100 });
    await writer.flush();
    assert.equal(writer.commits, 3);
  });
});

Deno.test("KvBatchWriter splits a commit Deno KV refuses in halves", async () => {
  await withStore(async (store) => {
    // Limits above Deno KV's own 1000 mutations: the first commit is refused, its halves pass.
    const writer = new KvBatchWriter(store, {
      limits: { commitMutations: 5000, commitBytes: 1e9, commitKeyBytes: 1e9 },
    });
    for (let i = 0; i < 1500; i++) await writer.set(["k", i], i, { jsonBytes: 4 });
    await writer.flush();
    assert.equal(writer.commits, 2);
    assert.equal((await keys(store)).length, 1500);
  });
});

Deno.test("KvBatchWriter names the one entry Deno KV refuses", async () => {
  await withStore(async (store) => {
    const writer = new KvBatchWriter(store);
    await writer.set(["ok"], 1, { jsonBytes: 1 });
    await writer.set(["big", 7], new Uint8Array(70_000), { jsonBytes: 0 });
    const err = await writer.flush().then(() => undefined, (e) => e);
    assert.ok(err instanceof KvCommitError, String(err));
    assert.deepEqual(err.key, ["big", 7]);
    assert.match(err.reason, /too large/i);
    assert.equal(err.message, `Cannot write an entry: ${err.reason}`);
    assert.deepEqual(await keys(store), [["ok"]], "the other half was committed");
  });
});

Deno.test("deleteEntries() empties a store and counts what it deleted", async () => {
  await withStore(async (store) => {
    assert.equal(await hasEntries(store), false);
    const writer = new KvBatchWriter(store);
    for (let i = 0; i < 2000; i++) await writer.set(["k", i], "v", { jsonBytes: 3 });
    await writer.set(["other", "x"], new Uint8Array(10), { jsonBytes: 0 });
    await writer.flush();
    assert.equal(await hasEntries(store), true);
    const limits = { commitMutations: 300, commitBytes: 1e6, commitKeyBytes: 1e6 };
    assert.equal(await deleteEntries(store, { limits }), 2001);
    assert.equal(await hasEntries(store), false);
    assert.equal(await deleteEntries(store), 0);
  });
});

Deno.test("KvSnapshot lists a copy of a KV file and counts its rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  try {
    const db = `${dir}/data.kv`;
    const kv = await Deno.openKv(db);
    try {
      await kv.set(["a"], 1);
      await kv.set(["b", 2n], new Uint8Array([1, 2]));
      await kv.set(["c"], "expires", { expireIn: 3_600_000 });
    } finally {
      kv.close();
    }
    const listed: Deno.KvKey[] = [];
    {
      await using snap = await KvSnapshot.take(db);
      assert.deepEqual(snap.rows, { total: 3, expiring: 1, queued: 0 });
      // Written after the snapshot: not in it.
      const later = await Deno.openKv(db);
      await later.set(["d"], 4);
      later.close();
      for await (const e of snap.entries()) listed.push(e.key);
    }
    assert.deepEqual(listed, [["a"], ["b", 2n], ["c"]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvSnapshot.take() refuses what is not a local Deno KV file, with the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  try {
    await Deno.writeTextFile(`${dir}/notes.txt`, "not a database at all\n".repeat(100));
    const cases: [string, RegExp][] = [
      [":memory:", /^not a local KV file$/],
      ["https://kv.example/db", /^not a local KV file$/],
      [`${dir}/missing.kv`, /^no such file$/],
      [dir, /^not a file$/],
      [`${dir}/notes.txt`, /./],
    ];
    for (const [path, reason] of cases) {
      const err = await KvSnapshot.take(path).then(() => undefined, (e) => e);
      assert.ok(err instanceof KvFileError, `${path}: ${err}`);
      assert.equal(err.path, path);
      assert.match(err.reason, reason, path);
      assert.equal(err.message, `Cannot read KV file "${path}": ${err.reason}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
