// deno task import: an old Python deployment (users.pkl, classcord.db) migrated in one command,
// then used through a real server; python3 builds the old files (tests/fixtures/old_deployment.py).
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseOldTimestamp } from "../src/commands/import/old_messages.ts";
import { decodeRawUnicodeEscape } from "../src/commands/import/pickle.ts";
import { startTestServer, type TestClient } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixtures/old_deployment.py", import.meta.url));
// The permissions of `deno task import` (deno.json).
// The permissions of the tasks (and of the compiled binary).
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];
// A deadline for a process that hangs, not a speed check: real argon2id hashes, a cold start.
const PROCESS_TIMEOUT_MS = 60_000;
// The import reads zone-less old timestamps as local time: a fixed zone with summer time.
const TZ = "Europe/Paris";

/** The accounts of the fixture that the server accepts, with their old passwords. */
const ACCOUNTS: [string, string][] = [
  ["alice", "wonderland"],
  ["Élodie", "mot de passe é"],
  ["Zoë😀", "🔑 clé € \\ back\nslash"],
  ["bob", "café\u0085"],
];
/** Passwords of entries the import skips: none may log in, or show in any output. */
const SKIPPED_PASSWORDS = ["pw-of-a-bad-name", "another-alice"];

const USERS_SUMMARY =
  "users: 4 created, 0 already present, 4 skipped (1 invalid name, 2 invalid passwords, 1 duplicate name)";
const MESSAGES_SUMMARY =
  "messages: 8 imported, 0 already present, 4 skipped (1 invalid channel, 2 invalid timestamps, 1 invalid row)";

/** History of each channel after importing the fixture, as the protocol returns it. */
const HISTORY: Record<string, Record<string, unknown>[]> = {
  "#général": [
    msg(8, "Élodie", "#général", "écrit la veille", "2023-09-03T17:45:00.000"),
    msg(1, "alice", "#général", "Bonjour à tous", "2023-09-04T08:00:00.000"),
    msg(2, "Élodie", "#général", "Salut 😀", "2023-09-04T08:01:30.250"),
    msg(4, "alice", "#général", "ok", "2023-09-04T08:10:00.000"),
    msg(5, "alice", "#général", "ok", "2023-09-04T08:10:00.000"),
  ],
  "#sisr": [
    msg(3, "bob", "#sisr", "TP réseau\nligne 2", "2023-09-04T08:05:00.000"),
    // "2023-09-04T10:20:00+02:00" is 10:20 in Paris too.
    msg(7, "bob", "#sisr", "avec décalage", "2023-09-04T10:20:00.000"),
  ],
  // "2023-09-04T06:15:00Z": 08:15 in Paris (UTC+2 in September).
  "#slam": [msg(6, "invité", "#slam", "depuis Z", "2023-09-04T08:15:00.000")],
};

function msg(seq: number, from: string, channel: string, content: string, timestamp: string) {
  return { type: "message", from, channel, content, timestamp, seq };
}

interface Output {
  code: number;
  stdout: string[];
  stderr: string[];
}

/**
 * Runs a program to its end, killed after PROCESS_TIMEOUT_MS; output split into lines. `env`
 * adds to the inherited environment.
 */
async function exec(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Output> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: { TZ, ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, PROCESS_TIMEOUT_MS);
  try {
    const { code, stdout, stderr } = await child.output();
    const lines = (bytes: Uint8Array) =>
      new TextDecoder().decode(bytes).split("\n").filter((l) => l !== "");
    const out = { code, stdout: lines(stdout), stderr: lines(stderr) };
    if (timedOut) throw new Error(`${cmd} killed after ${PROCESS_TIMEOUT_MS} ms: ${out.stderr}`);
    return out;
  } finally {
    clearTimeout(timer);
  }
}

/** `deno task import ...args`, as its task runs it. */
function importer(...args: string[]): Promise<Output> {
  return importerIn({}, ...args);
}

/** {@link importer} in `cwd`, with `INIT_CWD` (where `deno task` says the user typed it). */
function importerIn(
  options: { cwd?: string; initCwd?: string },
  ...args: string[]
): Promise<Output> {
  return exec(
    Deno.execPath(),
    ["run", "--quiet", "--config", CONFIG, ...PERMISSIONS, MAIN, "import", ...args],
    { cwd: options.cwd, env: options.initCwd ? { INIT_CWD: options.initCwd } : {} },
  );
}

/** The old deployment's files in a temp folder, and the path of a new KV file beside them. */
interface OldDeployment extends AsyncDisposable {
  dir: string;
  db: string;
}

async function oldDeployment(): Promise<OldDeployment> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  const built = await exec("python3", [FIXTURE, dir]);
  assert.equal(built.code, 0, `old_deployment.py failed: ${built.stderr.join("\n")}`);
  return {
    dir,
    db: `${dir}/new/classcord.kv`,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function history(c: TestClient, channel: string): Promise<Record<string, unknown>> {
  return await c.request({ type: "history", channel, limit: 200 });
}

/** Every entry of a KV file, versionstamps included: equal only if nothing was written. */
async function snapshot(db: string): Promise<Deno.KvEntry<unknown>[]> {
  const kv = await Deno.openKv(db);
  try {
    return await Array.fromAsync(kv.list({ prefix: [] }));
  } finally {
    kv.close();
  }
}

async function assertAccounts(db: string): Promise<void> {
  await using srv = await startTestServer({ db, retentionDays: 0 });
  await using c = await srv.connect();
  for (const [name, password] of ACCOUNTS) {
    assert.deepEqual(await c.request({ type: "login", username: name, password }), {
      type: "login",
      status: "ok",
      username: name,
    });
    const wrong = await c.request({ type: "login", username: name, password: password + "x" });
    assert.equal(wrong.type, "error", `${name} with a wrong password`);
    assert.equal(wrong.message, "Login failed.");
  }
  // The skipped entries: "ALICE" lost to "alice", the others have no account.
  for (
    const [name, password] of [
      ["alice", "another-alice"],
      ["bad\x07name", "pw-of-a-bad-name"],
      ["empty", "x"],
      ["long", "x".repeat(1025)],
    ]
  ) {
    const reply = await c.request({ type: "login", username: name, password });
    assert.equal(reply.type, "error", `${JSON.stringify(name)} logged in`);
  }
}

Deno.test(
  "import of users.pkl creates accounts that log in with their old passwords",
  needs("python3"),
  async () => {
    await using old = await oldDeployment();
    const out = await importer("--users", `${old.dir}/users.pkl`, "--db", old.db);
    assert.equal(out.code, 0, out.stderr.join("\n"));
    assert.deepEqual(out.stdout, [USERS_SUMMARY]);
    assert.deepEqual(out.stderr, [
      'import: skipped user "bad\\u0007name": Name must not contain control or invisible characters',
      'import: skipped user "empty": password is empty',
      'import: skipped user "long": password is longer than 1024 bytes',
      'import: skipped user "ALICE": same name as "alice" for the server',
    ]);
    await assertAccounts(old.db);
  },
);

Deno.test(
  "import of a protocol 0 users.pkl gives the same accounts, emoji and escapes included",
  needs("python3"),
  async () => {
    await using old = await oldDeployment();
    const out = await importer("--users", `${old.dir}/users_p0.pkl`, "--db", old.db);
    assert.equal(out.code, 0, out.stderr.join("\n"));
    assert.deepEqual(out.stdout, [USERS_SUMMARY]);
    await assertAccounts(old.db);
  },
);

Deno.test(
  "imported passwords are argon2id hashes with the protocol's parameters, in no file and no output",
  needs("python3"),
  async () => {
    await using old = await oldDeployment();
    const out = await importer("--users", `${old.dir}/users.pkl`, "--db", old.db);
    assert.equal(out.code, 0, out.stderr.join("\n"));
    const kv = await Deno.openKv(old.db);
    try {
      const users = await Array.fromAsync(kv.list<{ name: string; passwordHash: string }>({
        prefix: ["users"],
      }));
      assert.deepEqual(users.map((e) => e.value.name).sort(), ACCOUNTS.map(([n]) => n).sort());
      for (const { value } of users) {
        assert.match(value.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[^$]+\$[^$]+$/);
      }
    } finally {
      kv.close();
    }
    const printed = [...out.stdout, ...out.stderr].join("\n");
    const files = [];
    for await (const e of Deno.readDir(`${old.dir}/new`)) {
      files.push({ name: e.name, bytes: await Deno.readFile(`${old.dir}/new/${e.name}`) });
    }
    assert.ok(files.length > 0);
    for (const password of [...ACCOUNTS.map(([, p]) => p), ...SKIPPED_PASSWORDS]) {
      assert.ok(!printed.includes(password), `password printed: ${JSON.stringify(password)}`);
      const marker = new TextEncoder().encode(password);
      for (const { name, bytes } of files) {
        assert.equal(indexOf(bytes, marker), -1, `${JSON.stringify(password)} found in ${name}`);
      }
    }
  },
);

Deno.test(
  "imported messages are channel history in time order with ISO timestamps",
  needs("python3"),
  async () => {
    await using old = await oldDeployment();
    const out = await importer(
      "--users",
      `${old.dir}/users.pkl`,
      "--messages",
      `${old.dir}/classcord.db`,
      "--db",
      old.db,
    );
    assert.equal(out.code, 0, out.stderr.join("\n"));
    assert.deepEqual(out.stdout, [USERS_SUMMARY, MESSAGES_SUMMARY]);
    // Skipped rows are named by position and reason, never by content.
    assert.deepEqual(out.stderr.filter((l) => l.includes("message row")), [
      'import: skipped message row 8: channel "bad channel": Channel name must be one word without control characters',
      'import: skipped message row 9: timestamp "yesterday"',
      'import: skipped message row 10: timestamp "2023-02-30 10:00:00"',
      "import: skipped message row 12: username or content is not text",
    ]);
    // 2023 is past the server's default retention of 365 days.
    assert.match(
      out.stderr.at(-1)!,
      /8 imported messages are older than 365 days.*--retention-days 0/,
    );
    {
      await using srv = await startTestServer({ db: old.db, retentionDays: 0 });
      await using c = await srv.connect();
      await c.login("alice", "wonderland");
      for (const [channel, messages] of Object.entries(HISTORY)) {
        assert.deepEqual(await history(c, channel), { type: "history", messages, more: false });
      }
      // Legacy spellings of the default channel read the same history.
      assert.deepEqual((await history(c, "general")).messages, HISTORY["#général"]);
    }
    const kv = await Deno.openKv(old.db);
    try {
      assert.equal((await kv.get(["seq"])).value, 8);
      const z = (await kv.get<{ ts: number }>(["msg", 6])).value!;
      assert.equal(z.ts, Date.UTC(2023, 8, 4, 6, 15));
      // Local time of the importing machine: 08:00 in Paris is 06:00 UTC.
      assert.equal((await kv.get<{ ts: number }>(["msg", 1])).value!.ts, Date.UTC(2023, 8, 4, 6));
    } finally {
      kv.close();
    }
  },
);

Deno.test("a second import of the same files changes nothing", needs("python3"), async () => {
  await using old = await oldDeployment();
  const args = [
    "--users",
    `${old.dir}/users.pkl`,
    "--messages",
    `${old.dir}/classcord.db`,
    "--db",
    old.db,
  ];
  assert.equal((await importer(...args)).code, 0);
  const before = await snapshot(old.db);
  const again = await importer(...args);
  assert.equal(again.code, 0, again.stderr.join("\n"));
  assert.deepEqual(again.stdout, [
    "users: 0 created, 4 already present, 4 skipped (1 invalid name, 2 invalid passwords, 1 duplicate name)",
    "messages: 0 imported, 8 already present, 4 skipped (1 invalid channel, 2 invalid timestamps, 1 invalid row)",
  ]);
  assert.deepEqual(await snapshot(old.db), before);
  // A protocol 0 copy of the same accounts finds them all.
  const p0 = await importer("--users", `${old.dir}/users_p0.pkl`, "--db", old.db);
  assert.match(p0.stdout[0], /^users: 0 created, 4 already present/);
  assert.deepEqual(await snapshot(old.db), before);
});

Deno.test(
  "an import larger than a batch and a commit keeps every row once, also when run again",
  needs("python3"),
  async () => {
    await using old = await oldDeployment();
    const args = ["--messages", `${old.dir}/bulk.db`, "--db", old.db];
    const first = await importer(...args);
    assert.equal(first.code, 0, first.stderr.join("\n"));
    assert.deepEqual(first.stdout, ["messages: 1201 imported, 0 already present, 0 skipped"]);
    const again = await importer(...args);
    assert.equal(again.code, 0, again.stderr.join("\n"));
    assert.deepEqual(again.stdout, ["messages: 0 imported, 1201 already present, 0 skipped"]);
    const kv = await Deno.openKv(old.db);
    try {
      assert.equal((await kv.get(["seq"])).value, 1201);
      const index = await Array.fromAsync(kv.list({ prefix: ["chan"] }));
      assert.equal(index.length, 1201);
      // The repeated first row (seq 1201) sits beside the first one in time order.
      assert.deepEqual(index.slice(0, 3).map((e) => e.key[3]), [1, 1201, 2]);
    } finally {
      kv.close();
    }
    await using srv = await startTestServer({ db: old.db, retentionDays: 0 });
    await using c = await srv.connect();
    await c.loginAs("carol", "pw-carol");
    const page = await history(c, "#général");
    assert.equal(page.more, true);
    const messages = page.messages as Record<string, unknown>[];
    assert.equal(messages.length, 200);
    assert.deepEqual(
      messages.at(-1),
      msg(1200, "alice", "#général", "message 1199", "2023-09-05T09:19:59.000"),
    );
  },
);

Deno.test(
  "import reads --users, --messages and --db relative to INIT_CWD and names them absolute",
  needs("python3"),
  async () => {
    await using old = await oldDeployment();
    // As `deno task import` runs it from the old deployment's folder: the process in the
    // project's root, the user's directory in INIT_CWD.
    const root = await Deno.makeTempDir({ dir: old.dir, prefix: "project_" });
    const user = await Deno.realPath(old.dir);
    const opts = { cwd: root, initCwd: user };
    const out = await importerIn(
      opts,
      "--users",
      "users.pkl",
      "--messages",
      "classcord.db",
      "--db",
      "new/classcord.kv",
    );
    assert.equal(out.code, 0, out.stderr.join("\n"));
    assert.deepEqual(out.stdout, [USERS_SUMMARY, MESSAGES_SUMMARY]);
    await assertAccounts(old.db);
    for (
      const [flag, file, what] of [
        ["--users", "missing.pkl", "users"],
        ["--messages", "missing.db", "messages"],
      ]
    ) {
      const missing = await importerIn(opts, flag, file, "--db", "new/classcord.kv");
      assert.equal(missing.code, 1, file);
      assert.deepEqual(missing.stderr, [
        `import: Cannot read ${what} from "${join(user, file)}": ` +
        "No such file or directory (os error 2)",
      ]);
    }
    assert.deepEqual(await Array.fromAsync(Deno.readDir(root)), []);
  },
);

Deno.test("import with bad arguments exits 2 with one line", async () => {
  for (
    const args of [[], ["--bogus"], ["--users"], ["users.pkl"], ["--messages", ""], ["--db", "x"]]
  ) {
    const out = await importer(...args);
    assert.equal(out.code, 2, JSON.stringify(args));
    assert.deepEqual(out.stdout, [], JSON.stringify(args));
    assert.equal(out.stderr.length, 1, JSON.stringify(args));
    assert.match(out.stderr[0], /^import: /);
  }
});

Deno.test("import --help documents every flag and exits 0", async () => {
  const out = await importer("--help");
  assert.equal(out.code, 0);
  for (const flag of ["--users", "--messages", "--db", "--help"]) {
    assert.ok(out.stdout.some((l) => l.includes(flag)), flag);
  }
});

Deno.test(
  "a pickle that is not a dict of strings stops the import with one line, nothing written",
  needs("python3"),
  async () => {
    await using old = await oldDeployment();
    for (
      const [file, error] of [
        ["not_a_dict.pkl", /expected a dict of name -> password, found a list or tuple$/],
        ["int_password.pkl", /expected a dict of strings, found a number for "carol"$/],
        ["classcord.db", /not a readable pickle/],
        ["missing.pkl", /No such file/],
      ] as const
    ) {
      const out = await importer(
        "--users",
        `${old.dir}/${file}`,
        "--messages",
        `${old.dir}/classcord.db`,
        "--db",
        old.db,
      );
      assert.equal(out.code, 1, file);
      assert.deepEqual(out.stdout, [], file);
      assert.equal(out.stderr.length, 1, file);
      assert.match(out.stderr[0], /^import: Cannot read users from ".*": /);
      assert.match(out.stderr[0], error);
    }
    await assert.rejects(Deno.stat(old.db), Deno.errors.NotFound);
  },
);

Deno.test(
  "a messages file without the table or its columns stops the import with one line",
  needs("python3"),
  async () => {
    await using old = await oldDeployment();
    for (
      const [file, error] of [
        ["no_table.db", /no table "messages"/],
        ["no_timestamp.db", /table "messages" has no column "timestamp"$/],
        ["users.pkl", /file is not a database$/],
      ] as const
    ) {
      const out = await importer("--messages", `${old.dir}/${file}`, "--db", old.db);
      assert.equal(out.code, 1, file);
      assert.equal(out.stderr.length, 1, file);
      assert.match(out.stderr[0], /^import: Cannot read messages from ".*": /);
      assert.match(out.stderr[0], error);
    }
    await assert.rejects(Deno.stat(old.db), Deno.errors.NotFound);
  },
);

Deno.test("parseOldTimestamp() reads both old formats, as local time unless an offset is given", () => {
  const local = (...p: [number, number, number, number, number, number, number?]) =>
    new Date(p[0], p[1] - 1, p[2], p[3], p[4], p[5], p[6] ?? 0).getTime();
  assert.equal(parseOldTimestamp("2023-09-04 08:01:30"), local(2023, 9, 4, 8, 1, 30));
  assert.equal(parseOldTimestamp("2023-09-04 08:01:30.250999"), local(2023, 9, 4, 8, 1, 30, 250));
  assert.equal(parseOldTimestamp("2023-09-04T08:01:30.5"), local(2023, 9, 4, 8, 1, 30, 500));
  assert.equal(parseOldTimestamp("2023-09-04T08:01:30Z"), Date.UTC(2023, 8, 4, 8, 1, 30));
  assert.equal(parseOldTimestamp("2023-09-04T08:01:30+02:00"), Date.UTC(2023, 8, 4, 6, 1, 30));
  assert.equal(parseOldTimestamp("2023-09-04 08:01:30-0130"), Date.UTC(2023, 8, 4, 9, 31, 30));
  assert.equal(parseOldTimestamp("2024-02-29 00:00:00"), local(2024, 2, 29, 0, 0, 0));
  for (
    const bad of [
      "yesterday",
      "2023-02-29 10:00:00",
      "2023-13-01 10:00:00",
      "2023-09-04 24:00:00",
      "2023-09-04",
      "0000-00-00 00:00:00",
      "0001-01-01 00:00:00",
      "2023-09-04T08:01:30+25:00",
      1693814400,
      null,
    ]
  ) {
    assert.equal(parseOldTimestamp(bad), undefined, String(bad));
  }
});

Deno.test("decodeRawUnicodeEscape() reads protocol 0 strings as Python wrote them", () => {
  const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  assert.equal(decodeRawUnicodeEscape(bytes("caf\xe9\x85")), "café\u0085");
  assert.equal(decodeRawUnicodeEscape(bytes("\\U0001f600 \\u20ac \\u005c")), "😀 € \\");
  // An even run of backslashes is literal (Python 2 pickles did not escape them).
  assert.equal(decodeRawUnicodeEscape(bytes("\\\\u20ac")), "\\\\u20ac");
  assert.equal(decodeRawUnicodeEscape(bytes("\\\\\\u20ac")), "\\\\€");
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
