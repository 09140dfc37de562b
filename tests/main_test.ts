// The program as an operator runs it: flags, exit codes, the listening log line, signals.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TestClient } from "./helpers/test_server.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

function command(args: string[], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", CONFIG, ...PERMISSIONS, MAIN, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

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

/** Starts the real program and waits for its listening log line; returns the bound port. */
async function launch(args: string[], env: Record<string, string> = {}) {
  const child = command(args, env).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let port: number | undefined;
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Server exited before listening:\n${out}`);
    out += value;
    const m = out.match(/Listening on "127\.0\.0\.1":(\d+)/);
    if (m) port = Number(m[1]);
  }
  clearTimeout(deadline);
  return {
    child,
    port,
    /** Waits for the exit code, reading the rest of the output. */
    async exit(): Promise<{ code: number; out: string; err: string }> {
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const err = await new Response(child.stderr).text();
      const { code } = await child.status;
      clearTimeout(timer);
      return { code, out, err };
    },
  };
}

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
