// The export shapes of the old export script (PROTOCOL C): the stored channel messages as JSON
// or CSV, streamed, for the export command and the teacher console's downloads alike.
import { stringify } from "csv-stringify/sync";
import type { ExportFilter, Store, StoredMessage } from "./store.ts";

/** Output formats of an export. */
export const FORMATS = ["json", "csv"] as const;
/** An output format. */
export type Format = typeof FORMATS[number];

/** The old export script's CSV header (PROTOCOL C). */
export const CSV_HEADER = ["Username", "Channel", "Content", "Timestamp"];

/** One exported message, keys in the old export script's order (PROTOCOL C). */
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
// U+FEFF, written as EF BB BF: Excel reads a CSV without it in the system's code page.
const BOM = "\ufeff";

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

/** Writes the filtered channel messages to `sink` as they are read; returns how many. */
export async function writeMessages(
  store: Store,
  sink: TextSink,
  options: { format: Format; bom: boolean; filter: ExportFilter; progress?: { tick(): void } },
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
  await sink.write((options.bom ? BOM : "") + stringify([CSV_HEADER]));
  let rows: string[][] = [];
  for await (const m of store.exportMessages(filter)) {
    if (m.channel === null) continue;
    const r = toRecord(m);
    rows.push([r.username, r.channel, r.content, r.timestamp]);
    count++;
    progress?.tick();
    if (rows.length === CSV_BATCH) {
      await sink.write(stringify(rows));
      rows = [];
    }
  }
  if (rows.length > 0) await sink.write(stringify(rows));
  return count;
}

/**
 * An export as a byte stream (a download): written as it is read, so a year of history never
 * sits in memory.
 */
export function exportStream(
  store: Store,
  options: { format: Format; bom: boolean; filter: ExportFilter },
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
