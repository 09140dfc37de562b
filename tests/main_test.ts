// The program as an operator runs it: flags, exit codes, the listening log line, signals.
import assert from "node:assert/strict";
import { command, launch } from "./helpers/process.ts";
import { TestClient } from "./helpers/test_server.ts";

Deno.test("--help documents every flag and exits 0", async () => {
  const { code, stdout } = await command(["--help"]).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0);
  for (const flag of ["--host", "--port", "--metrics-port", "--db", "--log-level"]) {
    assert.ok(text.includes(flag), flag);
  }
});

Deno.test("a bad flag value stops startup with one line and exit code 2", async () => {
  const { code, stderr } = await command(["--port", "99999"]).output();
  const lines = new TextDecoder().decode(stderr).trim().split("\n");
  assert.equal(code, 2);
  assert.deepEqual(lines.length, 1);
  assert.match(lines[0], /Invalid --port "99999"/);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} sends shutting_down to identified sessions and exits 0`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
    try {
      const db = `${dir}/new/folder/classcord.kv`;
      const server = await launch(
        ["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--db", db],
      );
      const alice = await TestClient.connect(server.port);
      const bob = await TestClient.connect(server.port);
      const anon = await TestClient.connect(server.port);
      await alice.request({ type: "register", username: "alice", password: "pw" });
      await alice.login("alice", "pw");
      await bob.request({ type: "register", username: "bob", password: "pw" });
      await bob.login("bob", "pw");
      assert.equal((await alice.json()).user, "bob");
      await anon.expectNothingPending();
      server.child.kill(signal);
      for (const user of [alice, bob]) {
        const last = await user.closed();
        assert.equal(last.length, 1, "the shutdown notice is the last line, no offline after it");
        assert.equal(JSON.parse(last[0]).code, "shutting_down");
        user.close();
      }
      assert.deepEqual(await anon.closed(), [], "anonymous connections are closed silently");
      anon.close();
      const { code, out } = await server.exit();
      assert.equal(code, 0);
      assert.match(out, /shutting down/);
      assert.ok((await Deno.stat(db)).isFile, "the KV file and its folders were created");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("CLASSCORD_* environment variables configure the server", async () => {
  const server = await launch([], {
    CLASSCORD_HOST: "127.0.0.1",
    CLASSCORD_PORT: "0",
    CLASSCORD_METRICS_PORT: "0",
    CLASSCORD_DB: ":memory:",
  });
  const c = await TestClient.connect(server.port);
  assert.deepEqual(await c.request({ type: "users" }), { type: "users", users: [] });
  c.close();
  server.child.kill("SIGTERM");
  const { code, out } = await server.exit();
  assert.equal(code, 0);
  assert.match(out, /store ":memory:"/);
});
