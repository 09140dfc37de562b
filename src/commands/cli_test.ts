import assert from "node:assert/strict";
import { parseFlags, quote, UsageError } from "./cli.ts";

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
