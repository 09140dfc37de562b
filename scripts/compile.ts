// Release binaries: `deno compile` of src/main.ts for Linux x86_64 and aarch64 into dist/.
//
// A compiled binary is denort (the Deno runtime without its tools) with the program appended.
// deno compile downloads denort once per Deno version and target from dl.deno.land into
// DENO_DIR ("The denort binary", docs.deno.com/runtime/reference/cli/compile); DENORT_BIN=<path>
// makes it use that file instead, for every target of the run (cli/standalone/binary.rs,
// get_base_binary). Machines that cannot reach dl.deno.land (this project's CI) therefore need
// DENORT_BIN; without it the compile stops with one line saying so.
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { run, UsageError } from "../src/commands/cli.ts";

/**
 * The V8 flags the server runs with, here baked into the binary (so the Docker image and the
 * systemd unit have them) and given by `deno task start` (docs/benchmarks.md, "Memory"):
 * - `--memory-reducer-delay-ms=2000`: V8's memory reducer gives back the heap a burst grew (a
 *   login storm, N²/2 "online" lines) 2 s after the burst instead of 8 s. 5,000 logins: the heap
 *   given back 15 s after them in 5 runs of 5 with it, 2 of 4 without.
 * - `--memory-pool-timeout=1`: the pages the reducer frees go back to the system after 1 s in
 *   V8's page pool instead of 8 s. With 8 s, 40-55 MB of pooled pages were still resident 15 s
 *   after 5,000 logins in about half the runs (20-29 KB a connection instead of 11-13).
 * - `--no-memory-pool-share-memory-on-teardown`: a password worker that stops gives its pages
 *   back to the system at once. By default they go to a pool shared by the isolates, emptied by
 *   a task V8 posts to another isolate; after the last worker stopped, 8-9 MB of them stayed
 *   resident in about half the runs, for as long as the server stayed idle (docs/benchmarks.md,
 *   "The password workers' pages").
 */
export const SERVER_V8_FLAGS =
  "--memory-reducer-delay-ms=2000,--memory-pool-timeout=1,--no-memory-pool-share-memory-on-teardown";

/**
 * The environment the server runs with, set by `deno task start`, the Docker image and the
 * systemd unit (a binary cannot set it for itself: glibc reads it when the process starts).
 * `MALLOC_MMAP_THRESHOLD_`: blocks of 128 KiB and more get memory of their own from the system,
 * given back when freed. That is glibc's starting threshold, but glibc raises it each time such
 * a block is freed (up to 32 MiB; mallopt(3)), after which large blocks come from its heap; a
 * fixed value keeps it. The full GC after a login storm mallocs large blocks of bookkeeping; from
 * the heap, their memory stayed resident once freed (docs/benchmarks.md, "Why the RSS at rest was
 * bimodal"). 64 KiB gave the memory back as well but cost latency at the top of the fan-out
 * ladder; 256 KiB and 1 MiB gave it back in half the runs.
 */
export const SERVER_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: "131072" };

/** The Linux targets of a release, by the architecture names of `Deno.build.arch`. */
export const TARGETS = {
  x86_64: "x86_64-unknown-linux-gnu",
  aarch64: "aarch64-unknown-linux-gnu",
} as const;

/** An architecture a release is built for. */
export type Arch = keyof typeof TARGETS;

const ARCHES = Object.keys(TARGETS) as Arch[];

/** The repository root, found from this file so the task works from any directory. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** Options of {@link compileArgs}. */
export interface CompileArgsOptions {
  /** Where deno.json and src/ are; the repository by default (tests pass a copy). */
  root?: string;
  /** The binary to write; `dist/classcord-<arch>` of the repository by default. */
  output?: string;
}

/**
 * The arguments of `deno compile` for one architecture: the single source of truth for the entry
 * point, the permissions baked into the binary and the files embedded beside the module graph.
 */
export function compileArgs(arch: Arch, options: CompileArgsOptions = {}): string[] {
  const root = options.root ?? ROOT;
  return [
    "compile",
    // deno.lock must already match deno.json: a release never resolves new versions.
    "--frozen",
    // deno.json is the import map and turns on Deno KV ("unstable": ["kv"]).
    "--config",
    `${root}/deno.json`,
    // Exactly the permissions of `deno task start`; they are baked into the binary.
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    `--v8-flags=${SERVER_V8_FLAGS}`,
    // The password Worker is loaded from `new URL("./password_worker.ts", import.meta.url)`,
    // which is not a static import, so deno compile embeds it only when told.
    "--include",
    `${root}/src/auth/password_worker.ts`,
    // The built web app (deno task web:build), read from dist/web/ next to src/ at start.
    "--include",
    `${root}/dist/web`,
    "--target",
    TARGETS[arch],
    "--output",
    options.output ?? `${ROOT}/dist/classcord-${arch}`,
    `${root}/src/main.ts`,
  ];
}

// ELF e_machine values (System V ABI, elf.h): EM_X86_64 and EM_AARCH64.
const ELF_MACHINES: Record<number, Arch> = { 62: "x86_64", 183: "aarch64" };

// What every denort holds as plain bytes, and the deno CLI lacks (checked on the npm package's
// deno 2.9.6): the error denort prints when started without a program appended
// (cli/rt/binary.rs, find_section). And what any Deno binary of this version holds: its user
// agent, a literal built in (cli/lib/version.rs), so a denort of another version is told apart.
const DENORT_MARK = "Could not find standalone binary section";
const VERSION_MARK = `Deno/${Deno.version.deno}`;
// A denort is about 100 MB: read in chunks of this size, so memory stays small.
const SCAN_CHUNK = 1 << 20;

/** A DENORT_BIN that is not a denort of this Deno: exit 1 with the one line. */
class NotDenortError extends Error {
  override name = "NotDenortError";

  constructor(path: string, why: string) {
    super(
      `DENORT_BIN "${path}" is not a Deno runtime (denort) of Deno ${Deno.version.deno}: ${why}`,
    );
  }
}

/** Whether `needle` occurs in `haystack`: its first byte found natively, then compared. */
function includesBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(needle[0]); i >= 0 && i <= last;) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
    i = haystack.indexOf(needle[0], i + 1);
  }
  return false;
}

/** Which of `marks` the file holds, reading it once (and only until all are found). */
async function findMarks(path: string, marks: string[]): Promise<boolean[]> {
  const needles = marks.map((m) => new TextEncoder().encode(m));
  const found = needles.map(() => false);
  // The end of each chunk is read again with the next one: a mark may straddle the two.
  const overlap = Math.max(...needles.map((n) => n.length)) - 1;
  const buf = new Uint8Array(SCAN_CHUNK + overlap);
  using file = await Deno.open(path);
  let kept = 0;
  for (;;) {
    const read = await file.read(buf.subarray(kept, kept + SCAN_CHUNK));
    if (read === null) break;
    const view = buf.subarray(0, kept + read);
    needles.forEach((needle, i) => {
      if (!found[i]) found[i] = includesBytes(view, needle);
    });
    if (found.every(Boolean)) break;
    kept = Math.min(overlap, view.length);
    buf.copyWithin(0, view.length - kept, view.length);
  }
  return found;
}

/**
 * The architecture of the denort named by DENORT_BIN, read from its ELF header, so a runtime of
 * one architecture is never shipped under the name of another; first, the file is checked to be
 * a denort of this Deno. deno compile takes any file as DENORT_BIN: given the deno CLI or a text
 * file, it overflows its stack and leaves a 0-byte temporary file in dist/ (seen with 2.9.6).
 *
 * @throws {UsageError} when the file is missing; {Error} `DENORT_BIN "path" is not a Deno runtime
 * (denort) of Deno 2.9.6: why` when it is a zip, not a Linux x86_64/aarch64 executable, has no
 * denort start-up code in it, or is of another Deno version
 */
export async function denortArch(path: string): Promise<Arch> {
  let head: Uint8Array;
  try {
    using file = await Deno.open(path);
    head = new Uint8Array(20);
    let n = 0;
    while (n < head.length) {
      const read = await file.read(head.subarray(n));
      if (read === null) break;
      n += read;
    }
    head = head.subarray(0, n);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UsageError(`Cannot read DENORT_BIN "${path}": no such file`);
    }
    throw new UsageError(`Cannot read DENORT_BIN "${path}": ${(err as Error).message}`);
  }
  if (head[0] === 0x50 && head[1] === 0x4b) {
    throw new NotDenortError(
      path,
      "it is a zip archive; unzip it and point DENORT_BIN at the denort inside",
    );
  }
  const isElf = head.length === 20 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c &&
    head[3] === 0x46;
  const arch = isElf ? ELF_MACHINES[head[18] | (head[19] << 8)] : undefined;
  if (arch === undefined) {
    throw new NotDenortError(path, "it is not a Linux x86_64 or aarch64 executable");
  }
  const [runtime, version] = await findMarks(path, [DENORT_MARK, VERSION_MARK]);
  if (!runtime) {
    throw new NotDenortError(
      path,
      "it has no denort start-up code (the deno command itself is not a denort); unzip " +
        `denort-${TARGETS[arch]}.zip of the Deno ${Deno.version.deno} release`,
    );
  }
  if (!version) {
    throw new NotDenortError(path, "it is the denort of another Deno version");
  }
  return arch;
}

/**
 * The architectures to build: `--target`, else both; with DENORT_BIN, only its architecture
 * (one denort serves every target of a run, so it must match the one target asked for).
 */
export async function chooseArches(
  target: string | undefined,
  denortBin: string | undefined,
): Promise<Arch[]> {
  if (target !== undefined && target !== "all" && !(ARCHES as string[]).includes(target)) {
    throw new UsageError(`Invalid --target "${target}": expected ${ARCHES.join(", ")} or all`);
  }
  if (!denortBin) return target === undefined || target === "all" ? ARCHES : [target as Arch];
  const arch = await denortArch(denortBin);
  if (target === undefined) return [arch];
  if (target === "all") {
    throw new UsageError(
      `DENORT_BIN "${denortBin}" is one ${arch} runtime, so it cannot build --target all: ` +
        `pass --target ${arch}, then run again with a denort of the other architecture`,
    );
  }
  if (target !== arch) {
    throw new UsageError(
      `DENORT_BIN "${denortBin}" is an ${arch} runtime, so it cannot build --target ${target}: ` +
        `pass --target ${arch}, or set DENORT_BIN to an ${target} denort`,
    );
  }
  return [arch];
}

/**
 * The one-line reason for a failed `deno compile` when it is the download of denort, else
 * undefined (type errors and the like are shown as deno printed them).
 */
export function downloadFailure(stderr: string, arch: Arch): string | undefined {
  const download =
    /Setting up base binary|error sending request for url \(https:\/\/dl\.deno\.land|Download could not be found/;
  if (!download.test(stderr)) return undefined;
  // The innermost "Caused by" line says why (DNS, refused, timeout); a backtrace may follow.
  const causes = [...stderr.split("Stack backtrace:")[0].matchAll(/^\s*\d+: (.+)$/gm)].map((m) =>
    m[1].trim()
  );
  const why = causes.at(-1) ?? "download failed";
  return `Cannot download the Deno runtime (denort) for ${TARGETS[arch]} from dl.deno.land ` +
    `(${why}): set DENORT_BIN to a denort ${Deno.version.deno} binary for ${arch}`;
}

const HELP = `Builds the ClassCord server as standalone Linux binaries (deno compile).

Usage: deno task compile [--target x86_64|aarch64|all]

Writes dist/classcord-x86_64 and dist/classcord-aarch64, and dist/classcord, a link to the
binary of this machine's architecture, after building the web app into dist/web (embedded).
The binaries run without Deno and without the source tree, with the permissions of
"deno task start".

Options:
  --target <arch>   x86_64, aarch64 or all (default all; with DENORT_BIN, its architecture)
  -h, --help        show this help

Environment:
  DENORT_BIN        a local denort ${Deno.version.deno} for the target (unzipped from
                    denort-<arch>-unknown-linux-gnu.zip of the Deno release; checked to
                    be one before anything is built). Without it,
                    deno compile downloads denort from dl.deno.land once per target and
                    caches it in DENO_DIR; a machine that cannot reach dl.deno.land fails.
`;

/**
 * Removes what a failed deno compile left beside `output`: it writes `<output>.tmp-<random>`,
 * then renames it, and a crash (a stack overflow, a kill) skips both the rename and its clean-up.
 */
async function removeLeftovers(output: string): Promise<void> {
  const prefix = `${basename(output)}.tmp-`;
  for await (const entry of Deno.readDir(dirname(output))) {
    if (entry.isFile && entry.name.startsWith(prefix)) {
      await Deno.remove(`${dirname(output)}/${entry.name}`);
    }
  }
}

/** Runs `deno compile` for one architecture; its output is shown, or one line on download failure. */
async function compileOne(arch: Arch): Promise<void> {
  const output = `${ROOT}/dist/classcord-${arch}`;
  const args = compileArgs(arch, { output });
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    // Plain text, so the download failure can be recognised whatever the terminal.
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    await removeLeftovers(output);
    const oneLine = downloadFailure(new TextDecoder().decode(stderr), arch);
    if (oneLine) throw new Error(oneLine);
    await writeAll(Deno.stderr, stderr);
    throw new Error(`deno compile for ${TARGETS[arch]} failed with exit code ${code}`);
  }
  await writeAll(Deno.stderr, stderr);
}

async function writeAll(w: typeof Deno.stderr, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await w.write(bytes.subarray(off));
}

/** Builds the web app into dist/web/ (the web:build task), so the binary embeds this source's. */
async function buildWeb(): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "--config", `${ROOT}/deno.json`, "web:build"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    await writeAll(Deno.stderr, stderr);
    throw new Error(`deno task web:build failed with exit code ${code}`);
  }
}

/** Points dist/classcord at the binary of this machine's architecture (relative symlink). */
async function linkHostBinary(): Promise<void> {
  const link = `${ROOT}/dist/classcord`;
  await Deno.remove(link).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  await Deno.symlink(`classcord-${Deno.build.arch}`, link);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: { target: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const arches = await chooseArches(values.target, Deno.env.get("DENORT_BIN"));
  await Deno.mkdir(`${ROOT}/dist`, { recursive: true });
  await buildWeb();
  for (const arch of arches) {
    await compileOne(arch);
    console.log(`Wrote dist/classcord-${arch}`);
  }
  if ((arches as string[]).includes(Deno.build.arch)) {
    await linkHostBinary();
    console.log(`Linked dist/classcord -> classcord-${Deno.build.arch}`);
  }
  return 0;
}

if (import.meta.main) await run("compile", main);
