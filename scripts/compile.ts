// Release binaries: `deno compile` of src/main.ts for Linux x86_64 and aarch64 into dist/.
//
// A compiled binary is denort (the Deno runtime without its tools) with the program appended.
// deno compile downloads denort once per Deno version and target from dl.deno.land into
// DENO_DIR ("The denort binary", docs.deno.com/runtime/reference/cli/compile); DENORT_BIN=<path>
// makes it use that file instead, for every target of the run (cli/standalone/binary.rs,
// get_base_binary). Machines that cannot reach dl.deno.land (this project's CI) therefore need
// DENORT_BIN; without it the compile stops with one line saying so.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { run, UsageError } from "../src/commands/cli.ts";

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

/**
 * The architecture of the denort named by DENORT_BIN, read from its ELF header, so a runtime of
 * one architecture is never shipped under the name of another.
 *
 * @throws {UsageError} when the file is missing or is not a Linux x86_64/aarch64 executable
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
    throw new UsageError(
      `DENORT_BIN "${path}" is a zip archive: unzip it and point DENORT_BIN at the denort inside`,
    );
  }
  const isElf = head.length === 20 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c &&
    head[3] === 0x46;
  const arch = isElf ? ELF_MACHINES[head[18] | (head[19] << 8)] : undefined;
  if (arch === undefined) {
    throw new UsageError(`DENORT_BIN "${path}" is not a Linux x86_64 or aarch64 executable`);
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
                    denort-<arch>-unknown-linux-gnu.zip of the Deno release). Without it,
                    deno compile downloads denort from dl.deno.land once per target and
                    caches it in DENO_DIR; a machine that cannot reach dl.deno.land fails.
`;

/** Runs `deno compile` for one architecture; its output is shown, or one line on download failure. */
async function compileOne(arch: Arch): Promise<void> {
  const args = compileArgs(arch);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    // Plain text, so the download failure can be recognised whatever the terminal.
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
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
