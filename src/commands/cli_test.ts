import assert from "node:assert/strict";
import { errorReason, parseFlags, plural, Progress, quote, UsageError } from "./cli.ts";

const FLAGS = {
  db: { type: "string" },
  out: { type: "string", short: "o" },
  force: { type: "boolean" },
} as const;

Deno.test("parseFlags() reads string and boolean flags, --help and -h included", () => {
  assert.deepEqual(
    parseFlags(["--db", "a.db", "-o", "-", "--force"], FLAGS),
    { values: { db: "a.db", out: "-", force: true }, positionals: [] },
  );
  assert.deepEqual(parseFlags(["--out=-x", "--db="], FLAGS).values, { out: "-x", db: "" });
  assert.deepEqual(parseFlags(["-h"], FLAGS).values, { help: true });
  assert.deepEqual(parseFlags(["--help"], {}).values, { help: true });
  assert.deepEqual(parseFlags([], FLAGS).values, {});
});

Deno.test("parseFlags() takes positionals only when told, and everything after --", () => {
  assert.deepEqual(
    parseFlags(["add", "--db", "x", "alice", "--", "--force"], FLAGS, { positionals: true }),
    { values: { db: "x" }, positionals: ["add", "alice", "--force"] },
  );
});

Deno.test("parseFlags() refuses a wrong argument with one line of its own, not the parser's", () => {
  const cases: [string[], string][] = [
    [["--bogus"], 'Unknown flag "--bogus" (see --help)'],
    [["-x"], 'Unknown flag "-x" (see --help)'],
    [["-hx"], 'Unknown flag "-x" (see --help)'],
    [["--__proto__"], 'Unknown flag "--__proto__" (see --help)'],
    [["--out"], "Missing value for --out (see --help)"],
    [["--db", "x", "-o"], "Missing value for --out (see --help)"],
    [
      ["--out", "--db", "x"],
      'Value "--db" of --out looks like a flag: write --out=--db if it is meant (see --help)',
    ],
    [["--force=yes"], "--force takes no value (see --help)"],
    [["--help=1"], "--help takes no value (see --help)"],
    [["backup.ndjson"], 'Unexpected argument "backup.ndjson" (see --help)'],
    [["--", "--force"], 'Unexpected argument "--force" (see --help)'],
    // The first wrong argument is the one named.
    [["extra", "--bogus"], 'Unexpected argument "extra" (see --help)'],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseFlags(args, FLAGS), (err) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.equal(err.message, message, args.join(" "));
      return true;
    });
  }
  assert.throws(
    () => parseFlags(["list", "--verbose"], FLAGS, { positionals: true }),
    new UsageError('Unknown flag "--verbose" (see --help)'),
  );
});

Deno.test("quote() keeps a value on one visible line", () => {
  assert.equal(quote('a"b'), '"a\\"b"');
  assert.equal(quote("a\nb\u200bc\u2028"), '"a\\nb\\u200bc\\u2028"');
  assert.equal(quote(42), '"42"');
});

Deno.test("plural() is singular for exactly one", () => {
  assert.equal(plural(1, "entry", "entries"), "1 entry");
  assert.equal(plural(0, "entry", "entries"), "0 entries");
  assert.equal(plural(2, "invalid password"), "2 invalid passwords");
  assert.equal(plural(1, "message"), "1 message");
});

Deno.test("errorReason() leaves out the path Deno repeats after the reason", async () => {
  const err = await Deno.readFile("/nonexistent/classcord").catch((e) => e);
  assert.equal(errorReason(err), "No such file or directory (os error 2)");
  assert.equal(errorReason(new Error("disk full")), "disk full");
  assert.equal(errorReason("text"), "text");
});

/** A progress bar writing into an array, with a clock the test moves. */
function fakeProgress(total: number, options: { label?: string; stride?: number } = {}) {
  const written: string[] = [];
  const clock = { ms: 1_000, reads: 0, now: () => (clock.reads++, clock.ms) };
  const progress = new Progress(total, {
    ...options,
    write: (text) => written.push(text),
    clock,
  });
  return { progress, written, clock };
}

const bar = (full: number) => "#".repeat(full) + "-".repeat(30 - full);

Deno.test("Progress draws a labelled bar and redraws it at most every 100 ms", () => {
  const { progress, written, clock } = fakeProgress(600, { label: "users" });
  progress.draw();
  assert.deepEqual(written, [`\rusers [${bar(0)}]   0% 0/600`]);
  progress.tick();
  clock.ms += 99;
  progress.tick();
  assert.equal(written.length, 1, "no redraw within 100 ms");
  clock.ms += 1;
  progress.tick();
  assert.deepEqual(written.slice(1), [`\rusers [${bar(0)}]   0% 3/600`]);
  clock.ms += 100;
  progress.tick(297);
  assert.deepEqual(written.slice(2), [`\rusers [${bar(15)}]  50% 300/600`]);
  assert.equal(progress.done, 300);
  progress.end();
  assert.deepEqual(written.slice(3), ["\r\x1b[K"]);
  progress.end();
  assert.equal(written.length, 4, "erased once");
});

Deno.test("Progress looks at the clock once per stride of ticks", () => {
  const { progress, written, clock } = fakeProgress(1000, { stride: 256 });
  for (let i = 0; i < 255; i++) progress.tick();
  assert.equal(clock.reads, 0);
  progress.tick();
  // Never drawn before: the first look draws (one read to check, one to note the time).
  assert.equal(clock.reads, 2);
  assert.deepEqual(written, [`\r[${bar(8)}]  25% 256/1000`]);
  for (let i = 0; i < 256; i++) progress.tick();
  assert.equal(clock.reads, 3, "a look, no redraw within 100 ms");
  assert.equal(written.length, 1);
});

Deno.test("Progress prints lines above the bar and caps it at 100%", () => {
  const { progress, written, clock } = fakeProgress(2, { label: "messages" });
  progress.line("import: before the bar");
  assert.deepEqual(written, ["import: before the bar\n"]);
  progress.draw();
  clock.ms += 100;
  progress.tick(3);
  progress.line('import: skipped message row 2: timestamp "yesterday"');
  assert.deepEqual(written.slice(1), [
    `\rmessages [${bar(0)}]   0% 0/2`,
    `\rmessages [${bar(30)}] 100% 3/2`,
    `\r\x1b[Kimport: skipped message row 2: timestamp "yesterday"\n` +
    `\rmessages [${bar(30)}] 100% 3/2`,
  ]);
  // Nothing to count is all done.
  const empty = fakeProgress(0);
  empty.progress.draw();
  assert.deepEqual(empty.written, [`\r[${bar(30)}] 100% 0/0`]);
});
