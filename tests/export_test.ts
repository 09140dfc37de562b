// `deno task export` as an operator runs it: formats, order, filters, file names, exit codes, streaming.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatTimestamp } from "../src/protocol/replies.ts";
import { KvStore } from "../src/store/kv_store.ts";
import type { Append } from "../src/store/store.ts";
import { startTestServer } from "./helpers/test_server.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
// The permissions of the tasks (and of the compiled binary).
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];
/** Deadline of one export run: a hung script fails its test instead of the suite. */
const RUN_TIMEOUT_MS = 60_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `classcord export` in a subprocess, killed after {@link RUN_TIMEOUT_MS}; `initCwd` is
 * the directory `deno task` would say the user typed the command in.
 */
async function exportRun(
  args: string[],
  options: { cwd?: string; initCwd?: string; v8Flags?: string } = {},
): Promise<Run> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), RUN_TIMEOUT_MS);
  try {
    const v8 = options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : [];
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--config", CONFIG, ...PERMISSIONS, ...v8, MAIN, "export", ...args],
      cwd: options.cwd,
      // The caller's CLASSCORD_DB must not leak into a run that leaves out --db.
      env: { ...childEnv(), ...(options.initCwd ? { INIT_CWD: options.initCwd } : {}) },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    // ignoreBOM: a byte-order mark stays in the text, as U+FEFF.
    const text = new TextDecoder("utf-8", { ignoreBOM: true });
    return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

function childEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.CLASSCORD_DB;
  // Set when the tests run under `deno task`: paths would be resolved against it, not cwd.
  delete env.INIT_CWD;
  return { ...env, NO_COLOR: "1" };
}

/** A temp folder with a KV file path; `await using` removes it. */
async function tempDb(): Promise<{ dir: string; db: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_export_test_" });
  return {
    dir,
    db: `${dir}/classcord.kv`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A message to seed: channel `null` is a private message to `to`. */
interface Seed {
  channel: string | null;
  from: string;
  content: string;
  /** Local time, e.g. `new Date(2026, 2, 2, 14, 5)`. */
  at: Date;
  to?: string;
}

/** Stores the messages through the real store, seq in the given order. */
async function seed(db: string, messages: Seed[]): Promise<void> {
  const store = await KvStore.open(db);
  try {
    let seq = await store.lastSeq();
    const batch: Append[] = messages.map((m) => {
      const ts = m.at.getTime();
      const line = {
        type: "message",
        ...(m.channel === null ? { to: m.to } : { channel: m.channel }),
        content: m.content,
        from: m.from,
        timestamp: formatTimestamp(ts),
        seq: ++seq,
      };
      const message = { seq, ts, channel: m.channel, ...(m.to ? { to: m.to } : {}), line };
      return m.channel === null
        ? { message: { ...message, line: { ...line, subtype: "private" } } }
        : { message };
    });
    await store.append(batch);
  } finally {
    store.close();
  }
}

/** What the export should say of a seeded message. */
function expected(m: Seed) {
  return {
    username: m.from,
    channel: m.channel,
    content: m.content,
    timestamp: formatTimestamp(m.at.getTime()),
  };
}

/** RFC 4180 reader: quoted fields with doubled quotes, commas and line breaks inside. */
function parseCsv(text: string): string[][] {
  const field = /(?:"([^"]*(?:""[^"]*)*)"|([^",\r\n]*))(,|\r?\n|$)/y;
  const rows: string[][] = [];
  let row: string[] = [];
  while (field.lastIndex < text.length) {
    const at = field.lastIndex;
    const m = field.exec(text);
    assert.ok(m && field.lastIndex > at, `CSV syntax error at ${at}`);
    row.push(m[1] !== undefined ? m[1].replaceAll('""', '"') : m[2]);
    if (m[3] !== ",") {
      rows.push(row);
      row = [];
    }
  }
  assert.equal(row.length, 0, "CSV ends with a complete row");
  return rows;
}

const day = (d: number, h = 9, m = 0, s = 0) => new Date(2026, 2, d, h, m, s);

// Seq order interleaves the channels; export order is channel (key order) then time.
const SAMPLE: Seed[] = [
  { channel: "#sisr", from: "Alice", content: "bonjour", at: day(2, 9) },
  { channel: "#général", from: "bob", content: "salut", at: day(2, 9, 1) },
  { channel: "#bts", from: "Élodie", content: "hello", at: day(2, 9, 2) },
  { channel: null, to: "bob", from: "Alice", content: "secret-dm", at: day(2, 9, 3) },
  { channel: "#sisr", from: "bob", content: "ça va ?", at: day(2, 9, 4) },
  { channel: "#général", from: "Élodie", content: "oui", at: day(3, 10) },
  { channel: "#sisr", from: "ÉLODIE", content: "et toi", at: day(4, 11) },
];
const IN_ORDER = ["#bts", "#général", "#sisr"].flatMap((c) =>
  SAMPLE.filter((m) => m.channel === c).map(expected)
);

Deno.test("export writes a JSON array of username, channel, content, timestamp by channel then time", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, SAMPLE);
  const out = `${tmp.dir}/out.json`;
  const run = await exportRun(["--db", tmp.db, "--out", out]);
  assert.equal(run.code, 0, run.stderr);
  const records = JSON.parse(await Deno.readTextFile(out));
  assert.deepEqual(records, IN_ORDER);
  for (const r of records) {
    assert.deepEqual(Object.keys(r), ["username", "channel", "content", "timestamp"]);
  }
  // Not a terminal: no progress bar, only the summary line.
  assert.equal(run.stderr, `Exported ${IN_ORDER.length} messages to ${out}\n`);
  assert.equal(run.stdout, "");
});

Deno.test("export of an empty store is an empty JSON array and a CSV header", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, []);
  const json = await exportRun(["--db", tmp.db, "--out", "-"]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), []);
  assert.equal(json.stderr, "Exported 0 messages to stdout\n");
  const csv = await exportRun(["--db", tmp.db, "--out", "-", "--format", "csv"]);
  assert.equal(csv.stdout, "Username,Channel,Content,Timestamp\n");
});

Deno.test("CSV export quotes commas, quotes and line breaks and keeps UTF-8", async () => {
  await using tmp = await tempDb();
  const contents = [
    "a, b, c",
    'il a dit "bonjour"',
    "ligne 1\nligne 2",
    "crlf\r\nfin",
    "  espaces  ",
    "accents éèàç ñ 日本語 😀",
    '",\n"',
    "",
  ];
  const messages = contents.map((content, i): Seed => ({
    channel: "#général",
    from: i % 2 ? 'Zoé, "la" prof' : "bob",
    content,
    at: day(5, 8, i),
  }));
  await seed(tmp.db, messages);
  // The format follows the .csv extension.
  const out = `${tmp.dir}/out.csv`;
  const run = await exportRun(["--db", tmp.db, "--out", out]);
  assert.equal(run.code, 0, run.stderr);
  const text = await Deno.readTextFile(out);
  assert.ok(text.startsWith("Username,Channel,Content,Timestamp\n"), text.slice(0, 60));
  assert.ok(text.includes('"il a dit ""bonjour"""'));
  assert.deepEqual(parseCsv(text), [
    ["Username", "Channel", "Content", "Timestamp"],
    ...messages.map((m) => {
      const e = expected(m);
      return [e.username, e.channel!, e.content, e.timestamp];
    }),
  ]);
  // UTF-8 without a byte-order mark; the same bytes with --format csv on stdout.
  const bytes = await Deno.readFile(out);
  assert.notDeepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  const stdout = await exportRun(["--db", tmp.db, "--format", "csv", "--out", "-"]);
  assert.equal(stdout.stdout, text);
});

Deno.test("--bom starts a CSV file or stdout with the UTF-8 byte-order mark EF BB BF", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, SAMPLE);
  const plain = `${tmp.dir}/plain.csv`;
  assert.equal((await exportRun(["--db", tmp.db, "--out", plain])).code, 0);
  const expectedBytes = await Deno.readFile(plain);
  const out = `${tmp.dir}/excel.csv`;
  const run = await exportRun(["--db", tmp.db, "--out", out, "--bom"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stderr, `Exported ${IN_ORDER.length} messages to ${out}\n`);
  const bytes = await Deno.readFile(out);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  // Then exactly the CSV without it: "#général" in UTF-8.
  assert.deepEqual(bytes.subarray(3), expectedBytes);
  const stdout = await exportRun(["--db", tmp.db, "--format", "csv", "--bom", "--out", "-"]);
  assert.equal(stdout.code, 0, stdout.stderr);
  assert.ok(stdout.stdout.startsWith("\ufeffUsername,Channel,Content,Timestamp\n"));
  assert.equal(stdout.stdout, new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes));
});

/**
 * `deno task export <args>` typed in `cwd`, as the README writes it (the store is then the
 * default ./data/classcord.kv there), killed after {@link RUN_TIMEOUT_MS}. deno task prints its
 * `Task export ...` line first on stderr.
 */
async function exportTask(args: string[], cwd: string): Promise<Run> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", CONFIG, "export", ...args],
    cwd,
    env: childEnv(),
    clearEnv: true,
    stdin: "null",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).output();
  const text = new TextDecoder("utf-8", { ignoreBOM: true });
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

// Messages whose fields need quoting with ";" and CRLF: the separator, a quote, a line break.
const EXCEL_SAMPLE: Seed[] = [
  { channel: "#sisr", from: "Zoé", content: 'Prix : 3,50 € ; "promo" à l\'école', at: day(5, 8) },
  { channel: "#général", from: "bob", content: "pas dans l'export", at: day(5, 8, 1) },
  { channel: "#sisr", from: "bob", content: "ligne 1\nligne 2", at: day(5, 8, 2) },
  { channel: "#sisr", from: "Élodie", content: "d'accord", at: day(5, 8, 3) },
];

Deno.test("--excel writes what French Excel opens: BOM, ';' between fields, CRLF, fields quoted", async () => {
  await using tmp = await tempDb();
  await Deno.mkdir(`${tmp.dir}/data`);
  await seed(`${tmp.dir}/data/classcord.kv`, EXCEL_SAMPLE);
  const run = await exportTask(["--channel", "sisr", "--excel"], tmp.dir);
  assert.equal(run.code, 0, run.stderr);
  const made = (await Array.fromAsync(Deno.readDir(tmp.dir), (e) => e.name))
    .filter((n) => n.startsWith("messages_"));
  assert.equal(made.length, 1, made.join(" "));
  assert.match(made[0], /^messages_sisr_\d{8}-\d{6}\.csv$/);
  const ts = (m: Seed) => expected(m).timestamp;
  const [zoe, , bob, elodie] = EXCEL_SAMPLE;
  const bytes = await Deno.readFile(`${tmp.dir}/${made[0]}`);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  assert.deepEqual(
    bytes,
    new TextEncoder().encode(
      "\ufeffUsername;Channel;Content;Timestamp\r\n" +
        `Zoé;#sisr;"Prix : 3,50 € ; ""promo"" à l'école";${ts(zoe)}\r\n` +
        `bob;#sisr;"ligne 1\nligne 2";${ts(bob)}\r\n` +
        `Élodie;#sisr;d'accord;${ts(elodie)}\r\n`,
    ),
  );
});

Deno.test("--separator sets the CSV's separator alone; --excel --separator , keeps BOM and CRLF", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, EXCEL_SAMPLE);
  const [zoe, , bob, elodie] = EXCEL_SAMPLE;
  const ts = (m: Seed) => expected(m).timestamp;
  // No --format: --separator means CSV.
  const semicolon = await exportRun([
    "--db",
    tmp.db,
    "--channel",
    "sisr",
    "--separator",
    ";",
    "--out",
    "-",
  ]);
  assert.equal(semicolon.code, 0, semicolon.stderr);
  assert.equal(
    semicolon.stdout,
    "Username;Channel;Content;Timestamp\n" +
      `Zoé;#sisr;"Prix : 3,50 € ; ""promo"" à l'école";${ts(zoe)}\n` +
      `bob;#sisr;"ligne 1\nligne 2";${ts(bob)}\n` +
      `Élodie;#sisr;d'accord;${ts(elodie)}\n`,
  );
  const english = await exportRun([
    "--db",
    tmp.db,
    "--channel",
    "sisr",
    "--excel",
    "--separator",
    ",",
    "--out",
    "-",
  ]);
  assert.equal(english.code, 0, english.stderr);
  assert.equal(
    english.stdout,
    "\ufeffUsername,Channel,Content,Timestamp\r\n" +
      `Zoé,#sisr,"Prix : 3,50 € ; ""promo"" à l'école",${ts(zoe)}\r\n` +
      `bob,#sisr,"ligne 1\nligne 2",${ts(bob)}\r\n` +
      `Élodie,#sisr,d'accord,${ts(elodie)}\r\n`,
  );
  // A tab, as a shell passes it ($'\t').
  const tab = await exportRun([
    "--db",
    tmp.db,
    "--channel",
    "sisr",
    "--separator",
    "\t",
    "--out",
    "-",
  ]);
  assert.equal(tab.code, 0, tab.stderr);
  assert.equal(tab.stdout.split("\n")[0], "Username\tChannel\tContent\tTimestamp");
});

Deno.test("--channel takes sisr, #sisr or SISR, and the default channel's spellings", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, SAMPLE);
  const sisr = IN_ORDER.filter((r) => r.channel === "#sisr");
  for (const spelling of ["sisr", "#sisr", "SISR"]) {
    const run = await exportRun(["--db", tmp.db, "--channel", spelling, "--out", "-"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), sisr, spelling);
  }
  const general = IN_ORDER.filter((r) => r.channel === "#général");
  for (const spelling of ["général", "#général", "general", "#GÉNÉRAL"]) {
    const run = await exportRun(["--db", tmp.db, "--channel", spelling, "--out", "-"]);
    assert.deepEqual(JSON.parse(run.stdout), general, spelling);
  }
  const none = await exportRun(["--db", tmp.db, "--channel", "nobody-here", "--out", "-"]);
  assert.deepEqual(JSON.parse(none.stdout), []);
});

Deno.test("--since is inclusive and --until exclusive, in local time", async () => {
  await using tmp = await tempDb();
  const messages: Seed[] = [
    { channel: "#sisr", from: "a", content: "before", at: day(1, 23, 59, 59) },
    { channel: "#sisr", from: "a", content: "midnight", at: day(2, 0) },
    { channel: "#sisr", from: "a", content: "noon", at: day(2, 12) },
    { channel: "#sisr", from: "a", content: "next day", at: day(3, 0) },
  ];
  await seed(tmp.db, messages);
  const contents = async (...args: string[]) => {
    const run = await exportRun(["--db", tmp.db, "--out", "-", ...args]);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout).map((r: { content: string }) => r.content);
  };
  assert.deepEqual(await contents("--since", "2026-03-02", "--until", "2026-03-03"), [
    "midnight",
    "noon",
  ]);
  assert.deepEqual(await contents("--since", "2026-03-02T12:00"), ["noon", "next day"]);
  assert.deepEqual(await contents("--until", "2026-03-02T00:00:00"), ["before"]);
  assert.deepEqual(await contents("--since", "2026-03-01T23:59:59", "--until", "2026-03-02"), [
    "before",
  ]);
});

Deno.test("--user matches the sender whatever the case or normalisation", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, SAMPLE);
  const elodie = IN_ORDER.filter((r) => r.username.toLowerCase() === "élodie");
  assert.equal(elodie.length, 3);
  // "E" + combining acute accent: NFD spelling of "É".
  for (const name of ["élodie", "ÉLODIE", "E\u0301lodie"]) {
    const run = await exportRun(["--db", tmp.db, "--user", name, "--out", "-"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), elodie, name);
  }
  const both = await exportRun([
    "--db",
    tmp.db,
    "--user",
    "BOB",
    "--channel",
    "sisr",
    "--out",
    "-",
  ]);
  assert.deepEqual(JSON.parse(both.stdout), [expected(SAMPLE[4])]);
});

Deno.test("without --out the file is messages[_<channel>]_<YYYYMMDD-HHMMSS>.<format> here", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, SAMPLE);
  const cwd = `${tmp.dir}/out`;
  await Deno.mkdir(cwd);
  const cases: [string[], RegExp][] = [
    [[], /^messages_\d{8}-\d{6}\.json$/],
    [["--format", "csv"], /^messages_\d{8}-\d{6}\.csv$/],
    [["--channel", "SISR"], /^messages_SISR_\d{8}-\d{6}\.json$/],
    [["--channel", "général", "--format", "csv"], /^messages_général_\d{8}-\d{6}\.csv$/],
  ];
  for (const [args, pattern] of cases) {
    const run = await exportRun(["--db", tmp.db, ...args], { cwd });
    assert.equal(run.code, 0, run.stderr);
    const names = [];
    for await (const e of Deno.readDir(cwd)) names.push(e.name);
    assert.equal(names.length, 1, names.join(" "));
    assert.match(names[0], pattern);
    // The message names the file by its absolute path.
    const printed = run.stderr.match(/^Exported \d+ messages to (.+)\n$/)?.[1];
    assert.equal(printed, join(await Deno.realPath(cwd), names[0]), run.stderr);
    await Deno.remove(`${cwd}/${names[0]}`);
  }
});

Deno.test("--out - writes to stdout and creates no file", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, SAMPLE);
  const cwd = `${tmp.dir}/out`;
  await Deno.mkdir(cwd);
  const run = await exportRun(["--db", tmp.db, "--out", "-"], { cwd });
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), IN_ORDER);
  assert.equal(run.stderr, `Exported ${IN_ORDER.length} messages to stdout\n`);
  for await (const e of Deno.readDir(cwd)) assert.fail(`unexpected file ${e.name}`);
});

Deno.test("paths are the user's: relative to INIT_CWD (deno task's), printed absolute", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, SAMPLE);
  // As `deno task export` runs it from a subdirectory: the process in the project's root, the
  // user's directory in INIT_CWD.
  const root = await Deno.realPath(await Deno.makeTempDir({ dir: tmp.dir, prefix: "project_" }));
  const user = join(root, "class", "2026");
  await Deno.mkdir(user, { recursive: true });
  const opts = { cwd: root, initCwd: user };

  const named = await exportRun(["--db", tmp.db, "--out", "sisr.csv", "--channel", "sisr"], opts);
  assert.equal(named.code, 0, named.stderr);
  assert.equal(named.stderr, `Exported 3 messages to ${join(user, "sisr.csv")}\n`);
  assert.equal(parseCsv(await Deno.readTextFile(join(user, "sisr.csv"))).length, 4);

  const parent = await exportRun(["--db", tmp.db, "--out", "../all.json"], opts);
  assert.equal(parent.code, 0, parent.stderr);
  assert.equal(parent.stderr, `Exported 6 messages to ${join(root, "class", "all.json")}\n`);

  const byDefault = await exportRun(["--db", tmp.db], opts);
  assert.equal(byDefault.code, 0, byDefault.stderr);
  const made = (await Array.fromAsync(Deno.readDir(user))).map((e) => e.name).sort();
  assert.equal(made.length, 2, made.join(" "));
  assert.equal(made[1], "sisr.csv");
  assert.match(made[0], /^messages_\d{8}-\d{6}\.json$/);
  assert.equal(byDefault.stderr, `Exported 6 messages to ${join(user, made[0])}\n`);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(join(user, made[0]))), IN_ORDER);

  // A failure names the absolute path too.
  const missing = await exportRun(["--db", tmp.db, "--out", "nowhere/x.json"], opts);
  assert.equal(missing.code, 1);
  assert.equal(
    missing.stderr,
    `export: Cannot write "${join(user, "nowhere", "x.json")}": ` +
      "No such file or directory (os error 2)\n",
  );
  // Nothing went to the process's own directory.
  const inRoot = (await Array.fromAsync(Deno.readDir(root))).map((e) => e.name);
  assert.deepEqual(inRoot, ["class"]);
});

Deno.test("--list-channels prints each channel with its count, private messages aside", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, SAMPLE);
  const cwd = `${tmp.dir}/out`;
  await Deno.mkdir(cwd);
  const run = await exportRun(["--db", tmp.db, "--list-channels"], { cwd });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "#bts\t1\n#général\t2\n#sisr\t3\n");
  const one = await exportRun(["--db", tmp.db, "--list-channels", "--channel", "sisr"], { cwd });
  assert.equal(one.stdout, "#sisr\t3\n");
  for await (const e of Deno.readDir(cwd)) assert.fail(`unexpected file ${e.name}`);
});

Deno.test("messages sent through a server are exported, private ones never", async () => {
  await using tmp = await tempDb();
  {
    await using srv = await startTestServer({ db: tmp.db });
    await using alice = await srv.connect();
    await using bob = await srv.connect();
    // Only a session that said hello routes by `channel` (docs/protocol.md §4.4); a legacy one
    // posts to #général.
    assert.equal((await alice.request({ type: "hello", version: 2 })).type, "hello");
    await alice.loginAs("alice");
    await bob.loginAs("bob");
    const sends = [
      { type: "message", channel: "#sisr", content: "dans sisr", id: 1 },
      { type: "message", content: 'legacy, "général"', id: 2 },
      { type: "message", subtype: "private", to: "bob", content: "secret-dm", id: 3 },
    ];
    for (const s of sends) {
      // The ack (docs/protocol.md §4.3) says the message is stored; other lines (presence, bob's)
      // are skipped.
      await alice.send(s);
      for (;;) {
        const reply = await alice.json();
        if (reply.type === "ack" && reply.id === s.id) break;
      }
    }
  }
  for (const format of ["json", "csv"]) {
    const run = await exportRun(["--db", tmp.db, "--format", format, "--out", "-"]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes("secret-dm"), run.stdout);
    assert.equal(run.stderr, "Exported 2 messages to stdout\n");
  }
  const run = await exportRun(["--db", tmp.db, "--out", "-"]);
  const records = JSON.parse(run.stdout);
  assert.deepEqual(
    records.map((r: { channel: string; content: string; username: string }) => [
      r.channel,
      r.content,
      r.username,
    ]),
    [["#général", 'legacy, "général"', "alice"], ["#sisr", "dans sisr", "alice"]],
  );
  for (const r of records) assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
});

Deno.test("a bad flag exits 2 with one line naming it, and writes nothing", async () => {
  await using tmp = await tempDb();
  await seed(tmp.db, SAMPLE);
  const cwd = `${tmp.dir}/out`;
  await Deno.mkdir(cwd);
  const cases: [string[], RegExp][] = [
    [["--bogus"], /--bogus/],
    [["positional"], /positional/],
    [["--format", "xml"], /Invalid --format "xml"/],
    [["--since", "2026-13-01"], /Invalid --since "2026-13-01"/],
    [["--since", "2026-02-30"], /Invalid --since "2026-02-30"/],
    [["--until", "yesterday"], /Invalid --until "yesterday"/],
    [["--until", "2026-03-01T25:00"], /Invalid --until "2026-03-01T25:00"/],
    [["--since", "2026-03-02", "--until", "2026-03-01"], /Invalid --until "2026-03-01"/],
    [["--channel", "two words"], /Invalid --channel "two words"/],
    [["--user", ""], /Invalid --user/],
    [["--out"], /--out/],
    [["--bom"], /^export: --bom is for CSV only: add --format csv or an --out ending in \.csv$/],
    [["--bom", "--format", "json", "--out", "-"], /--bom is for CSV only/],
    [["--bom", "--out", "x.json"], /--bom is for CSV only/],
    [["--separator", ";;"], /^export: Invalid --separator ";;": expected one character/],
    [["--separator", ""], /Invalid --separator "": expected one character/],
    [["--separator", '"'], /Invalid --separator "\\"": CSV quotes fields with it$/],
    [["--separator", "\n"], /Invalid --separator "\\n": CSV ends records with it$/],
    [["--separator", ";", "--format", "json"], /--separator is for CSV only: leave out --format/],
    [["--excel", "--format", "json"], /^export: --excel is for CSV only: leave out --format json$/],
  ];
  for (const [args, pattern] of cases) {
    const run = await exportRun(["--db", tmp.db, ...args], { cwd });
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], /^export: /);
    assert.match(lines[0], pattern);
    assert.equal(run.stdout, "");
  }
  for await (const e of Deno.readDir(cwd)) assert.fail(`unexpected file ${e.name}`);
});

Deno.test("a missing --db file is an error, not a new empty store", async () => {
  await using tmp = await tempDb();
  const run = await exportRun(["--db", `${tmp.dir}/typo.kv`, "--out", "-"]);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, `export: Cannot open store "${tmp.dir}/typo.kv" (--db): no such file\n`);
  for await (const e of Deno.readDir(tmp.dir)) assert.fail(`unexpected file ${e.name}`);
});

Deno.test("--help documents every flag and exits 0", async () => {
  const run = await exportRun(["--help"]);
  assert.equal(run.code, 0);
  for (
    const flag of [
      "--db",
      "--format",
      "--channel",
      "--since",
      "--until",
      "--user",
      "--out",
      "--bom",
      "--separator",
      "--excel",
      "--list-channels",
    ]
  ) {
    assert.ok(run.stdout.includes(flag), flag);
  }
});

Deno.test("export streams: 50 MB of messages go out complete under a 24 MiB heap cap", async () => {
  await using tmp = await tempDb();
  // 20,000 messages of 2,500 characters: 50 MB of content, twice the heap the script may use,
  // so a script that held every message (or its whole output) would die of OOM instead.
  const N = 20_000;
  const pad = "x".repeat(2_500 - 12);
  const store = await KvStore.open(tmp.db);
  try {
    const t0 = day(10).getTime();
    for (let seq = 1; seq <= N; seq += 500) {
      const batch: Append[] = [];
      for (let s = seq; s < seq + 500; s++) {
        const ts = t0 + s * 1000;
        const content = `${String(s).padStart(10, "0")}: ${pad}`;
        const line = { type: "message", content, from: "bob", timestamp: formatTimestamp(ts) };
        batch.push({ message: { seq: s, ts, channel: "#sisr", line: { ...line, seq: s } } });
      }
      await store.append(batch);
    }
  } finally {
    store.close();
  }
  const out = `${tmp.dir}/big.json`;
  const v8Flags = "--max-old-space-size=24";
  const json = await exportRun(["--db", tmp.db, "--out", out], { v8Flags });
  assert.equal(json.code, 0, json.stderr.slice(0, 500));
  assert.equal(json.stderr, `Exported ${N} messages to ${out}\n`);
  const records: { content: string }[] = JSON.parse(await Deno.readTextFile(out));
  assert.equal(records.length, N);
  records.forEach((r, i) => assert.equal(r.content.slice(0, 10), String(i + 1).padStart(10, "0")));

  const csvOut = `${tmp.dir}/big.csv`;
  const csv = await exportRun(["--db", tmp.db, "--out", csvOut], { v8Flags });
  assert.equal(csv.code, 0, csv.stderr.slice(0, 500));
  const rows = parseCsv(await Deno.readTextFile(csvOut));
  assert.equal(rows.length, N + 1);
  assert.equal(rows[N][2], records[N - 1].content);
});
