// deno task user: account administration from the shell, next to a running server.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type CommandResult, runClasscord } from "./helpers/process.ts";
import { startTestServer, type TestServer } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

// The permissions of the user task in deno.json.
const SUBPROCESS_TIMEOUT_MS = 60_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Result = CommandResult;

// For the pseudo-terminal tests, which build the command line themselves.
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
// The permissions of the tasks (and of the compiled binary).
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** Runs `classcord user` with `stdin` piped (or /dev/null), killed after the deadline. */
function user(args: string[], stdin?: string): Promise<Result> {
  return runClasscord(["user", ...args], { stdin, timeoutMs: SUBPROCESS_TIMEOUT_MS });
}

/** Asserts a failure with one line on stderr, matching `pattern`. */
function assertFails(result: Result, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.err);
  const lines = result.err.trimEnd().split("\n");
  assert.equal(lines.length, 1, result.err);
  assert.match(lines[0], pattern);
}

function assertSecret(result: Result, password: string): void {
  assert.ok(!result.out.includes(password), "password on stdout");
  assert.ok(!result.err.includes(password), "password on stderr");
}

/** A server on a temp KV file that the script and the test share. */
async function withServer(fn: (srv: TestServer, db: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  const db = `${dir}/classcord.kv`;
  try {
    await using srv = await startTestServer({ db });
    await fn(srv, db);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The reply to a login attempt, on a fresh connection. */
async function login(srv: TestServer, username: string, password: string) {
  await using c = await srv.connect();
  return await c.request({ type: "login", username, password });
}

Deno.test("user add with a piped password creates an account the running server accepts", async () => {
  await withServer(async (srv, db) => {
    const password = "Piped-pw-Ünïcode-7f3a";
    const added = await user(["add", "Élodie", "--db", db], `${password}\n`);
    assert.equal(added.code, 0, added.err);
    assert.equal(added.out, 'Added user "Élodie"\n');
    assertSecret(added, password);
    assert.deepEqual(await login(srv, "élodie", password), {
      type: "login",
      status: "ok",
      username: "Élodie",
    });
    assert.equal((await login(srv, "élodie", "wrong")).code, "auth_failed");
    // Only the first line is the password; CRLF counts as a line end.
    const crlf = await user(["add", "bob", "--db", db], "pw-bob\r\nignored\n");
    assert.equal(crlf.code, 0, crlf.err);
    assert.equal((await login(srv, "bob", "pw-bob")).status, "ok");
  });
});

Deno.test("user add refuses a name already taken, in any case, with exit code 1", async () => {
  await withServer(async (srv, db) => {
    assert.equal((await user(["add", "alice", "--db", db], "pw-one\n")).code, 0);
    const again = await user(["add", "ALICE", "--db", db], "pw-two\n");
    assertFails(again, 1, /^user: User "alice" already exists$/);
    assertSecret(again, "pw-two");
    assert.equal((await login(srv, "alice", "pw-one")).status, "ok", "unchanged");
    await using c = await srv.connect();
    await c.request({ type: "register", username: "Bob", password: "pw-bob" });
    assertFails(await user(["add", "bob", "--db", db], "x\n"), 1, /User "Bob" already exists/);
  });
});

Deno.test("user passwd changes the password: the old one fails, the new one works", async () => {
  await withServer(async (srv, db) => {
    assert.equal((await user(["add", "alice", "--db", db], "old-pw-1\n")).code, 0);
    const changed = await user(["passwd", "Alice", "--db", db], "new-pw-2\n");
    assert.equal(changed.code, 0, changed.err);
    assert.equal(changed.out, 'Changed the password of "alice"\n');
    assertSecret(changed, "new-pw-2");
    assert.equal((await login(srv, "alice", "old-pw-1")).code, "auth_failed");
    assert.equal((await login(srv, "alice", "new-pw-2")).status, "ok");
    const unknown = await user(["passwd", "nobody", "--db", db], "pw-x\n");
    assertFails(unknown, 1, /^user: No user "nobody"$/);
    assertSecret(unknown, "pw-x");
  });
});

Deno.test("user del removes the account and its offline messages", async () => {
  await withServer(async (srv, db) => {
    await using alice = await srv.connect();
    await alice.loginAs("alice", "pw-alice");
    await using carol = await srv.connect();
    await carol.request({ type: "register", username: "carol", password: "pw-carol" });
    carol.close();
    await alice.send({ type: "message", subtype: "private", to: "carol", content: "hi", id: 1 });
    assert.equal((await alice.json()).type, "ack"); // stored in carol's inbox
    const deleted = await user(["del", "Carol", "--db", db]);
    assert.equal(deleted.code, 0, deleted.err);
    assert.equal(deleted.out, 'Deleted user "carol" and their offline messages\n');
    assert.equal((await login(srv, "carol", "pw-carol")).code, "auth_failed");
    const kv = await Deno.openKv(db);
    try {
      assert.equal((await Array.fromAsync(kv.list({ prefix: ["inbox", "carol"] }))).length, 0);
    } finally {
      kv.close();
    }
    assertFails(await user(["del", "carol", "--db", db]), 1, /^user: No user "carol"$/);
  });
});

Deno.test("user list prints each account with its ISO creation date, by name", async () => {
  await withServer(async (_srv, db) => {
    assert.equal((await user(["list", "--db", db])).out, "");
    const before = Date.now();
    for (const name of ["émile", "Bob", "alice"]) {
      assert.equal((await user(["add", name, "--db", db], "pw\n")).code, 0);
    }
    const after = Date.now();
    const listed = await user(["list", "--db", db]);
    assert.equal(listed.code, 0, listed.err);
    const rows = listed.out.trimEnd().split("\n").map((l) => l.split("\t"));
    assert.deepEqual(rows.map((r) => r[0]), ["alice", "Bob", "émile"]);
    for (const [, iso] of rows) {
      assert.match(iso, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const t = Date.parse(iso);
      assert.ok(t >= before - 1000 && t <= after + 1000, iso);
    }
  });
});

Deno.test("a bad name, password or command fails with one line and creates nothing", async () => {
  await withServer(async (_srv, db) => {
    const cases: [string[], string | undefined, number, RegExp][] = [
      [["add", "", "--db", db], "pw\n", 2, /^user: Invalid name "": Name must not be empty$/],
      [["add", "a\u200bb", "--db", db], "pw\n", 2, /Invalid name .*invisible/],
      [["add", "x".repeat(65), "--db", db], "pw\n", 2, /at most 64 characters/],
      [["add", "ok", "--db", db], "\n", 2, /^user: The password must not be empty$/],
      [["add", "ok", "--db", db], `${"é".repeat(513)}\n`, 2, /at most 1024 bytes/],
      [["add", "ok", "--db", db], undefined, 2, /^user: No password on stdin$/],
      [["add", "--db", db], "pw\n", 2, /^user: Missing <name>/],
      [["add", "a", "b", "--db", db], "pw\n", 2, /^user: Unexpected argument "b"$/],
      [["rename", "a", "--db", db], undefined, 2, /^user: Unknown command "rename"/],
      [["list", "--verbose", "--db", db], undefined, 2, /^user: .*verbose/],
      [[], undefined, 2, /^user: Missing command/],
    ];
    for (const [args, stdin, code, pattern] of cases) {
      const result = await user(args, stdin);
      assertFails(result, code, pattern);
    }
    assert.equal((await user(["list", "--db", db])).out, "", "no account was created");
    const missing = db.replace(/\.kv$/, "_typo.kv");
    for (const command of ["list", "del", "passwd"]) {
      const args = command === "list" ? [command] : [command, "alice"];
      assertFails(
        await user([...args, "--db", missing]),
        1,
        /^user: Cannot open store .*no such file$/,
      );
    }
    await assert.rejects(Deno.stat(missing), Deno.errors.NotFound);
    // 1024 bytes is allowed (docs/protocol.md §9).
    const longest = "é".repeat(512);
    const ok = await user(["add", "ok", "--db", db], `${longest}\n`);
    assert.equal(ok.code, 0, ok.err);
    assertSecret(ok, longest);
    const help = await user(["--help"]);
    assert.equal(help.code, 0);
    for (const command of ["add", "passwd", "del", "list", "--db"]) {
      assert.ok(help.out.includes(command), command);
    }
  });
});

// Under a pseudo-terminal (util-linux `script`): the path where the password is typed.

/** Runs a shell command in a pseudo-terminal; `type` answers each prompt once it appears. */
async function inTerminal(command: string, type: [prompt: string, keys: string][]) {
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), SUBPROCESS_TIMEOUT_MS);
  const stdin = child.stdin.getWriter();
  const reader = child.stdout.getReader();
  let screen = "";
  try {
    let seen = 0;
    for (const [prompt, keys] of type) {
      // Typed only once the prompt is shown, so after the terminal left echo mode.
      while (screen.indexOf(prompt, seen) < 0) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`No prompt ${JSON.stringify(prompt)} in:\n${screen}`);
        screen += decoder.decode(value, { stream: true });
      }
      seen = screen.indexOf(prompt, seen) + prompt.length;
      await stdin.write(encoder.encode(keys));
    }
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      screen += decoder.decode(value, { stream: true });
    }
    const { code } = await child.status;
    await new Response(child.stderr).text();
    return { code, screen };
  } finally {
    clearTimeout(timer);
    await stdin.close().catch(() => {});
    reader.releaseLock();
  }
}

function quote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

function userCommand(args: string[]): string {
  // `stty -a` afterwards shows whether the terminal got its echo back.
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    "--config",
    CONFIG,
    ...PERMISSIONS,
    MAIN,
    "user",
    ...args,
  ]
    .map(quote).join(" ") + "; code=$?; stty -a; exit $code";
}

/** `echo` without a minus in `stty -a`: the terminal echoes again. */
const ECHO_ON = /(^|\s)echo(\s|;|$)/m;

Deno.test({
  name: "user add on a terminal reads the password twice without echo, with backspace",
  ...needs("script"),
  async fn() {
    await withServer(async (srv, db) => {
      const { code, screen } = await inTerminal(userCommand(["add", "dora", "--db", db]), [
        ['Password for "dora": ', "Tty-Secret-9q\x7fZ\r"], // Backspace erases the "q"
        ["Repeat the password: ", "Tty-Secret-9Z\r"],
      ]);
      assert.equal(code, 0, screen);
      assert.match(screen, /Added user "dora"/);
      assert.ok(!screen.includes("Tty-Secret"), `password echoed:\n${screen}`);
      assert.match(screen, ECHO_ON);
      assert.equal((await login(srv, "dora", "Tty-Secret-9Z")).status, "ok");
    });
  },
});

Deno.test({
  name: "user passwd on a terminal stops on Ctrl-C or different typings and restores echo",
  ...needs("script"),
  async fn() {
    await withServer(async (srv, db) => {
      assert.equal((await user(["add", "dora", "--db", db], "first-pw\n")).code, 0);
      const interrupted = await inTerminal(userCommand(["passwd", "dora", "--db", db]), [
        ['New password for "dora": ', "half-typed\x03"],
      ]);
      assert.equal(interrupted.code, 130, interrupted.screen);
      assert.match(interrupted.screen, /user: interrupted/);
      assert.ok(!interrupted.screen.includes("half-typed"));
      assert.match(interrupted.screen, ECHO_ON);
      const mismatch = await inTerminal(userCommand(["passwd", "dora", "--db", db]), [
        ['New password for "dora": ', "one-typing\r"],
        ["Repeat the password: ", "another-typing\r"],
      ]);
      assert.equal(mismatch.code, 1, mismatch.screen);
      assert.match(mismatch.screen, /user: The passwords do not match/);
      assert.ok(!/one-typing|another-typing/.test(mismatch.screen));
      assert.match(mismatch.screen, ECHO_ON);
      assert.equal((await login(srv, "dora", "first-pw")).status, "ok", "unchanged");
    });
  },
});
