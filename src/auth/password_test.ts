import assert from "node:assert/strict";
import { WorkerHasher } from "./password.ts";

const CHEAP = { memoryKiB: 64, iterations: 1 };

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
