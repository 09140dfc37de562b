// `deno task export`: the stored channel messages as JSON or CSV (docs/protocol.md §13.2), streamed
// to a file.
import { DEFAULT_DB } from "../config.ts";
import { parseChannel } from "../protocol/channel.ts";
import { type Format, FORMATS, TextSink, writeMessages } from "../store/export.ts";
import type { ExportFilter } from "../store/store.ts";
import {
  dbPath,
  errorReason,
  parseFlags,
  plural,
  readStore,
  resolvePath,
  terminalProgress,
  UsageError,
} from "./cli.ts";

/** What the command line asks for. */
export interface ExportArgs {
  help: boolean;
  listChannels: boolean;
  db: string;
  format: Format;
  /** Output path, absolute; `-` is stdout. */
  out: string;
  /** Start the CSV with a UTF-8 byte-order mark (for Excel). */
  bom: boolean;
  /** The CSV's field separator: one character. */
  separator: string;
  /** End CSV records with CRLF (for Excel). */
  crlf: boolean;
  /** Canonical name of the `--channel` filter ("#sisr"). */
  channel?: string;
  filter: ExportFilter;
}

const USAGE = `Usage: deno task export [flags]

Writes the stored channel messages (never private ones) as JSON or CSV, by channel then time.

Flags:
  --db <file>          Deno KV file (default: CLASSCORD_DB, else ${DEFAULT_DB})
  --format <json|csv>  output format (default: csv with an --out ending in .csv,
                       --separator or --excel, else json)
  --channel <name>     only this channel: "sisr", "#sisr", "général"...
  --since <date>       only messages at or after this local time
  --until <date>       only messages before this local time
  --user <name>        only messages sent by this user (any case)
  --out <file>         output file, "-" for stdout
                       (default: messages[_<channel>]_<YYYYMMDD-HHMMSS>.<format> here)
  --bom                start the CSV with a UTF-8 byte-order mark, so that Excel reads
                       accents ("#général") right; CSV only
  --separator <char>   the CSV's field separator, one character (default ",");
                       implies --format csv
  --excel              CSV as Excel opens it in French: --bom, --separator ";" and CRLF
                       line ends (add --separator "," for an English Excel); implies
                       --format csv
  --list-channels      print each channel with its message count, then exit
  -h, --help           print this help

Dates: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], local time.
Examples: deno task export --channel sisr --since 2026-03-01 --format csv
          deno task export --channel sisr --excel`;

// The progress bar looks at the clock once per 256 messages: it costs nothing then.
const PROGRESS_STRIDE = 256;

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/**
 * Reads a `--since`/`--until` date as local time, in ms since the epoch.
 *
 * @throws {UsageError} `Invalid --flag "value": expected ...`
 */
export function parseDate(value: string, flag: string): number {
  const m = DATE.exec(value);
  const [y, mo, d, h = 0, mi = 0, s = 0] = m ? m.slice(1).map((p) => Number(p ?? 0)) : [];
  const date = new Date(2000, 0, 1);
  if (m) {
    // setFullYear: the Date constructor reads years 0..99 as 1900..1999.
    date.setFullYear(y, mo - 1, d);
    date.setHours(h, mi, s, 0);
  }
  // Out-of-range parts roll over (February 30 becomes March 2): refuse them instead.
  if (!m || date.getMonth() !== mo - 1 || date.getDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new UsageError(
      `Invalid --${flag} "${value}": expected a local date YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]`,
    );
  }
  return date.getTime();
}

/** `YYYYMMDD-HHMMSS` in local time, for default file names. */
function fileStamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-` +
    `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** The default output file: `messages[_<chan>]_<YYYYMMDD-HHMMSS>.<format>`. */
export function defaultOutName(channel: string | undefined, format: Format, now: number): string {
  // Channel names may hold "/" or other characters a file name cannot.
  const chan = channel === undefined
    ? ""
    : `_${channel.replace(/^#/, "").replace(/[/\\:*?"<>|]/g, "_")}`;
  return `messages${chan}_${fileStamp(now)}.${format}`;
}

/**
 * Reads the command line.
 *
 * @throws {UsageError} for an unknown flag or a bad value, naming the flag
 */
export function parseExportArgs(args: string[], now = Date.now()): ExportArgs {
  const { values } = parseFlags(args, {
    "list-channels": { type: "boolean" },
    db: { type: "string" },
    format: { type: "string" },
    channel: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    user: { type: "string" },
    out: { type: "string" },
    bom: { type: "boolean" },
    separator: { type: "string" },
    excel: { type: "boolean" },
  });
  let format: Format;
  if (values.format !== undefined) {
    if (!(FORMATS as readonly string[]).includes(values.format)) {
      throw new UsageError(`Invalid --format "${values.format}": expected json or csv`);
    }
    format = values.format as Format;
  } else {
    const csvFlag = values.excel || values.separator !== undefined;
    format = csvFlag || /\.csv$/i.test(values.out ?? "") ? "csv" : "json";
  }
  let channel: string | undefined;
  if (values.channel !== undefined) {
    try {
      channel = parseChannel(values.channel).name;
    } catch (err) {
      throw new UsageError(`Invalid --channel "${values.channel}": ${(err as Error).message}`);
    }
  }
  const filter: ExportFilter = { channel };
  if (values.since !== undefined) filter.since = parseDate(values.since, "since");
  if (values.until !== undefined) filter.until = parseDate(values.until, "until");
  if (filter.since !== undefined && filter.until !== undefined && filter.until <= filter.since) {
    throw new UsageError(`Invalid --until "${values.until}": must be after --since`);
  }
  if (values.user !== undefined) {
    if (values.user.trim() === "") throw new UsageError("Invalid --user: empty value");
    // The store folds it (any case, any normalisation).
    filter.user = values.user;
  }
  if (values.out === "") throw new UsageError("Invalid --out: empty value");
  if (values.db === "") throw new UsageError("Invalid --db: empty value");
  if (values.separator !== undefined) parseSeparator(values.separator);
  if (values.bom && format !== "csv") {
    throw new UsageError("--bom is for CSV only: add --format csv or an --out ending in .csv");
  }
  for (const flag of ["separator", "excel"] as const) {
    if (values[flag] !== undefined && format !== "csv") {
      throw new UsageError(`--${flag} is for CSV only: leave out --format json`);
    }
  }
  const out = values.out ?? defaultOutName(channel, format, now);
  return {
    help: values.help ?? false,
    listChannels: values["list-channels"] ?? false,
    db: dbPath(values.db),
    format,
    out: out === "-" ? out : resolvePath(out),
    bom: values.bom || values.excel || false,
    // Excel in French reads ";" (its list separator there); --separator wins.
    separator: values.separator ?? (values.excel ? ";" : ","),
    crlf: values.excel ?? false,
    channel,
    filter,
  };
}

/**
 * Checks a `--separator`: one character, which cannot be the quote or a line end (CSV's own).
 *
 * @throws {UsageError} `Invalid --separator "ab": ...`
 */
function parseSeparator(value: string): string {
  const shown = JSON.stringify(value);
  if ([...value].length !== 1) {
    throw new UsageError(`Invalid --separator ${shown}: expected one character, such as ";"`);
  }
  if (value === '"') {
    throw new UsageError(`Invalid --separator ${shown}: CSV quotes fields with it`);
  }
  if (value === "\r" || value === "\n") {
    throw new UsageError(`Invalid --separator ${shown}: CSV ends records with it`);
  }
  return value;
}

/** Same channel identity as the store's keys: NFC, lower case. */
function sameChannel(a: string, b: string): boolean {
  return a.normalize("NFC").toLowerCase() === b.normalize("NFC").toLowerCase();
}

/** `classcord export`: resolves with the exit code. */
export async function exportCommand(args: string[]): Promise<number> {
  const opts = parseExportArgs(args);
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  await using store = await readStore(opts.db);
  {
    if (opts.listChannels) {
      const lines = (await store.channels())
        .filter((c) => opts.channel === undefined || sameChannel(c.name, opts.channel))
        .map((c) => `${c.name}\t${c.count}\n`);
      const sink = new TextSink(Deno.stdout);
      for (const line of lines) await sink.write(line);
      await sink.flush();
      return 0;
    }
    const toStdout = opts.out === "-";
    let file: Deno.FsFile | undefined;
    try {
      if (!toStdout) {
        file = await Deno.open(opts.out, { write: true, create: true, truncate: true });
      }
    } catch (err) {
      throw new Error(`Cannot write "${opts.out}": ${errorReason(err)}`, { cause: err });
    }
    let count: number;
    try {
      const sink = new TextSink(file ?? Deno.stdout);
      const progress = await terminalProgress(
        async () =>
          (await store.channels())
            .filter((c) => opts.channel === undefined || sameChannel(c.name, opts.channel))
            .reduce((n, c) => n + c.count, 0),
        { label: "messages", stride: PROGRESS_STRIDE },
      );
      try {
        count = await writeMessages(store, sink, { ...opts, progress });
      } finally {
        progress?.end();
      }
      await sink.flush();
    } catch (err) {
      // A half-written export must not pass for a complete one.
      file?.close();
      if (file) await Deno.remove(opts.out).catch(() => {});
      throw err;
    }
    file?.close();
    console.error(`Exported ${plural(count, "message")} to ${toStdout ? "stdout" : opts.out}`);
    return 0;
  }
}
