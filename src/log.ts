// LogTape setup: categories under "classcord", human-readable text or JSON lines on the console.
import { configure, getConsoleSink, jsonLinesFormatter } from "@logtape/logtape";
import type { LogFormat, LogLevelName } from "./config.ts";

/**
 * Configures logging for the whole process; called once, from main.
 * Categories: ["classcord", "tcp" | "session" | "store" | "http"].
 */
export async function setupLogging(level: LogLevelName, format: LogFormat = "text"): Promise<void> {
  const console = format === "json"
    ? getConsoleSink({ formatter: jsonLinesFormatter })
    : getConsoleSink();
  await configure({
    sinks: { console },
    loggers: [
      { category: ["classcord"], lowestLevel: level, sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}
