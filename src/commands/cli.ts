// Shared by the commands: their flags, the paths and store they work on, their progress bar,
// and one-line messages and errors with exit codes.
import { isAbsolute, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Clock } from "../clock.ts";
import { DEFAULT_DB } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { KvSnapshot } from "../store/kv_entries.ts";
import { StoreOpenError } from "../store/files.ts";
import { KvStore } from "../store/kv_store.ts";
import { StoreLock } from "../store/lock.ts";

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

/** `1 entry`, `2 entries`: a count and its noun, singular for exactly one. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * Why a file operation failed, for the end of a line that already names the file: Deno's
 * message without its trailing `: open '/path'` (`No such file or directory (os error 2)`).
 */
export function errorReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/(\(os error \d+\)): \w+ '.*'$/s, "$1");
}

/**
 * A path as the user meant it: relative to the directory they typed the command in (`deno task`
 * runs in the project's root and says where the user was in INIT_CWD), made absolute, so every
 * message names a file the user can find.
 */
export function resolvePath(path: string): string {
  if (isAbsolute(path)) return path;
  return resolve(Deno.env.get("INIT_CWD") ?? Deno.cwd(), path);
}

/** The KV file, absolute: `--db`, else CLASSCORD_DB, else the server's default. */
export function dbPath(flag: string | undefined): string {
  const path = flag ?? Deno.env.get("CLASSCORD_DB") ?? DEFAULT_DB;
  return path === ":memory:" ? path : resolvePath(path);
}

/**
 * Opens the store a command reads (export, backup, user list). While another process holds it
 * (the running server), the command reads a consistent snapshot of it instead, taken with
 * SQLite's online backup, and never touches the live file. A missing file is an error, not a
 * new empty store: a mistyped --db must not look like an empty class.
 *
 * @throws {StoreOpenError} `Cannot open store "path" (--db): no such file`
 */
export async function readStore(flag: string | undefined): Promise<KvStore & AsyncDisposable> {
  const path = await existingStore(dbPath(flag));
  if (path === ":memory:" || !await StoreLock.holder(path)) {
    return disposable(await KvStore.open(path));
  }
  const snapshot = await KvSnapshot.take(path);
  const store = await snapshot.open();
  return Object.assign(store, {
    async [Symbol.asyncDispose]() {
      store.close();
      await snapshot[Symbol.asyncDispose]();
    },
  });
}

/**
 * Opens the store a command writes (import, restore, user changes), holding its lock until
 * disposed: never while the server or another writer holds it. Only with `create` may the file
 * be new.
 *
 * @throws {StoreInUseError} naming what holds the store; {StoreOpenError} `Cannot open store
 * "path" (--db): no such file` without `create`
 */
export async function writeStore(
  flag: string | undefined,
  command: string,
  options: { create?: boolean } = {},
): Promise<KvStore & AsyncDisposable> {
  const path = options.create ? dbPath(flag) : await existingStore(dbPath(flag));
  if (path === ":memory:") return disposable(await KvStore.open(path));
  const lock = await StoreLock.acquire(path, `classcord ${command}`);
  try {
    const store = await KvStore.open(path);
    return Object.assign(store, {
      [Symbol.asyncDispose]() {
        store.close();
        lock.release();
        return Promise.resolve();
      },
    });
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** `path`, once it is known to exist. */
async function existingStore(path: string): Promise<string> {
  if (path === ":memory:") return path;
  try {
    await Deno.stat(path);
    return path;
  } catch (err) {
    throw StoreOpenError.from(path, err);
  }
}

function disposable(store: KvStore): KvStore & AsyncDisposable {
  return Object.assign(store, {
    [Symbol.asyncDispose]: () => Promise.resolve(store.close()),
  });
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
    // A bad server option (ConfigError) is a usage error too, named as parseConfig names it.
    const usage = err instanceof UsageError || err instanceof ConfigError;
    console.error(`${name}: ${message}${err instanceof ConfigError ? " (see --help)" : ""}`);
    Deno.exit(usage ? EXIT_USAGE : 1);
  }
}

// Redraw a progress bar at most every 100 ms: a terminal cannot show more.
const PROGRESS_MS = 100;
const BAR_WIDTH = 30;
const ERASE_LINE = "\r\x1b[K";

/** Where a {@link Progress} bar goes and what it reads the time from. */
export interface ProgressOptions {
  /** What is counted, before the bar: "users", "messages". */
  label?: string;
  /**
   * Ticks between two looks at the clock: 1 for slow work (a password hash), more for many
   * cheap steps (256 for exported messages), so the bar costs nothing.
   */
  stride?: number;
  /** Writes text as it is, without a line break (default: stderr). */
  write?: (text: string) => void;
  /** Milliseconds; only differences count (default: performance.now()). */
  clock?: Clock;
}

const encoder = new TextEncoder();
const writeStderr = (text: string) => {
  Deno.stderr.writeSync(encoder.encode(text));
};
const monotonic: Clock = { now: () => performance.now() };

/**
 * A progress bar on one terminal line, `label [#####-----]  50% 300/600`, redrawn in place at
 * most every 100 ms. Lines printed meanwhile go through {@link Progress.line}, above the bar.
 */
export class Progress {
  readonly #total: number;
  readonly #label: string;
  readonly #stride: number;
  readonly #write: (text: string) => void;
  readonly #clock: Clock;
  #done = 0;
  #checked = 0;
  #drawnAt = -Infinity;
  #shown = false;

  constructor(total: number, options: ProgressOptions = {}) {
    this.#total = total;
    this.#label = options.label ? `${options.label} ` : "";
    this.#stride = Math.max(1, options.stride ?? 1);
    this.#write = options.write ?? writeStderr;
    this.#clock = options.clock ?? monotonic;
  }

  /** How many steps are done so far. */
  get done(): number {
    return this.#done;
  }

  /** Counts `n` more steps done; redraws when the last drawing is 100 ms old. */
  tick(n = 1): void {
    this.#done += n;
    if (this.#done - this.#checked < this.#stride) return;
    this.#checked = this.#done;
    if (this.#clock.now() - this.#drawnAt >= PROGRESS_MS) this.draw();
  }

  /** Draws the bar now. */
  draw(): void {
    this.#drawnAt = this.#clock.now();
    this.#shown = true;
    this.#write(this.#text());
  }

  /** Prints `text` as a line of its own above the bar, which is drawn again below it. */
  line(text: string): void {
    if (!this.#shown) {
      this.#write(`${text}\n`);
      return;
    }
    this.#write(`${ERASE_LINE}${text}\n${this.#text()}`);
  }

  /** Erases the bar, so the next line starts clean. */
  end(): void {
    if (!this.#shown) return;
    this.#shown = false;
    this.#write(ERASE_LINE);
  }

  #text(): string {
    // Work added meanwhile (messages stored during an export) may pass the total counted first.
    const ratio = this.#total === 0 ? 1 : Math.min(1, this.#done / this.#total);
    const full = Math.round(ratio * BAR_WIDTH);
    const bar = "#".repeat(full) + "-".repeat(BAR_WIDTH - full);
    const pct = String(Math.floor(ratio * 100)).padStart(3);
    return `\r${this.#label}[${bar}] ${pct}% ${this.#done}/${this.#total}`;
  }
}

/**
 * A {@link Progress} bar on stderr, drawn at once, when stderr is a terminal; otherwise
 * undefined, and `total` is never called: scripts and tests see no bar and pay nothing for it.
 */
export async function terminalProgress(
  total: () => number | Promise<number>,
  options: Omit<ProgressOptions, "write"> = {},
): Promise<Progress | undefined> {
  if (!Deno.stderr.isTerminal()) return undefined;
  const progress = new Progress(await total(), options);
  progress.draw();
  return progress;
}
