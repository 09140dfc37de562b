// LogTape setup: categories under "classcord", human-readable text or JSON lines, on the console
// or appended to a file that SIGHUP reopens (logrotate).
import {
  configure,
  getConsoleSink,
  getTextFormatter,
  jsonLinesFormatter,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import type { Config } from "./config.ts";

const encoder = new TextEncoder();

/** A sink appending each formatted record to a file; `close()` lets a rotated file go. */
function fileSink(
  path: string,
  format: (record: LogRecord) => string,
): Sink & Disposable {
  const file = Deno.openSync(path, { write: true, append: true, create: true, mode: 0o640 });
  const sink = (record: LogRecord) => {
    const bytes = encoder.encode(format(record));
    for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
  };
  return Object.assign(sink, { [Symbol.dispose]: () => file.close() });
}

/**
 * Configures logging for the whole process: from `serve`, and again on SIGHUP, which closes and
 * reopens the log file (a file logrotate moved away is let go).
 * Categories: ["classcord", "tcp" | "session" | "store" | "http"].
 *
 * @throws {Error} `Cannot open log file "path": reason`
 */
export async function setupLogging(
  options: Pick<Config, "logLevel" | "logFormat" | "logFile">,
): Promise<void> {
  const { logLevel, logFormat, logFile } = options;
  // Text for people: in the local time zone (`TZ`, as message timestamps), offset shown, so a
  // teacher reads the same hour in the log and in the chat. JSON keeps UTC (`Z`) for collectors.
  const formatter = logFormat === "json"
    ? jsonLinesFormatter
    : getTextFormatter({ timestamp: "date-time-timezone", timeZone: null, category: "·" });
  let sink: Sink;
  if (logFile === "") {
    sink = getConsoleSink({ formatter });
  } else {
    try {
      sink = fileSink(logFile, formatter);
    } catch (err) {
      throw new Error(`Cannot open log file "${logFile}": ${(err as Error).message}`);
    }
  }
  await configure({
    reset: true,
    sinks: { out: sink },
    loggers: [
      { category: ["classcord"], lowestLevel: logLevel, sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["out"] },
    ],
  });
}
