// What the commands write beside the sources (backups, exports, the store) stays out of git and
// out of the Docker build context: a backup holds every password hash.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { defaultBackupName } from "../src/commands/backup/backup.ts";
import { defaultOutName } from "../src/commands/export.ts";
import { runCommand } from "./helpers/process.ts";
import { needs, which } from "./helpers/tools.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** The names a command gives its output when run without --out, now, at the top and below. */
function outputs(): string[] {
  const now = new Date();
  const names = [
    defaultBackupName(now),
    // Being written (backup.ts writes through it).
    `${defaultBackupName(now)}.partial`,
    // Named by hand, as the README's Docker recipe does.
    "backup.ndjson",
    defaultOutName(undefined, "json", now.getTime()),
    defaultOutName("#sisr", "csv", now.getTime()),
    defaultOutName("#général", "json", now.getTime()),
  ];
  // `deno task` commands write where the user typed them (INIT_CWD): any folder.
  return [...names, ...names.map((n) => `docs/${n}`), "data/classcord.kv"];
}

/** Files the build or the repository needs, which no pattern may catch. */
const KEPT = ["deno.json", "src/main.ts", "src/commands/export.ts", "tests/export_test.ts"];

/** Why the git half cannot run here, or undefined. */
function noGitCheckout(): string | undefined {
  try {
    Deno.statSync(`${ROOT}/.git`); // a directory, or a file in a worktree
  } catch {
    return `${ROOT} is not a git checkout`;
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (dir !== "" && Deno.statSync(`${dir}/git`).isFile) return undefined;
    } catch { /* not here */ }
  }
  return "git is not on PATH";
}

const gitSkip = noGitCheckout();
if (gitSkip) console.error(`ignored: git check-ignore test (${gitSkip})`);

Deno.test(
  "git ignores default backups, exports and the data folder, not the sources",
  { ignore: gitSkip !== undefined },
  async () => {
    // One instant for both sides: names built twice could straddle a second.
    const expected = outputs();
    const paths = [...expected, ...KEPT];
    // Prints every path that an ignore rule matches, tracked or not (--no-index); -z (with
    // --stdin) ends each by NUL and leaves it unquoted: "général" stays as it is.
    const result = await runCommand(
      "git",
      ["-C", ROOT, "check-ignore", "--no-index", "-z", "--stdin"],
      { stdin: paths.map((p) => `${p}\0`).join(""), timeoutMs: 20_000 },
    );
    assert.ok(result.code === 0 || result.code === 1, result.err);
    const ignored = result.out.split("\0").filter((l) => l !== "");
    assert.deepEqual(ignored.sort(), expected.sort());
  },
);

Deno.test(
  "the Docker build context leaves out default backups, exports and the data folder",
  needs("docker-compose"),
  async () => {
    // docker-compose builds with docker-py: its own .dockerignore matcher, run by the Python
    // that runs docker-compose (the first line of the script).
    const script = await Deno.readTextFile(which("docker-compose")!);
    const python = script.match(/^#!\s*(\S+)/)?.[1];
    assert.ok(python, "docker-compose starts with #!<python>");
    const dir = await Deno.makeTempDir({ prefix: "classcord_context_" });
    const expected = outputs();
    try {
      for (const path of [...expected, ...KEPT]) {
        await Deno.mkdir(`${dir}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
        await Deno.writeTextFile(`${dir}/${path}`, "x");
      }
      await Deno.copyFile(`${ROOT}/.dockerignore`, `${dir}/.dockerignore`);
      const code = [
        "import sys",
        "from docker.utils.build import exclude_paths",
        "patterns = [l.strip() for l in open(sys.argv[1] + '/.dockerignore')]",
        "patterns = [p for p in patterns if p and not p.startswith('#')]",
        "print('\\n'.join(sorted(exclude_paths(sys.argv[1], patterns))))",
      ].join("\n");
      const result = await runCommand(python, ["-c", code, dir], { timeoutMs: 20_000 });
      assert.equal(result.code, 0, result.err);
      const sent = new Set(result.out.split("\n"));
      for (const path of expected) assert.ok(!sent.has(path), `${path} is sent to the builder`);
      for (const path of KEPT) {
        if (path.startsWith("tests/")) continue; // left out on purpose (.dockerignore)
        assert.ok(sent.has(path), `${path} is left out of the build context`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
