// Server configuration: named defaults with their reasons; flags override env, env overrides defaults.
import { parseArgs } from "node:util";
import { ConfigError } from "./errors.ts";

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** A log level accepted by `--log-level`. */
export type LogLevelName = typeof LOG_LEVELS[number];
/** Log formats accepted by `--log-format`. */
export const LOG_FORMATS = ["text", "json"] as const;
/** A log format accepted by `--log-format`. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Where the KV file lives when neither --db nor CLASSCORD_DB says. */
export const DEFAULT_DB = "./data/classcord.kv";

/** Everything the server needs to start. */
export interface Config {
  /** Address the chat listener binds to. */
  host: string;
  /** TCP port of the chat listener; 0 picks a free port. */
  port: number;
  /** HTTP port for /metrics and /healthz; 0 disables it. */
  metricsPort: number;
  /** Deno KV file, or `:memory:`. */
  db: string;
  /** Lowest level written to the log. */
  logLevel: LogLevelName;
  /** Human-readable lines, or one JSON object per line for log collectors. */
  logFormat: LogFormat;
  /** Messages older than this many days are deleted; 0 keeps them forever. */
  retentionDays: number;
}

interface Option {
  flag: string;
  key: keyof Config;
  env?: string;
  default: string;
  help: string;
  parse: (value: string, source: string) => Config[keyof Config];
}

const OPTIONS: Option[] = [
  {
    flag: "host",
    key: "host",
    env: "CLASSCORD_HOST",
    // Every interface: students connect from other machines of the classroom.
    default: "0.0.0.0",
    help: "address to listen on",
    parse: (v, src) => nonEmpty(v, src),
  },
  {
    flag: "port",
    key: "port",
    env: "CLASSCORD_PORT",
    // The port every existing client has hard-coded (PROTOCOL A.1).
    default: "12345",
    help: "chat port (TCP, JSON lines)",
    parse: (v, src) => port(v, src),
  },
  {
    flag: "metrics-port",
    key: "metricsPort",
    env: "CLASSCORD_METRICS_PORT",
    // 9091: next to Prometheus' own 9090, as the old exporter container expects.
    default: "9091",
    help: "HTTP port for /metrics and /healthz (0 disables)",
    parse: (v, src) => port(v, src),
  },
  {
    flag: "db",
    key: "db",
    env: "CLASSCORD_DB",
    // Beside the working directory, in a folder created at startup, so a first run needs no setup.
    default: DEFAULT_DB,
    help: 'Deno KV file (":memory:" keeps nothing)',
    parse: (v, src) => nonEmpty(v, src),
  },
  {
    flag: "log-level",
    key: "logLevel",
    env: "CLASSCORD_LOG_LEVEL",
    default: "info",
    help: `lowest log level: ${LOG_LEVELS.join(", ")}`,
    parse: (v, src) => {
      if (!(LOG_LEVELS as readonly string[]).includes(v)) {
        throw new ConfigError(`Invalid ${src} "${v}": expected one of ${LOG_LEVELS.join(", ")}`);
      }
      return v as LogLevelName;
    },
  },
  {
    flag: "log-format",
    key: "logFormat",
    env: "CLASSCORD_LOG_FORMAT",
    // Text for a teacher reading a terminal; JSON lines for journald/Loki in production.
    default: "text",
    help: `log format: ${LOG_FORMATS.join(", ")}`,
    parse: (v, src) => {
      if (!(LOG_FORMATS as readonly string[]).includes(v)) {
        throw new ConfigError(`Invalid ${src} "${v}": expected one of ${LOG_FORMATS.join(", ")}`);
      }
      return v as LogFormat;
    },
  },
  {
    flag: "retention-days",
    key: "retentionDays",
    env: "CLASSCORD_RETENTION_DAYS",
    // A school year and its exams; 0 keeps everything (for instance after importing old years).
    default: "365",
    help: "delete messages older than this many days (0 keeps them forever)",
    parse: (v, src) => {
      if (!/^\d+$/.test(v) || Number(v) > 100_000) {
        throw new ConfigError(`Invalid ${src} "${v}": expected a number of days 0..100000`);
      }
      return Number(v);
    },
  },
];

function nonEmpty(value: string, source: string): string {
  if (value.trim() === "") throw new ConfigError(`Invalid ${source}: empty value`);
  return value;
}

function port(value: string, source: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n > 65535) {
    throw new ConfigError(`Invalid ${source} "${value}": expected a port number 0..65535`);
  }
  return n;
}

/**
 * Result of reading the command line: a config, a request for help, or a health check of a
 * running server (for container HEALTHCHECKs, which may have no curl).
 */
export type ParsedArgs = { help: true } | { help: false; healthcheck: boolean; config: Config };

/**
 * Reads the configuration from command-line flags, then environment variables, then defaults.
 *
 * @throws {ConfigError} on an unknown flag or an invalid value
 */
export function parseConfig(
  args: string[],
  env: Record<string, string | undefined> = {},
): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
    healthcheck: { type: "boolean" },
  };
  for (const o of OPTIONS) options[o.flag] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help) return { help: true };
  const config: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const flagValue = values[o.flag];
    const envValue = o.env ? env[o.env] : undefined;
    if (typeof flagValue === "string") config[o.key] = o.parse(flagValue, `--${o.flag}`);
    else if (envValue !== undefined) config[o.key] = o.parse(envValue, o.env!);
    else config[o.key] = o.parse(o.default, `default of --${o.flag}`);
  }
  return {
    help: false,
    healthcheck: values.healthcheck === true,
    config: config as unknown as Config,
  };
}

/** The names of the environment variables the configuration reads. */
export const ENV_VARS: readonly string[] = OPTIONS.flatMap((o) => o.env ? [o.env] : []);

/** `--help` text: every flag with its environment variable and default. */
export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const left = `  --${o.flag} <value>`;
    return `${left.padEnd(28)}${o.help}\n${"".padEnd(28)}env ${o.env ?? "-"}, default ${o.default}`;
  });
  return [
    "ClassCord server: JSON-lines chat over TCP for classrooms.",
    "",
    "Usage: classcord [options]",
    "",
    "Options (flags override environment variables, which override defaults):",
    ...rows,
    `${"  --healthcheck".padEnd(28)}check /healthz of the server running with these`,
    `${"".padEnd(28)}options and exit 0 (healthy) or 1`,
    `${"  -h, --help".padEnd(28)}show this help`,
    "",
  ].join("\n");
}
