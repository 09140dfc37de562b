// Users live in the KV file: they survive a restart, and their passwords are never stored in clear.
import assert from "node:assert/strict";
import { DEFAULT_ARGON2 } from "../src/auth/password.ts";
import { startTestServer } from "./helpers/test_server.ts";

Deno.test("a restart on the same KV file keeps registered users", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  const db = `${dir}/nested/classcord.kv`;
  try {
    {
      await using srv = await startTestServer({ db });
      await using c = await srv.connect();
      await c.request({ type: "register", username: "Élodie", password: "pw" });
    }
    await using srv = await startTestServer({ db });
    await using c = await srv.connect();
    assert.deepEqual(await c.request({ type: "login", username: "élodie", password: "pw" }), {
      type: "login",
      status: "ok",
      username: "Élodie",
    });
    assert.equal(
      (await c.request({ type: "register", username: "ÉLODIE", password: "x" })).code,
      "user_exists",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stored password is an argon2id hash with the protocol's parameters, never the password", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  const db = `${dir}/classcord.kv`;
  const password = "Tr0ub4dor&3-unique-marker";
  try {
    {
      await using srv = await startTestServer({ db, argon2: DEFAULT_ARGON2 });
      await using c = await srv.connect();
      await c.request({ type: "register", username: "alice", password });
      assert.equal((await c.request({ type: "login", username: "alice", password })).status, "ok");
    }
    const kv = await Deno.openKv(db);
    try {
      const record = (await kv.get<{ passwordHash: string }>(["users", "alice"])).value!;
      assert.match(record.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[^$]+\$[^$]+$/);
    } finally {
      kv.close();
    }
    const marker = new TextEncoder().encode(password);
    for await (const entry of Deno.readDir(dir)) {
      const bytes = await Deno.readFile(`${dir}/${entry.name}`);
      assert.equal(indexOf(bytes, marker), -1, `password found in ${entry.name}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
