// Shared by the scripts: their flags, the store they work on, and one-line errors with exit codes.
import { parseArgs } from "node:util";
import { DEFAULT_DB } from "../src/config.ts";
import { KvStore } from "../src/store/kv_store.ts";

/** Exit code of a script given wrong arguments (as the server's bad configuration). */
export const EXIT_USAGE = 2;

/** A wrong argument: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The flags a script takes, by long name (`-h, --help` is always there). */
export type FlagSpecs = Record<string, { type: "string" | "boolean"; short?: string }>;

/** The flags given: a string or `true` by name, absent when not given. */
export type FlagValues<T extends FlagSpecs> =
  & { [K in keyof T]?: T[K]["type"] extends "string" ? string : boolean }
  & { help?: boolean };

/**
 * Reads a script's flags with node:util parseArgs, `-h, --help` included. Positional arguments
 * are refused unless `positionals`; `--` ends the flags.
 *
 * @throws {UsageError} for the first wrong argument, in one line ending "(see --help)":
 * `Unknown flag "--x"`, `Missing value for --x`, `Value "-y" of --x looks like a flag: write
 * --x=-y if it is meant`, `--x takes no value` or `Unexpected argument "y"`
 */
export function parseFlags<T extends FlagSpecs>(
  args: readonly string[],
  flags: T,
  options: { positionals?: boolean } = {},
): { values: FlagValues<T>; positionals: string[] } {
  const specs: FlagSpecs = { ...flags, help: { type: "boolean", short: "h" } };
  // Not strict: the checks below are parseArgs' strict ones, with messages of our own.
  const { values, positionals, tokens } = parseArgs({
    args: [...args],
    options: specs,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const usage = (message: string) => new UsageError(`${message} (see --help)`);
  for (const token of tokens) {
    if (token.kind === "positional" && !options.positionals) {
      throw usage(`Unexpected argument ${JSON.stringify(token.value)}`);
    }
    if (token.kind !== "option") continue;
    const flag = `--${token.name}`;
    if (!Object.hasOwn(specs, token.name)) {
      throw usage(`Unknown flag ${JSON.stringify(token.rawName)}`);
    }
    if (specs[token.name].type === "boolean") {
      if (token.value !== undefined) throw usage(`${flag} takes no value`);
    } else if (token.value === undefined) {
      throw usage(`Missing value for ${flag}`);
    } else if (!token.inlineValue && token.value.length > 1 && token.value.startsWith("-")) {
      // Most likely a forgotten value before the next flag: `--out --db x`.
      throw usage(
        `Value ${JSON.stringify(token.value)} of ${flag} looks like a flag: ` +
          `write ${flag}=${token.value} if it is meant`,
      );
    }
  }
  return { values: { ...values } as FlagValues<T>, positionals };
}

/** A value quoted for one terminal line: JSON escapes, plus every invisible character. */
export function quote(value: unknown): string {
  return JSON.stringify(String(value)).replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The KV file: `--db`, else CLASSCORD_DB, else the server's default. */
export function dbPath(flag: string | undefined): string {
  return flag ?? Deno.env.get("CLASSCORD_DB") ?? DEFAULT_DB;
}

/**
 * Opens the store a script works on (the server's, unless told otherwise). With `mustExist`, a
 * missing file is an error rather than a new empty store: a mistyped --db must not look like an
 * empty class.
 */
export async function openStore(
  flag: string | undefined,
  options: { mustExist?: boolean } = {},
): Promise<KvStore> {
  const path = dbPath(flag);
  if (options.mustExist && path !== ":memory:") {
    try {
      await Deno.stat(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new Error(`Cannot open store "${path}": no such file`);
      }
      throw err;
    }
  }
  return await KvStore.open(path);
}

/**
 * Runs a script's main and exits: its return code, 2 after a {@link UsageError}, 1 after any
 * other error, each printed as one line on stderr prefixed with the script's name.
 */
export async function run(name: string, main: () => Promise<number | void>): Promise<never> {
  try {
    Deno.exit((await main()) ?? 0);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`${name}: ${message}`);
    Deno.exit(err instanceof UsageError ? EXIT_USAGE : 1);
  }
}
