// LogTape setup: categories under "classcord", human-readable text on stderr.
import { configure, getConsoleSink } from "@logtape/logtape";
import type { LogLevelName } from "./config.ts";

/**
 * Configures logging for the whole process; called once, from main.
 * Categories: ["classcord", "tcp" | "session" | "store" | "http"].
 */
export async function setupLogging(level: LogLevelName): Promise<void> {
  await configure({
    sinks: { console: getConsoleSink() },
    loggers: [
      { category: ["classcord"], lowestLevel: level, sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}
