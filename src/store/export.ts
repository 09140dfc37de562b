// The export shapes of the old export script (docs/protocol.md §13.2): the stored channel messages
// as JSON or CSV, streamed, for the export command and the teacher console's downloads alike.
import { stringify } from "csv-stringify/sync";
import type { ExportFilter, MessageStore, StoredMessage } from "./store.ts";

/** Output formats of an export. */
export const FORMATS = ["json", "csv"] as const;
/** An output format. */
export type Format = typeof FORMATS[number];

/** The old export script's CSV header (docs/protocol.md §13.2). */
export const CSV_HEADER = ["Username", "Channel", "Content", "Timestamp"];

/** One exported message, keys in the old export script's order (docs/protocol.md §13.2). */
export interface ExportRecord {
  username: string;
  channel: string;
  content: string;
  timestamp: string;
}

// Flushing about every 64 KiB of text keeps memory flat and syscalls few.
const FLUSH_CHARS = 64 * 1024;
// CSV rows are stringified in batches: one csv-stringify call per row costs more than the row.
const CSV_BATCH = 256;

/** How a CSV export is written; the defaults are the old script's (docs/protocol.md §13.2). */
export interface CsvOptions {
  /**
   * Start with a UTF-8 byte-order mark (U+FEFF, written EF BB BF): Excel reads a CSV without
   * it in the system's code page.
   */
  bom: boolean;
  /** One character between fields (default ","; French Excel expects ";"). */
  separator?: string;
  /** End records with CRLF, as Excel writes them (default LF). */
  crlf?: boolean;
}

/** csv-stringify's options for a CSV export (the BOM is written once, with the header). */
function stringifyOptions(options: CsvOptions) {
  return {
    delimiter: options.separator ?? ",",
    record_delimiter: options.crlf ? "\r\n" : "\n",
    // csv-stringify quotes a field holding the record delimiter as a whole: with CRLF records, a
    // lone LF or CR in a message would then go out bare and split the row in Excel.
    quoted_match: /[\r\n]/,
  };
}

const encoder = new TextEncoder();

/** Text written in chunks of about {@link FLUSH_CHARS}: memory stays flat whatever the size. */
export class TextSink {
  #parts: string[] = [];
  #size = 0;

  constructor(private readonly target: { write(p: Uint8Array): Promise<number> }) {}

  async write(text: string): Promise<void> {
    this.#parts.push(text);
    this.#size += text.length;
    if (this.#size >= FLUSH_CHARS) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#size === 0) return;
    const bytes = encoder.encode(this.#parts.join(""));
    this.#parts = [];
    this.#size = 0;
    for (let off = 0; off < bytes.length;) off += await this.target.write(bytes.subarray(off));
  }
}

function toRecord(m: StoredMessage): ExportRecord {
  return {
    username: m.line.from,
    channel: m.channel ?? "",
    content: m.line.content,
    timestamp: m.line.timestamp,
  };
}

/** What to export and how: the format, the CSV's options, the filter. */
export interface ExportOptions extends CsvOptions {
  format: Format;
  filter: ExportFilter;
}

/** Writes the filtered channel messages to `sink` as they are read; returns how many. */
export async function writeMessages(
  store: MessageStore,
  sink: TextSink,
  options: ExportOptions & { progress?: { tick(): void } },
): Promise<number> {
  const { format, filter, progress } = options;
  let count = 0;
  if (format === "json") {
    await sink.write("[");
    for await (const m of store.exportMessages(filter)) {
      // exportMessages reads the channel index only; the check keeps a bad record out anyway.
      if (m.channel === null) continue;
      await sink.write((count === 0 ? "\n  " : ",\n  ") + JSON.stringify(toRecord(m)));
      count++;
      progress?.tick();
    }
    await sink.write(count === 0 ? "]\n" : "\n]\n");
    return count;
  }
  const csv = stringifyOptions(options);
  await sink.write(stringify([CSV_HEADER], { ...csv, bom: options.bom }));
  let rows: string[][] = [];
  for await (const m of store.exportMessages(filter)) {
    if (m.channel === null) continue;
    const r = toRecord(m);
    rows.push([r.username, r.channel, r.content, r.timestamp]);
    count++;
    progress?.tick();
    if (rows.length === CSV_BATCH) {
      await sink.write(stringify(rows, csv));
      rows = [];
    }
  }
  if (rows.length > 0) await sink.write(stringify(rows, csv));
  return count;
}

/**
 * An export as a byte stream (a download): written as it is read, so a year of history never
 * sits in memory.
 */
export function exportStream(
  store: MessageStore,
  options: ExportOptions,
): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const sink = new TextSink({
    async write(bytes) {
      await writer.write(bytes.slice());
      return bytes.length;
    },
  });
  (async () => {
    try {
      await writeMessages(store, sink, options);
      await sink.flush();
      await writer.close();
    } catch (err) {
      await writer.abort(err).catch(() => {});
    }
  })();
  return readable;
}
