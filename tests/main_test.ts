// The program as an operator runs it: flags, exit codes, the listening log line, signals.
import assert from "node:assert/strict";
import { command, launch, runCommand } from "./helpers/process.ts";
import { TestClient } from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";

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

Deno.test("a chat port in use stops startup with a line naming it, and exit code 1", async () => {
  // Another server (or a second copy of this one) already holds the port.
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String(taken.addr.port);
  const { code, stderr, stdout } = await command(
    ["--host", "127.0.0.1", "--port", port, "--metrics-port", "0", "--db", ":memory:"],
  ).output();
  const text = new TextDecoder().decode(stderr) + new TextDecoder().decode(stdout);
  assert.equal(code, 1);
  assert.match(
    text,
    new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use \\(another server`),
  );
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

Deno.test("the start-up lines give addresses and URLs ready to copy", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  try {
    const [web, metrics] = [freePort(), freePort()];
    const server = await launch([
      "--host=127.0.0.1",
      "--port=0",
      `--web-port=${web}`,
      `--metrics-port=${metrics}`,
      `--db=${dir}/classcord.kv`,
    ], { TZ: "Europe/Paris" });
    await server.output(/Metrics on/);
    server.child.kill("SIGTERM");
    const { out } = await server.exit();
    assert.match(out, new RegExp(`Listening on 127\\.0\\.0\\.1:${server.port}, store "`));
    assert.match(out, new RegExp(`Web app on http://127\\.0\\.0\\.1:${web}/\n`));
    assert.match(out, new RegExp(`Metrics on http://127\\.0\\.0\\.1:${metrics}/metrics\n`));
    // The text log is in the class's time zone, the offset shown, as message timestamps are.
    const offset = new Intl.DateTimeFormat("en", {
      timeZone: "Europe/Paris",
      timeZoneName: "longOffset",
    }).formatToParts(new Date()).find((p) => p.type === "timeZoneName")!.value.slice(3);
    assert.match(
      out.split("\n")[0],
      new RegExp(`^\\d{4}-\\d\\d-\\d\\d [\\d:.]+ \\${offset} \\[INF\\]`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

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

Deno.test("--log-format json logs one JSON object per line, and never a password or a private text", async () => {
  const server = await launch([
    "--host=127.0.0.1",
    "--port=0",
    "--metrics-port=0",
    "--db=:memory:",
    "--log-format=json",
    "--log-level=debug",
  ]);
  const alice = await TestClient.connect(server.port);
  const bob = await TestClient.connect(server.port);
  await alice.request({ type: "register", username: "alice", password: "pw-secret-1" });
  await alice.login("alice", "pw-secret-1");
  await bob.request({ type: "register", username: "bob", password: "pw-secret-2" });
  await bob.login("bob", "pw-secret-2");
  await bob.request({ type: "login", username: "bob", password: "pw-wrong-3" });
  await alice.json(); // bob online
  await alice.request({ type: "message", subtype: "private", to: "bob", content: "psst-4", id: 1 });
  await alice.request({ type: "message", content: "hello-5", id: 2 });
  alice.close();
  bob.close();
  server.child.kill("SIGTERM");
  const { code, out, err } = await server.exit();
  assert.equal(code, 0);
  const lines = out.trim().split("\n");
  const records = lines.map((l) => JSON.parse(l));
  assert.ok(records.some((r) => r.message.startsWith("Logged in")));
  assert.ok(records.some((r) => r.message.startsWith("Message") && r.properties.kind === "global"));
  for (const secret of ["pw-secret-1", "pw-secret-2", "pw-wrong-3", "psst-4", "hello-5"]) {
    assert.ok(!out.includes(secret) && !err.includes(secret), secret);
  }
});

Deno.test("on a dual-stack --host ::, an IPv4 client has its IPv4 address in the logs", async () => {
  const server = await launch([
    "--host=::",
    "--port=0",
    "--metrics-port=0",
    "--db=:memory:",
    "--log-format=json",
  ]);
  const c = await TestClient.connect(server.port); // over 127.0.0.1: ::ffff:127.0.0.1 on the socket
  await c.request({ type: "register", username: "alice", password: "pw-secret-1" });
  await c.login("alice", "pw-secret-1");
  c.close();
  server.child.kill("SIGTERM");
  const { code, out } = await server.exit();
  assert.equal(code, 0);
  const records = out.trim().split("\n").map((l) => JSON.parse(l));
  const login = records.find((r) => r.message.startsWith("Logged in"));
  // The same client has one address for the caps and bans, whether it came over TCP or the web.
  assert.equal(login?.properties.remote, "127.0.0.1");
});

Deno.test("--healthcheck exits 0 when the server's /healthz answers, 1 when nothing does", async () => {
  const metricsPort = freePort();
  const server = await launch([
    "--host=127.0.0.1",
    "--port=0",
    `--metrics-port=${metricsPort}`,
    "--db=:memory:",
  ]);
  try {
    const healthy = await command(["--healthcheck", `--metrics-port=${metricsPort}`]).output();
    assert.equal(healthy.code, 0);
  } finally {
    server.child.kill("SIGTERM");
    assert.equal((await server.exit()).code, 0);
  }
  const down = await command(["--healthcheck", `--metrics-port=${metricsPort}`]).output();
  assert.equal(down.code, 1);
});

Deno.test("--version or -V anywhere among the server's options prints the version and exits 0", async () => {
  const { version } = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  for (
    const args of [
      ["--db", ":memory:", "--version"],
      ["--port", "0", "-V"],
      ["serve", "--db", ":memory:", "--version"],
    ]
  ) {
    const { code, stdout, stderr } = await command(args).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.equal(new TextDecoder().decode(stdout), `classcord ${version}\n`, args.join(" "));
  }
});

/** `deno run <permissions> src/main.ts <args>` to its end, as root without root's file rights. */
function runUnprivileged(permissions: string[], args: string[], stdin?: string) {
  const main = new URL("../src/main.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const deno = [Deno.execPath(), "run", "--quiet", "--config", config, ...permissions, main];
  // Root writes any folder: without these capabilities, the folder's mode applies to it too.
  const root = Deno.uid() === 0
    ? ["--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    : undefined;
  return root
    ? runCommand("setpriv", [...root, ...deno, ...args], { stdin, env: { NO_COLOR: "1" } })
    : runCommand(deno[0], [...deno.slice(1), ...args], { stdin, env: { NO_COLOR: "1" } });
}

const TASK_PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

Deno.test("a store in a folder this user may not write is refused in one line naming --db and the path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  try {
    const locked = `${dir}/locked`;
    await Deno.mkdir(locked, { mode: 0o555 });
    await Deno.chmod(locked, 0o555);
    const db = `${locked}/data/classcord.kv`;
    const refusal = `Cannot open store "${db}" (--db): this user may not write ` +
      `"${locked}/data"; run it as a user who may, or choose another --db`;
    const served = await runUnprivileged(TASK_PERMISSIONS, [
      "--host=127.0.0.1",
      "--port=0",
      "--metrics-port=0",
      "--web-port=0",
      `--db=${db}`,
    ]);
    assert.equal(served.code, 1, served.err);
    const lines = (served.out + served.err).trimEnd().split("\n");
    assert.equal(lines.length, 1, served.out + served.err);
    assert.match(lines[0], / \[FTL\] classcord: Cannot start: /);
    assert.ok(lines[0].includes(refusal), lines[0]);
    const added = await runUnprivileged(
      TASK_PERMISSIONS,
      ["user", "add", "--create", "prof", "--db", db],
      "pw\n",
    );
    assert.equal(added.code, 1, added.err);
    assert.equal(added.err, `user: ${refusal}\n`);
    await assert.rejects(Deno.stat(`${locked}/data`), Deno.errors.NotFound);
  } finally {
    await Deno.chmod(`${dir}/locked`, 0o755);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a store outside Deno's --allow-write is refused in our words, not Deno's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  try {
    const db = `${dir}/data/classcord.kv`;
    const permissions = [
      "--allow-net",
      "--allow-read",
      "--allow-env",
      `--allow-write=${dir}/elsewhere`,
    ];
    const added = await runUnprivileged(
      permissions,
      ["user", "add", "--create", "prof", "--db", db],
      "pw\n",
    );
    assert.equal(added.code, 1, added.err);
    // The first file it needs to write: the store's lock.
    assert.equal(
      added.err,
      `user: Cannot open store "${db}" (--db): Deno's permissions forbid writing ` +
        `"${db}.lock": run it with deno task (or the compiled binary), or choose a --db that ` +
        "its --allow-write covers\n",
    );
    assert.doesNotMatch(added.err, /run again with/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
