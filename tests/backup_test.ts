// deno task backup / restore: a consistent NDJSON dump of the whole store, and its reload.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CommandResult, runClasscord, runCommand } from "./helpers/process.ts";
import { decodeValue, encodeValue, type Json } from "../src/commands/backup/codec.ts";
import { KvStore } from "../src/store/kv_store.ts";
import { FLOOD_LIMITS, startTestServer, type TestClient } from "./helpers/test_server.ts";

// The permissions of the backup and restore tasks in deno.json.
const SUBPROCESS_TIMEOUT_MS = 60_000;

type Result = CommandResult;

/**
 * Runs `classcord backup|restore ...args`, killed after the deadline; `initCwd` is the directory
 * `deno task` would say the user typed the command in.
 */
function script(
  args: string[],
  options: { cwd?: string; initCwd?: string } = {},
): Promise<Result> {
  return runClasscord(args, {
    timeoutMs: SUBPROCESS_TIMEOUT_MS,
    cwd: options.cwd,
    env: options.initCwd ? { INIT_CWD: options.initCwd } : {},
  });
}

const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

/**
 * `deno task <args>` typed in `cwd`, as the README writes it, to its end: deno task sets INIT_CWD
 * itself (so none is inherited). The line deno task prints first (`Task backup deno run ...`)
 * is left out of `err`.
 */
async function task(args: string[], options: { cwd: string; stdin?: string }): Promise<Result> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  delete env.CLASSCORD_DB;
  const result = await runCommand(Deno.execPath(), ["task", "--config", CONFIG, ...args], {
    cwd: options.cwd,
    stdin: options.stdin,
    env: { ...env, NO_COLOR: "1" },
    clearEnv: true,
    timeoutMs: SUBPROCESS_TIMEOUT_MS,
  });
  const [first, ...rest] = result.err.split("\n");
  assert.match(first, /^Task \w+ /, result.err);
  return { ...result, err: rest.join("\n") };
}

/** Each file of `dir`: its name, size and modification time, to see that nothing changed. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const info = await Deno.stat(join(dir, e.name));
    out.push(`${e.name} ${info.size} ${info.mtime?.getTime()}`);
  }
  return out.sort();
}

/** Asserts a failure with one line on stderr, matching `pattern`. */
function assertFails(result: Result, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.err);
  const lines = result.err.trimEnd().split("\n");
  assert.equal(lines.length, 1, result.err);
  assert.match(lines[0], pattern);
}

/** `text` as a regular expression matching it literally. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every entry of a KV file, in key order. */
async function entries(db: string): Promise<{ key: Deno.KvKey; value: unknown }[]> {
  const kv = await Deno.openKv(db);
  try {
    const out = [];
    for await (const e of kv.list({ prefix: [] })) out.push({ key: e.key, value: e.value });
    return out;
  } finally {
    kv.close();
  }
}

async function readLines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\n"));
  return text.slice(0, -1).split("\n");
}

let nextId = 1;

/** Sends a message with an `id` and waits for its ack (it is then stored), skipping other lines. */
async function sendStored(client: TestClient, message: Record<string, unknown>): Promise<number> {
  const id = nextId++;
  await client.send({ ...message, id });
  for (;;) {
    const line = await client.json();
    if (line.id !== id) continue;
    assert.equal(line.type, "ack", JSON.stringify(line));
    return line.seq as number;
  }
}

/** Values JSON cannot hold, nested, as they come back from Deno KV. */
function oddValue(): Record<string, unknown> {
  // deno-lint-ignore no-sparse-arrays
  const sparse = [1, , 3];
  return {
    $: "a field named like the tag",
    bytes: new Uint8Array([0, 1, 254, 255]),
    big: -(2n ** 70n),
    nothing: undefined,
    when: new Date(Date.UTC(2026, 2, 2, 14, 5, 12, 480)),
    invalidDate: new Date(NaN),
    numbers: [-0, NaN, Infinity, -Infinity, 0.1, 2 ** 53],
    sparse,
    nested: { deeper: [{ bytes: new Uint8Array(3), u: undefined, n: 1n }] },
    map: new Map<unknown, unknown>([[1, "one"], ["k", new Set([1n, "x"])]]),
    words: /^é\p{L}+$/giu,
    floats: new Float64Array([1.5, -0]),
    buffer: new Uint8Array([7, 8]).buffer,
    error: new RangeError("out of range"),
    boxed: new String("boxed"),
    text: "é\u2028\ud800 lone surrogate, NUL \0, 🎉",
  };
}

Deno.test("encodeValue() and decodeValue() round-trip what Deno KV stores, through JSON", () => {
  const values: unknown[] = [
    oddValue(),
    new Deno.KvU64(2n ** 64n - 1n),
    null,
    "",
    -0,
    [undefined, [new Uint8Array(0)]],
    JSON.parse('{"__proto__": {"polluted": true}}'),
    { $: "bytes", v: "AA==" },
  ];
  for (const value of values) {
    const json: Json = JSON.parse(JSON.stringify(encodeValue(value)));
    assert.deepStrictEqual(decodeValue(json), value);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.throws(() => encodeValue(cycle), TypeError);
  assert.throws(() => encodeValue(new (class Point {})()), TypeError);
  assert.throws(() => decodeValue({ $: "mystery" }), SyntaxError);
  assert.throws(() => decodeValue({ $: "bigint", v: "12x" }), SyntaxError);
  assert.throws(() => decodeValue({ $: "bytes", v: "AA=", extra: 1 }), SyntaxError);
});

Deno.test("backup → restore → backup gives the same file, and the restored store serves the same history", async () => {
  await withTempDir(async (dir) => {
    const src = `${dir}/src.kv`;
    const histories: Record<string, unknown>[] = [];
    const historyRequests = [
      { type: "history", channel: "#général" },
      { type: "history", channel: "#sisr" },
      { type: "history", with: "bob" },
    ];
    {
      await using srv = await startTestServer({ db: src });
      await using carol = await srv.connect();
      await carol.request({ type: "register", username: "carol", password: "pw-carol" });
      carol.close(); // registered, not connected: her private message waits in her inbox
      await using alice = await srv.connect();
      await alice.loginAs("alice", "pw-alice");
      await using bob = await srv.connect();
      await bob.loginAs("bob", "pw-bob");
      // Only sessions that said hello post to a channel by its name (docs/protocol.md §4.4).
      assert.equal((await bob.request({ type: "hello", version: 2 })).type, "hello");
      await sendStored(alice, { type: "message", content: "Bonjour à tous 🎉" });
      await sendStored(bob, { type: "message", channel: "#sisr", content: "Réseaux\u2028TP 3" });
      await sendStored(alice, { type: "message", subtype: "private", to: "bob", content: "psst" });
      await sendStored(alice, {
        type: "message",
        subtype: "private",
        to: "carol",
        content: "pour plus tard",
      });
      await sendStored(bob, { type: "message", content: "global again", extra: { n: 1 } });
      await using viewer = await srv.connect();
      await viewer.login("alice", "pw-alice");
      for (const request of historyRequests) histories.push(await viewer.request(request));
    }
    assert.deepEqual(
      histories.map((h) => (h.messages as unknown[]).length),
      [2, 1, 1],
      JSON.stringify(histories),
    );

    // Written directly: a message too big for one value, stored in parts; and more than one
    // commit's worth of entries, by count and by bytes.
    const store = await KvStore.open(src);
    try {
      const seq = (await store.lastSeq()) + 1;
      const content = "x".repeat(100_000);
      await store.append([{
        message: {
          seq,
          ts: Date.now(),
          channel: "#archives",
          line: { type: "message", channel: "#archives", content, from: "alice", timestamp: "t" },
        },
      }]);
      assert.ok((await store.kv.get(["part", seq, 0])).value instanceof Uint8Array);
      for (let i = 0; i < 2500; i += 500) {
        const op = store.kv.atomic();
        for (let j = i; j < i + 500; j++) op.set(["extra", j], { j, at: new Date(j) });
        await op.commit();
      }
      for (let i = 0; i < 20; i++) {
        await store.kv.set(["blob", i], crypto.getRandomValues(new Uint8Array(60_000)));
      }
      await store.kv.set(["odd", "value"], oddValue());
      // 7000 doubles: 63 KB as V8 serializes a packed array, too big as a holey one.
      await store.kv.set(["odd", "doubles"], Array.from({ length: 7000 }, (_, i) => i + 0.5));
      await store.kv.set(["odd", "u64"], new Deno.KvU64(42n));
      await store.kv.set(["odd", 1n, true, new Uint8Array([0, 255]), -0, 0, NaN, -Infinity], "k");
    } finally {
      store.close();
    }

    const first = await script(["backup", "--db", src, "--out", `${dir}/a.ndjson`]);
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /^backup: \d+ entries from ".*src\.kv" to ".*a\.ndjson"\n$/);
    const restored = await script(["restore", "--in", `${dir}/a.ndjson`, "--db", `${dir}/dst.kv`]);
    assert.equal(restored.code, 0, restored.err);
    assert.match(restored.out, /^restore: \d+ entries from ".*a\.ndjson" \(backup of .*\) into/);
    const second = await script(["backup", "--db", `${dir}/dst.kv`, "--out", "-"]);
    assert.equal(second.code, 0, second.err);
    await Deno.writeTextFile(`${dir}/b.ndjson`, second.out);

    const a = await readLines(`${dir}/a.ndjson`);
    const b = await readLines(`${dir}/b.ndjson`);
    assert.ok(a.length > 2500);
    assert.match(a[0], /^\{"classcord_backup":1,"created":"\d{4}-\d\d-\d\dT[\d:.]+Z"\}$/);
    const created = /"created":"[^"]*"/;
    assert.equal(a[0].replace(created, ""), b[0].replace(created, ""));
    assert.deepEqual(a.slice(1), b.slice(1), "every entry line and the trailer are identical");
    assert.deepStrictEqual(await entries(`${dir}/dst.kv`), await entries(src));

    await using srv = await startTestServer({ db: `${dir}/dst.kv` });
    await using alice = await srv.connect();
    await alice.login("alice", "pw-alice");
    for (const [i, request] of historyRequests.entries()) {
      assert.deepEqual(await alice.request(request), histories[i]);
    }
    const archives = await alice.request({ type: "history", channel: "#archives" });
    assert.equal((archives.messages as { content: string }[])[0].content.length, 100_000);
    await using carol = await srv.connect();
    await carol.login("carol", "pw-carol");
    assert.equal((await carol.json()).content, "pour plus tard", "the inbox was restored");
  });
});

Deno.test("restore refuses a target with entries unless --force, which replaces them", async () => {
  await withTempDir(async (dir) => {
    const src = `${dir}/src.kv`;
    const kv = await Deno.openKv(src);
    await kv.set(["users", "alice"], { name: "alice", passwordHash: "h", createdAt: 1 });
    await kv.set(["seq"], 0);
    kv.close();
    assert.equal((await script(["backup", "--db", src, "--out", `${dir}/a.ndjson`])).code, 0);
    const dst = `${dir}/dst.kv`;
    const target = await Deno.openKv(dst);
    await target.set(["left", "over"], 1);
    target.close();

    const refused = await script(["restore", "--in", `${dir}/a.ndjson`, "--db", dst]);
    assertFails(refused, 1, /^restore: Cannot restore into ".*dst\.kv": it already has entries/);
    assert.deepEqual(await entries(dst), [{ key: ["left", "over"], value: 1 }]);

    const forced = await script(["restore", "--in", `${dir}/a.ndjson`, "--db", dst, "--force"]);
    assert.equal(forced.code, 0, forced.err);
    assert.match(forced.out, /2 entries .* replacing 1 entry$/m);
    assert.deepStrictEqual(await entries(dst), await entries(src));
  });
});

Deno.test("backup and restore take paths relative to INIT_CWD and print them absolute", async () => {
  await withTempDir(async (dir) => {
    // As `deno task backup` runs it from a subdirectory: the process in the project's root, the
    // user's directory in INIT_CWD.
    const root = join(await Deno.realPath(dir), "project");
    const user = join(root, "backups");
    await Deno.mkdir(user, { recursive: true });
    const opts = { cwd: root, initCwd: user };
    const kv = await Deno.openKv(join(user, "src.kv"));
    await kv.set(["users", "alice"], { name: "alice", passwordHash: "h", createdAt: 1 });
    kv.close();

    const named = await script(["backup", "--db", "src.kv", "--out", "one.ndjson"], opts);
    assert.equal(named.code, 0, named.err);
    assert.equal(
      named.out,
      `backup: 1 entry from "${join(user, "src.kv")}" to "${join(user, "one.ndjson")}"\n`,
    );

    const byDefault = await script(["backup", "--db", "src.kv"], opts);
    assert.equal(byDefault.code, 0, byDefault.err);
    const made = (await Array.fromAsync(Deno.readDir(user))).map((e) => e.name)
      .filter((name) => name.startsWith("classcord_backup_"));
    assert.equal(made.length, 1, made.join(" "));
    assert.match(made[0], /^classcord_backup_\d{8}-\d{6}\.ndjson$/);
    assert.equal(
      byDefault.out,
      `backup: 1 entry from "${join(user, "src.kv")}" to "${join(user, made[0])}"\n`,
    );

    const restored = await script(["restore", "--in", "one.ndjson", "--db", "dst.kv"], opts);
    assert.equal(restored.code, 0, restored.err);
    assert.match(
      restored.out,
      new RegExp(
        `^restore: 1 entry from "${literal(join(user, "one.ndjson"))}" \\(backup of [^)]+\\) ` +
          `into "${literal(join(user, "dst.kv"))}"\n$`,
      ),
    );
    assert.deepStrictEqual(
      await entries(join(user, "dst.kv")),
      await entries(join(user, "src.kv")),
    );

    assertFails(
      await script(["restore", "--in", "none.ndjson", "--db", "t.kv"], opts),
      1,
      new RegExp(`^restore: Cannot restore "${literal(join(user, "none.ndjson"))}": no such file$`),
    );
    assertFails(
      await script(["backup", "--db", "src.kv", "--out", "nowhere/x.ndjson"], opts),
      1,
      new RegExp(
        `^backup: Cannot write "${literal(join(user, "nowhere", "x.ndjson"))}": No such file`,
      ),
    );
    // Nothing went to the process's own directory.
    assert.deepEqual((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), ["backups"]);
  });
});

Deno.test(
  "a backup file is readable by its owner only (mode 0600), also when it replaces one",
  { ignore: Deno.build.os === "windows" },
  async () => {
    await withTempDir(async (dir) => {
      const db = `${dir}/src.kv`;
      const kv = await Deno.openKv(db);
      await kv.set(["users", "alice"], { name: "alice", passwordHash: "h", createdAt: 1 });
      kv.close();
      const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

      const fresh = await script(["backup", "--db", db, "--out", `${dir}/fresh.ndjson`]);
      assert.equal(fresh.code, 0, fresh.err);
      assert.equal(await mode(`${dir}/fresh.ndjson`), 0o600);

      // A readable file in the way, and a readable .partial left by a crashed backup.
      const out = `${dir}/replaced.ndjson`;
      await Deno.writeTextFile(out, "old backup\n", { mode: 0o644 });
      await Deno.chmod(out, 0o644);
      await Deno.writeTextFile(`${out}.partial`, "cut", { mode: 0o644 });
      await Deno.chmod(`${out}.partial`, 0o644);
      const replaced = await script(["backup", "--db", db, "--out", out]);
      assert.equal(replaced.code, 0, replaced.err);
      assert.equal(await mode(out), 0o600);
      assert.match(await Deno.readTextFile(out), /^\{"classcord_backup":1/);
      await assert.rejects(Deno.stat(`${out}.partial`), Deno.errors.NotFound);
    });
  },
);

Deno.test("restore refuses a truncated or damaged file and writes nothing", async () => {
  await withTempDir(async (dir) => {
    const src = `${dir}/src.kv`;
    const kv = await Deno.openKv(src);
    for (let i = 0; i < 50; i++) await kv.set(["extra", i], { i, bytes: new Uint8Array([i]) });
    kv.close();
    assert.equal((await script(["backup", "--db", src, "--out", `${dir}/a.ndjson`])).code, 0);
    const text = await Deno.readTextFile(`${dir}/a.ndjson`);
    const lines = text.slice(0, -1).split("\n");
    const trailerAt = text.length - lines.at(-1)!.length - 1;
    const damaged: [string, string, RegExp][] = [
      ["cut inside an entry", text.slice(0, trailerAt - 10), /truncated/],
      ["cut inside the trailer", text.slice(0, -5), /truncated/],
      ["without its trailer", text.slice(0, trailerAt), /no trailer after 50 entries/],
      [
        "an entry line missing",
        [...lines.slice(0, 10), ...lines.slice(11)].join("\n") + "\n",
        /announces 50 entries but the file has 49/,
      ],
      ["an entry changed", text.replace('"i":7,', '"i":8,'), /damaged/],
      ["empty", "", /empty/],
      ["not a backup", '{"key":["a"],"value":1}\n', /not a ClassCord backup/],
      ["a newer format", text.replace('"classcord_backup":1', '"classcord_backup":2'), /version/],
    ];
    for (const [what, content, reason] of damaged) {
      const file = `${dir}/damaged.ndjson`;
      await Deno.writeTextFile(file, content);
      const dst = `${dir}/dst.kv`;
      const result = await script(["restore", "--in", file, "--db", dst]);
      assertFails(result, 1, /^restore: Cannot restore ".*damaged\.ndjson": /);
      assert.match(result.err, reason, what);
      await assert.rejects(Deno.stat(dst), Deno.errors.NotFound, `${what}: target created`);
    }
  });
});

Deno.test("backup --check says a backup is sound, or what is wrong with a cut or altered one, and writes nothing", async () => {
  await withTempDir(async (tmp) => {
    const dir = await Deno.realPath(tmp);
    const kv = await Deno.openKv(`${dir}/src.kv`);
    for (let i = 0; i < 20; i++) await kv.set(["extra", i], { i, note: "é" });
    kv.close();
    const made = await script(["backup", "--db", `${dir}/src.kv`, "--out", `${dir}/cc.ndjson`]);
    assert.equal(made.code, 0, made.err);
    const text = await Deno.readTextFile(`${dir}/cc.ndjson`);
    const created = JSON.parse(text.slice(0, text.indexOf("\n"))).created;
    const sound = (name: string) =>
      `Backup ${name} is sound: 20 entries, SHA-256 matches (backup of ${created})\n`;
    const lines = text.split("\n");
    const damaged: [string, string, RegExp][] = [
      [
        "cut.ndjson",
        text.slice(0, text.length / 2),
        /: line \d+ has no end: the file is truncated$/,
      ],
      [
        "altered.ndjson",
        text.replace('"i":7,', '"i":8,'),
        /: the entries do not match the trailer's SHA-256$/,
      ],
      [
        "garbled.ndjson",
        [...lines.slice(0, 16), "{not json", ...lines.slice(17)].join("\n"),
        /: line 17 is not valid JSON$/,
      ],
    ];
    for (const [name, content] of damaged) await Deno.writeTextFile(`${dir}/${name}`, content);
    await Deno.mkdir(`${dir}/elsewhere`);
    const before = await listing(dir);

    // As the README writes it, typed in the folder of the file: the task, and the binary's entry.
    const good = await task(["backup", "--check", "cc.ndjson"], { cwd: dir });
    assert.equal(good.code, 0, good.err);
    assert.equal(good.out, sound(`"${dir}/cc.ndjson"`));
    assert.equal(good.err, "");
    const binary = await script(["backup", "--check", "cc.ndjson"], {
      cwd: `${dir}/elsewhere`,
      initCwd: dir,
    });
    assert.equal(binary.code, 0, binary.err);
    assert.equal(binary.out, sound(`"${dir}/cc.ndjson"`));
    for (const [name, , reason] of damaged) {
      const result = await task(["backup", "--check", name], { cwd: dir });
      assertFails(
        result,
        1,
        new RegExp(`^backup: Backup "${literal(`${dir}/${name}`)}" is damaged: `),
      );
      assert.match(result.err.trimEnd(), reason, name);
      assert.equal(result.out, "");
    }

    // `--check -` reads stdin: a pipe, as in the Docker recipe.
    const piped = await task(["backup", "--check", "-"], { cwd: dir, stdin: text });
    assert.equal(piped.code, 0, piped.err);
    assert.equal(piped.out, sound("from stdin"));
    assertFails(
      await task(["backup", "--check", "-"], { cwd: dir, stdin: damaged[1][1] }),
      1,
      /^backup: Backup from stdin is damaged: the entries do not match the trailer's SHA-256$/,
    );
    assertFails(
      await task(["backup", "--check", "-"], { cwd: dir, stdin: "" }),
      1,
      /^backup: Backup from stdin is damaged: the file is empty$/,
    );
    assertFails(
      await task(["backup", "--check", "none.ndjson"], { cwd: dir }),
      1,
      new RegExp(`^backup: Cannot read backup "${literal(`${dir}/none.ndjson`)}": no such file$`),
    );
    assertFails(await script(["backup", "--check", ""]), 2, /--check needs a file name/);
    assertFails(
      await script(["backup", "--check", `${dir}/cc.ndjson`, "--out", `${dir}/x.ndjson`]),
      2,
      /^backup: --check takes neither --out nor --db/,
    );
    assert.deepEqual(await listing(dir), before, "nothing was written");
  });
});

/** A store of a few accounts and messages, written by a real server. */
async function classStore(db: string): Promise<void> {
  await using srv = await startTestServer({ db });
  await using alice = await srv.connect();
  await alice.loginAs("alice", "pw-alice");
  await using bob = await srv.connect();
  await bob.loginAs("bob", "pw-bob");
  await sendStored(alice, { type: "message", content: "Bonjour à tous" });
  await sendStored(bob, { type: "message", subtype: "private", to: "alice", content: "psst" });
}

Deno.test("the README's Docker recipe: backup --out - > file, then restore --in - --force < file", async () => {
  await withTempDir(async (dir) => {
    // Two volumes: the class's store, and the one to bring back (its leftovers replaced).
    const live = `${dir}/live/classcord.kv`;
    const data = `${dir}/data`;
    const target = `${data}/classcord.kv`;
    await Deno.mkdir(`${dir}/live`);
    await Deno.mkdir(data);
    await classStore(live);
    const kv = await Deno.openKv(target);
    await kv.set(["left", "over"], 1);
    kv.close();
    // What follows `docker compose exec -T classcord /classcord` and `docker compose run --rm -T
    // classcord`, with the store the image names in CLASSCORD_DB and the file on stdin.
    const backup = await runClasscord(["backup", "--out", "-"], {
      env: { CLASSCORD_DB: live },
      timeoutMs: SUBPROCESS_TIMEOUT_MS,
    });
    assert.equal(backup.code, 0, backup.err);
    const file = backup.out;
    const checked = await runClasscord(["backup", "--check", "-"], { stdin: file });
    assert.equal(checked.code, 0, checked.err);
    assert.match(checked.out, /^Backup from stdin is sound: \d+ entries, SHA-256 matches/);

    const restore = (stdin: string, args = ["--force"]) =>
      runClasscord(["restore", "--in", "-", ...args], {
        stdin,
        env: { CLASSCORD_DB: target },
        timeoutMs: SUBPROCESS_TIMEOUT_MS,
      });
    assertFails(await restore(file, []), 1, /it already has entries \(--force deletes them/);
    assertFails(
      await restore(file.slice(0, -30)),
      1,
      /^restore: Cannot restore from stdin: line \d+ has no end: the file is truncated$/,
    );
    assert.deepEqual(await entries(target), [{ key: ["left", "over"], value: 1 }]);

    const restored = await restore(file);
    assert.equal(restored.code, 0, restored.err);
    assert.match(
      restored.out,
      new RegExp(
        `^restore: \\d+ entries from stdin \\(backup of [^)]+\\) into "${
          literal(target)
        }", replacing 1 entry\n$`,
      ),
    );
    assert.deepStrictEqual(await entries(target), await entries(live));
    // The README's line for a checkout, typed in the folder that holds data/classcord.kv.
    const again = await task(["restore", "--in", "-", "--force"], { cwd: dir, stdin: file });
    assert.equal(again.code, 0, again.err);
    assert.match(
      again.out,
      /^restore: \d+ entries from stdin .* into ".*\/data\/classcord\.kv", replacing/,
    );
    assert.deepStrictEqual(await entries(target), await entries(live));
    // Nothing but the store and its lock beside it: the copy of stdin had no name.
    for (const name of await Array.fromAsync(Deno.readDir(data), (e) => e.name)) {
      assert.match(name, /^classcord\.kv(\.lock|-shm|-wal)?$/);
    }

    await using srv = await startTestServer({ db: target });
    await using alice = await srv.connect();
    await alice.login("alice", "pw-alice");
    const inbox = await alice.request({ type: "history", with: "bob" });
    assert.equal((inbox.messages as { content: string }[])[0].content, "psst");
  });
});

Deno.test(
  "restore --in - keeps stdin in a nameless 0600 file beside the store while it reads it",
  { ignore: Deno.build.os !== "linux" }, // /proc shows the open file
  async () => {
    await withTempDir(async (tmp) => {
      const dir = await Deno.realPath(tmp);
      await classStore(`${dir}/src.kv`);
      const file = (await script(["backup", "--db", `${dir}/src.kv`, "--out", "-"])).out;
      const target = `${dir}/data/classcord.kv`;
      await Deno.mkdir(`${dir}/data`);
      using watcher = Deno.watchFs(`${dir}/data`);
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "--config",
          CONFIG,
          // The restore task's permissions.
          "--allow-net",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          fileURLToPath(new URL("../src/main.ts", import.meta.url)),
          "restore",
          "--in",
          "-",
          "--db",
          target,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const deadline = setTimeout(() => {
        child.kill("SIGKILL");
        watcher.close();
      }, SUBPROCESS_TIMEOUT_MS);
      let exited = false;
      try {
        const stdin = child.stdin.getWriter();
        const bytes = new TextEncoder().encode(file);
        await stdin.write(bytes.subarray(0, bytes.length >> 1));
        // The copy is made, then loses its name at once; the process then waits for more.
        let copyName: string | undefined;
        for await (const event of watcher) {
          copyName = event.paths.find((p) => /\/classcord\.kv\.stdin-[^/]*\.ndjson$/.test(p));
          if (copyName && event.kind === "remove") break;
        }
        assert.ok(copyName, "a copy of stdin was made beside the store");
        await assert.rejects(Deno.stat(copyName), Deno.errors.NotFound);
        const open = [];
        for await (const fd of Deno.readDir(`/proc/${child.pid}/fd`)) {
          const path = `/proc/${child.pid}/fd/${fd.name}`;
          const link = await Deno.readLink(path).catch(() => "");
          if (link === `${copyName} (deleted)`) open.push(path);
        }
        assert.equal(open.length, 1, "the restore reads the nameless copy");
        // The descriptor reaches the file itself: its mode on disk.
        assert.equal((await Deno.stat(open[0])).mode! & 0o777, 0o600);

        await stdin.write(bytes.subarray(bytes.length >> 1));
        await stdin.close();
        const { code, stdout, stderr } = await child.output();
        exited = true;
        assert.equal(code, 0, new TextDecoder().decode(stderr));
        assert.match(new TextDecoder().decode(stdout), /^restore: \d+ entries from stdin/);
      } finally {
        clearTimeout(deadline);
        if (!exited) {
          // A failed assertion: the child still waits on stdin.
          child.kill("SIGKILL");
          await child.stdin.abort().catch(() => {});
          await child.output().catch(() => {});
        }
      }
      assert.deepStrictEqual(await entries(target), await entries(`${dir}/src.kv`));
      const left = await Array.fromAsync(Deno.readDir(`${dir}/data`), (e) => e.name);
      assert.deepEqual(left.filter((n) => n.includes("stdin")), []);
    });
  },
);

Deno.test("a backup is one snapshot while another process commits", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/busy.kv`;
    // Each commit sets 900 keys to one counter: a dump in several reads would mix counters
    // (Deno KV's list() reads 500 entries per batch, each batch its own transaction).
    const kv = await Deno.openKv(db);
    let counter = 0;
    let stop = false;
    const commitAll = async () => {
      counter++;
      const op = kv.atomic();
      for (let i = 0; i < 900; i++) op.set(["k", i], counter);
      await op.set(["counter"], counter).commit();
    };
    await commitAll();
    const writer = (async () => {
      while (!stop) await commitAll();
    })();
    let started: number;
    let result: Result;
    try {
      started = counter;
      result = await script(["backup", "--db", db, "--out", `${dir}/busy.ndjson`]);
    } finally {
      stop = true;
      await writer;
      kv.close();
    }
    assert.equal(result.code, 0, result.err);
    assert.ok(counter > started + 1, "the writer committed while the backup ran");
    const values = new Set<Json>();
    let snapshotCounter: Json = null;
    for (const line of (await readLines(`${dir}/busy.ndjson`)).slice(1, -1)) {
      const entry = JSON.parse(line);
      if (entry.key[0] === "k") values.add(entry.value);
      else snapshotCounter = entry.value;
    }
    assert.deepEqual([...values], [snapshotCounter]);
  });
});

Deno.test("a backup taken while the server stores messages restores to a consistent store", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/live.kv`;
    let storedAtStart: number;
    let storedAtEnd: number;
    let backup: Result;
    {
      await using srv = await startTestServer({ db, limits: FLOOD_LIMITS });
      await using carol = await srv.connect();
      await carol.request({ type: "register", username: "carol", password: "pw-carol" });
      carol.close();
      await using alice = await srv.connect();
      await alice.loginAs("alice", "pw-alice");
      assert.equal((await alice.request({ type: "hello", version: 2 })).type, "hello");
      let stored = 0;
      let stop = false;
      const warm = Promise.withResolvers<void>();
      const chatter = (async () => {
        for (let i = 0; !stop; i++) {
          const message = i % 3 === 2
            ? { type: "message", subtype: "private", to: "carol", content: `dm ${i}` }
            : { type: "message", channel: i % 3 ? "#sisr" : "#général", content: `m ${i}` };
          await sendStored(alice, message);
          if (++stored === 20) warm.resolve();
        }
      })();
      try {
        await Promise.race([warm.promise, chatter]);
        storedAtStart = stored;
        backup = await script(["backup", "--db", db, "--out", `${dir}/live.ndjson`]);
        storedAtEnd = stored;
      } finally {
        stop = true;
        await chatter;
      }
    }
    assert.equal(backup.code, 0, backup.err);
    assert.ok(storedAtEnd > storedAtStart, "messages were stored while the backup ran");

    const dst = `${dir}/restored.kv`;
    const restored = await script(["restore", "--in", `${dir}/live.ndjson`, "--db", dst]);
    assert.equal(restored.code, 0, restored.err);
    const all = await entries(dst);
    const messages = new Set<number>();
    const indexed = new Map<string, number>();
    let seq = 0;
    for (const { key, value } of all) {
      if (key[0] === "msg") messages.add(key[1] as number);
      else if (key[0] === "seq") seq = value as number;
      else if (["chan", "dm", "time", "inbox"].includes(key[0] as string)) {
        const s = key.at(-1) as number;
        indexed.set(`${String(key[0])}:${s}`, s);
      }
    }
    // Every message acknowledged before the backup started is in it, numbered without a gap,
    // and every index entry points at a stored message (and every message is indexed).
    assert.ok(messages.size >= storedAtStart, `${messages.size} < ${storedAtStart}`);
    assert.deepEqual([...messages], Array.from({ length: messages.size }, (_, i) => i + 1));
    assert.equal(seq, messages.size);
    for (const [what, s] of indexed) assert.ok(messages.has(s), `${what} without its message`);
    for (const s of messages) {
      assert.ok(indexed.has(`time:${s}`), `message ${s} without its time index`);
      assert.ok(indexed.has(`chan:${s}`) || indexed.has(`dm:${s}`), `message ${s} unindexed`);
    }

    await using srv = await startTestServer({ db: dst });
    await using alice = await srv.connect();
    await alice.login("alice", "pw-alice");
    const page = await alice.request({ type: "history", channel: "#général", limit: 5 });
    assert.equal(page.type, "history");
    assert.ok((page.messages as unknown[]).length > 0);
  });
});

Deno.test("backup and restore fail with one line on bad arguments or files", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/notes.txt`,
      "not a database at all, just some text\n".repeat(40),
    );
    assertFails(
      await script(["backup", "--db", `${dir}/missing.kv`, "--out", `${dir}/x.ndjson`]),
      1,
      /^backup: Cannot back up ".*missing\.kv": no such file$/,
    );
    assertFails(
      await script(["backup", "--db", `${dir}/notes.txt`, "--out", `${dir}/x.ndjson`]),
      1,
      /^backup: Cannot back up ".*notes\.txt": /,
    );
    await assert.rejects(Deno.stat(`${dir}/x.ndjson`), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(`${dir}/x.ndjson.partial`), Deno.errors.NotFound);
    assertFails(await script(["backup", "--bogus"]), 2, /^backup: .*bogus/);
    assertFails(await script(["restore", "--db", `${dir}/t.kv`]), 2, /Missing --in/);
    assertFails(
      await script(["restore", "--in", "-", "--db", `${dir}/t.kv`]),
      1,
      /^restore: Cannot restore from stdin: the file is empty$/,
    );
    await assert.rejects(Deno.stat(`${dir}/t.kv`), Deno.errors.NotFound);
    assertFails(
      await script(["restore", "--in", `${dir}/none.ndjson`, "--db", `${dir}/t.kv`]),
      1,
      /^restore: Cannot restore ".*none\.ndjson": no such file$/,
    );
    assertFails(await script(["rewind"]), 2, /Unknown command "rewind"/);
    const help = await script(["backup", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.out, /--out/);
  });
});
