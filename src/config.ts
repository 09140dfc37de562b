// Server configuration: named defaults with their reasons; flags override env, env overrides defaults.
import { parseArgs } from "node:util";
import { AddressSet } from "./address_set.ts";
import { ConfigError } from "./errors.ts";
import { type Lang, LANGS } from "./protocol/texts.ts";

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** A log level accepted by `--log-level`. */
export type LogLevelName = typeof LOG_LEVELS[number];
/** Log formats accepted by `--log-format`. */
export const LOG_FORMATS = ["text", "json"] as const;
/** A log format accepted by `--log-format`. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Who the old metrics bridge (`GET_METRICS` on the chat port) answers. */
export const METRICS_BRIDGE_MODES = ["off", "trusted", "any"] as const;
/** Who the old metrics bridge answers: nobody, `--trusted-addresses`, or every address. */
export type MetricsBridgeMode = typeof METRICS_BRIDGE_MODES[number];

/** Where the KV file lives when neither --db nor CLASSCORD_DB says. */
export const DEFAULT_DB = "./data/classcord.kv";

/** Addresses exempt from per-address caps when `--trusted-addresses` is not given: loopback. */
export const DEFAULT_TRUSTED = "127.0.0.0/8,::1";

/**
 * The limits of docs/protocol.md §5. Their windows are fixed by the protocol: oversized lines per
 * 60 s, dropped messages and bad lines per 10 s, login and registration failures per 10 min, new
 * connections per 10 s.
 */
export interface Limits {
  /** Longest line, in bytes. */
  maxLineBytes: number;
  /** Bytes without a line end after which the connection is closed. */
  maxUnterminatedBytes: number;
  /** Oversized lines in 60 s after which the connection is closed. */
  maxOversizedLines: number;
  /** Bytes queued for one session before it is cut off as a slow consumer. */
  maxQueueBytes: number;
  /** A write pending this long cuts the session off as a slow consumer. */
  writeDeadlineMs: number;
  /** Requests at once before the rate applies. */
  rateBurst: number;
  /** Sustained requests per second. */
  ratePerSecond: number;
  /** Rate-limited requests in 10 s after which the connection is closed. */
  maxDropped: number;
  /** Bad lines in 10 s after which the connection is closed. */
  maxBadLines: number;
  /** Failed logins per account and address before delays start. */
  loginFreeFailures: number;
  /** Longest delay between login attempts after failures. */
  loginMaxDelayMs: number;
  /** Failed logins per account in 10 min before its logins are refused. */
  loginFailuresPerAccount: number;
  /** Failed logins per address in 10 min before its logins are refused. */
  loginFailuresPerAddress: number;
  /** Registrations per address in 10 min. */
  registrationsPerAddress: number;
  /** Time to log in (or post as a guest) after connecting or registering. */
  identifyTimeoutMs: number;
  /** Connections not yet identified, from one address, before the oldest idle one is closed. */
  maxAnonymousPerAddress: number;
  /** Connections not yet identified, in total, before the oldest idle one is closed. */
  maxAnonymous: number;
  /** Time without a line from a hello'd session before it is closed. */
  idleTimeoutMs: number;
  /** Open connections in total. */
  maxConnections: number;
  /** Open connections per address. */
  maxConnectionsPerAddress: number;
  /** New connections per address in 10 s. */
  newConnectionsPerAddress: number;
}

/** Everything the server needs to start. */
export interface Config {
  /** Address the chat listener binds to. */
  host: string;
  /** TCP port of the chat listener; 0 picks a free port. */
  port: number;
  /** HTTP port for /metrics and /healthz; 0 disables it. */
  metricsPort: number;
  /** Address of the HTTP endpoint. */
  metricsHost: string;
  /** Who gets the metrics text for `GET_METRICS` on the chat port (docs/protocol.md, section 9). */
  metricsBridge: MetricsBridgeMode;
  /** Deno KV file, or `:memory:`. */
  db: string;
  /** Lowest level written to the log. */
  logLevel: LogLevelName;
  /** Human-readable lines, or one JSON object per line for log collectors. */
  logFormat: LogFormat;
  /** A file the log is appended to (reopened on SIGHUP); empty: the console. */
  logFile: string;
  /** Messages older than this many days are deleted; 0 keeps them forever. */
  retentionDays: number;
  /** Whether a message sent without logging in makes a guest (docs/protocol.md §3.13). */
  guests: boolean;
  /** TLS listener port; used only with a certificate and key (docs/protocol.md §7). */
  tlsPort: number;
  /** PEM certificate (chain) file for the TLS listener; empty: no TLS listener. */
  tlsCert: string;
  /** PEM private key file for the TLS listener. */
  tlsKey: string;
  /** HTTP port of the web app and /ws; 0 disables the web listener. */
  webPort: number;
  /** Origins besides the web listener's own that may open /ws. */
  webOrigins: string[];
  /** Language of the error texts clients receive. */
  lang: Lang;
  /** Addresses exempt from the per-address caps (never from per-connection limits). */
  trustedAddresses: AddressSet;
  /**
   * Addresses (a load balancer) whose connections start with a PROXY protocol header naming the
   * real client; empty: no header is read from anyone.
   */
  proxyFrom: AddressSet;
  /** NATS servers of a cluster (`nats://host:port`); empty: one node on its own Deno KV. */
  nats: string[];
  /** This node's name in a cluster, unique among its nodes. */
  nodeName: string;
  /** The limits of docs/protocol.md §5. */
  limits: Limits;
}

/** One option of serve: its flag, environment variable, default and the parser of its value. */
interface Option<T> {
  flag: string;
  env: string;
  default: string;
  help: string;
  parse: (value: string, source: string) => T;
}

/**
 * An option for each field of {@link Config} but the limits, whose parser gives that field's
 * type: a missing option, or a parser of another type, does not type-check. In `--help` order.
 */
type Options = { [K in Exclude<keyof Config, "limits">]: Option<Config[K]> };

/** An option for each field of {@link Limits}, likewise. In `--help` order, after the others. */
type LimitOptions = { [K in keyof Limits]: Option<Limits[K]> };

/**
 * An integer flag of a limit (docs/protocol.md §5); `scale` turns the flag's unit (seconds) into
 * the field's.
 */
function limit(flag: string, value: number, help: string, scale = 1): Option<number> {
  return {
    flag,
    env: `CLASSCORD_${flag.toUpperCase().replaceAll("-", "_")}`,
    default: String(value),
    help,
    parse: (v, src) => {
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1e9) {
        throw new ConfigError(`Invalid ${src} "${v}": expected a whole number from 1`);
      }
      return Number(v) * scale;
    },
  };
}

const SECOND = 1000;

const OPTIONS: Options = {
  host: {
    flag: "host",
    env: "CLASSCORD_HOST",
    // Every interface: students connect from other machines of the classroom.
    default: "0.0.0.0",
    help: "address to listen on",
    parse: (v, src) => nonEmpty(v, src),
  },
  port: {
    flag: "port",
    env: "CLASSCORD_PORT",
    // The port every existing client has hard-coded (docs/protocol.md §1).
    default: "12345",
    help: "chat port (TCP, JSON lines)",
    parse: (v, src) => port(v, src),
  },
  metricsPort: {
    flag: "metrics-port",
    env: "CLASSCORD_METRICS_PORT",
    // 9091: next to Prometheus' own 9090, as the old exporter container expects.
    default: "9091",
    help: "HTTP port for /metrics and /healthz (0 disables)",
    parse: (v, src) => port(v, src),
  },
  metricsHost: {
    flag: "metrics-host",
    env: "CLASSCORD_METRICS_HOST",
    // Loopback: /metrics stays off the students' network unless told otherwise (a Prometheus
    // on another host or in a container needs 0.0.0.0, as compose.yaml sets it).
    default: "127.0.0.1",
    help: "address of the HTTP endpoint (0.0.0.0: every interface)",
    parse: (v, src) => nonEmpty(v, src),
  },
  metricsBridge: {
    flag: "metrics-bridge",
    env: "CLASSCORD_METRICS_BRIDGE",
    // Trusted addresses only (loopback by default): the old exporter container runs beside the
    // server, and the metrics must not be readable from the classroom's network through the chat
    // port when /metrics itself listens on loopback. `any` for an exporter on another machine.
    default: "trusted",
    help: `who gets GET_METRICS on the chat port: ${METRICS_BRIDGE_MODES.join(", ")}`,
    parse: (v, src) => {
      if (!(METRICS_BRIDGE_MODES as readonly string[]).includes(v)) {
        throw new ConfigError(
          `Invalid ${src} "${v}": expected one of ${METRICS_BRIDGE_MODES.join(", ")}`,
        );
      }
      return v as MetricsBridgeMode;
    },
  },
  db: {
    flag: "db",
    env: "CLASSCORD_DB",
    // Beside the working directory, in a folder created at startup, so a first run needs no setup.
    default: DEFAULT_DB,
    help: 'Deno KV file (":memory:" keeps nothing)',
    parse: (v, src) => nonEmpty(v, src),
  },
  logLevel: {
    flag: "log-level",
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
  logFormat: {
    flag: "log-format",
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
  logFile: {
    flag: "log-file",
    env: "CLASSCORD_LOG_FILE",
    // The console: journald and docker collect it. A file suits a bare host with logrotate,
    // which sends SIGHUP after rotating.
    default: "",
    help: "append the log to this file, reopened on SIGHUP (default: the console)",
    parse: (v) => v,
  },
  retentionDays: {
    flag: "retention-days",
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
  guests: {
    flag: "guests",
    env: "CLASSCORD_GUESTS",
    // On: the old server let anyone chat without an account, and some clients rely on it.
    default: "on",
    help: "let clients chat without an account as guests: on or off",
    parse: (v, src) => {
      if (!["on", "off", "true", "false"].includes(v)) {
        throw new ConfigError(`Invalid ${src} "${v}": expected on or off`);
      }
      return v === "on" || v === "true";
    },
  },
  tlsPort: {
    flag: "tls-port",
    env: "CLASSCORD_TLS_PORT",
    // Next to the plain port, as docs/protocol.md §7 says.
    default: "12346",
    help: "TLS chat port, used when --tls-cert and --tls-key are given",
    parse: (v, src) => port(v, src),
  },
  tlsCert: {
    flag: "tls-cert",
    env: "CLASSCORD_TLS_CERT",
    default: "",
    help: "PEM certificate file: turns the TLS listener on",
    parse: (v) => v,
  },
  tlsKey: {
    flag: "tls-key",
    env: "CLASSCORD_TLS_KEY",
    default: "",
    help: "PEM private key file of the certificate",
    parse: (v) => v,
  },
  webPort: {
    flag: "web-port",
    env: "CLASSCORD_WEB_PORT",
    // 8080: the usual unprivileged HTTP port; a school proxy or a TLS certificate can sit in
    // front. Listens on --host, like the chat.
    default: "8080",
    help: "HTTP port of the web app and /ws (0 disables them)",
    parse: (v, src) => port(v, src),
  },
  webOrigins: {
    flag: "web-origins",
    env: "CLASSCORD_WEB_ORIGINS",
    // None: only pages the server itself serves may open /ws (no cross-site WebSocket
    // hijacking). A school portal framing the chat under another name adds its origin here.
    default: "",
    help: "other origins allowed to open /ws, comma-separated (https://ent.example)",
    parse: (v, src) => {
      const origins = v.split(",").map((o) => o.trim()).filter((o) => o !== "");
      for (const origin of origins) {
        let url: URL | undefined;
        try {
          url = new URL(origin);
        } catch { /* refused below */ }
        if (!url || !/^https?:$/.test(url.protocol) || url.origin !== origin.replace(/\/$/, "")) {
          throw new ConfigError(
            `Invalid ${src} "${origin}": expected an origin such as https://ent.example`,
          );
        }
      }
      return origins;
    },
  },
  lang: {
    flag: "lang",
    env: "CLASSCORD_LANG",
    // English, as the protocol document; French classes set fr. The two legacy error strings
    // and every code stay the same in both.
    default: "en",
    help: `language of the error texts clients see: ${LANGS.join(", ")}`,
    parse: (v, src) => {
      if (!(LANGS as readonly string[]).includes(v)) {
        throw new ConfigError(`Invalid ${src} "${v}": expected one of ${LANGS.join(", ")}`);
      }
      return v as Lang;
    },
  },
  trustedAddresses: {
    flag: "trusted-addresses",
    env: "CLASSCORD_TRUSTED_ADDRESSES",
    // Loopback, as ergo exempts localhost: tools and test suites on the server itself. A school
    // adds its LAN range (for example 10.0.0.0/8) so a class behind one router is not capped.
    default: DEFAULT_TRUSTED,
    help: "addresses and CIDR ranges without per-address caps, comma-separated; none for none",
    parse: (v, src) => {
      try {
        return AddressSet.parse(v);
      } catch (err) {
        throw new ConfigError(`Invalid ${src}: ${(err as Error).message}`);
      }
    },
  },
  proxyFrom: {
    flag: "proxy-from",
    env: "CLASSCORD_PROXY_FROM",
    // None: a PROXY header from anyone else would let a client pick its own address. The load
    // balancer's address goes here, and nothing else.
    default: "none",
    help: "addresses of load balancers that send a PROXY protocol header (v1 or v2); none for none",
    parse: (v, src) => {
      try {
        return AddressSet.parse(v);
      } catch (err) {
        throw new ConfigError(`Invalid ${src}: ${(err as Error).message}`);
      }
    },
  },
  nats: {
    flag: "nats",
    env: "CLASSCORD_NATS",
    // None: one node with its embedded store, the default. Listing every server of the NATS
    // cluster lets a node reach it whichever server is down.
    default: "",
    help: "NATS servers of a cluster, comma-separated (nats://10.0.0.5:4222); none: one node",
    parse: (v, src) => {
      const urls = v.split(",").map((u) => u.trim()).filter((u) => u !== "");
      for (const url of urls) {
        let parsed: URL | undefined;
        try {
          parsed = new URL(url.includes("://") ? url : `nats://${url}`);
        } catch { /* reported below */ }
        if (!parsed || !["nats:", "tls:"].includes(parsed.protocol) || parsed.hostname === "") {
          throw new ConfigError(`Invalid ${src}: "${url}" is not a NATS URL (nats://host:port)`);
        }
      }
      return urls.map((u) => u.includes("://") ? u : `nats://${u}`);
    },
  },
  nodeName: {
    flag: "node-name",
    env: "CLASSCORD_NODE_NAME",
    // The host's name when the environment gives it (containers and most shells do).
    default: "",
    help: "this node's name in a cluster (default: $HOSTNAME), unique among its nodes",
    parse: (v, src) => {
      if (v !== "" && !/^[A-Za-z0-9_-]{1,64}$/.test(v)) {
        throw new ConfigError(
          `Invalid ${src}: "${v}" must be 1 to 64 letters, digits, "-" or "_"`,
        );
      }
      return v;
    },
  },
};

// docs/protocol.md §5 defaults, from what ergo, InspIRCd, NATS, Centrifugo and OWASP ship.
const LIMIT_OPTIONS: LimitOptions = {
  maxLineBytes: limit("max-line-bytes", 64 * 1024, "longest line in bytes (too_large)"),
  maxUnterminatedBytes: limit(
    "max-unterminated-bytes",
    1024 * 1024,
    "bytes without a line end before the connection is closed",
  ),
  maxOversizedLines: limit(
    "max-oversized-lines",
    3,
    "oversized lines in 60 s before the connection is closed",
  ),
  maxQueueBytes: limit(
    "max-queue-bytes",
    1024 * 1024,
    "bytes queued for a session before it is cut off",
  ),
  writeDeadlineMs: limit(
    "write-timeout",
    10,
    "seconds a write may wait before the session is cut off",
    SECOND,
  ),
  rateBurst: limit("rate-burst", 20, "requests at once before the rate applies"),
  ratePerSecond: limit("rate-per-second", 5, "sustained requests per second (rate_limited)"),
  maxDropped: limit("max-dropped", 100, "rate-limited requests in 10 s before closing"),
  maxBadLines: limit("max-bad-lines", 20, "bad lines in 10 s before closing"),
  loginFreeFailures: limit("login-free-failures", 5, "failed logins before delays start"),
  loginMaxDelayMs: limit(
    "login-max-delay",
    60,
    "longest delay in seconds between login attempts",
    SECOND,
  ),
  loginFailuresPerAccount: limit(
    "login-failures-per-account",
    20,
    "failed logins per account in 10 min",
  ),
  loginFailuresPerAddress: limit(
    "login-failures-per-address",
    // 5 typos for each of 35 students behind one router (the free failures per account).
    175,
    "failed logins per address in 10 min",
  ),
  // The per-address caps are sized for a class of 35 behind one router (NAT) whose clients
  // register a fresh guest account at every start and restart in a debug loop.
  registrationsPerAddress: limit(
    "registrations-per-address",
    // 35 students restarting a registering client about once a minute: 350 in 10 min.
    400,
    "registrations per address in 10 min (a class behind one router)",
  ),
  identifyTimeoutMs: limit(
    "identify-timeout",
    // Clients open the socket when the login window appears and wait for the student to type;
    // a successful register starts the time again.
    600,
    "seconds to log in after connecting or registering",
    SECOND,
  ),
  maxAnonymousPerAddress: limit(
    "max-anonymous-per-address",
    // A class of 35 at its login windows behind one router, each student with one more window a
    // client leaked (one Java client leaks a socket per guest use): 70, and a margin.
    80,
    "connections not logged in per address before the oldest idle one is closed",
  ),
  maxAnonymous: limit(
    "max-anonymous",
    // Half of --max-connections: a flood of silent connections from many addresses never
    // takes the room identified users need.
    500,
    "connections not logged in, in total, before the oldest idle one is closed",
  ),
  idleTimeoutMs: limit(
    "idle-timeout",
    120,
    "seconds without a line from a hello'd session (send ping)",
    SECOND,
  ),
  maxConnections: limit("max-connections", 1000, "open connections in total (server_busy)"),
  maxConnectionsPerAddress: limit(
    "max-connections-per-address",
    // 35 students with up to 3 connections each (a client, a second window, a debug run).
    128,
    "open connections per address",
  ),
  newConnectionsPerAddress: limit(
    "new-connections-per-address",
    // A class starting together (35), restarting clients every few seconds in a debug loop.
    120,
    "new connections per address in 10 s",
  ),
};

/** Every option, in `--help` order. */
const ALL_OPTIONS: readonly Option<unknown>[] = [
  ...Object.values(OPTIONS),
  ...Object.values(LIMIT_OPTIONS),
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
 * Reads the configuration from command-line flags, then environment variables, then defaults.
 *
 * @throws {ConfigError} on an unknown flag or an invalid value
 */
export function parseConfig(
  args: string[],
  env: Record<string, string | undefined> = {},
): Config {
  const options: Record<string, { type: "string" }> = {};
  for (const o of ALL_OPTIONS) options[o.flag] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError(argsError(err as Error, args));
  }
  const read = <T>(o: Option<T>): T => {
    const flagValue = values[o.flag];
    if (typeof flagValue === "string") return o.parse(flagValue, `--${o.flag}`);
    const envValue = env[o.env];
    if (envValue !== undefined) return o.parse(envValue, o.env);
    return o.parse(o.default, `default of --${o.flag}`);
  };
  const config: Config = { ...readAll(OPTIONS, read), limits: readAll(LIMIT_OPTIONS, read) };
  if ((config.tlsCert === "") !== (config.tlsKey === "")) {
    throw new ConfigError("Invalid TLS configuration: --tls-cert and --tls-key go together");
  }
  if (config.nats.length > 0 && config.nodeName === "") {
    const host = (env.HOSTNAME ?? "").replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64);
    if (host === "") {
      throw new ConfigError("Invalid cluster configuration: --nats needs --node-name");
    }
    config.nodeName = host;
  }
  return config;
}

/**
 * Reads every option of a table into the object it describes. The one assertion is sound: the
 * loop sets each key of the table, and the table's type has each key of `T`, parsed to its type.
 */
function readAll<T>(
  table: { [K in keyof T]: Option<T[K]> },
  read: <V>(option: Option<V>) => V,
): T {
  const out: Partial<T> = {};
  for (const key in table) out[key] = read(table[key]);
  return out as T;
}

/** node:util's parse error as one line in our words: the flag, and what is wrong with it. */
function argsError(err: Error, args: string[]): string {
  const code = (err as { code?: string }).code;
  const flag = err.message.match(/'(-[^' ]+)'/)?.[1] ?? args.find((a) => a.startsWith("-"));
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `Unknown option "${flag}"`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const extra = err.message.match(/'([^']+)'/)?.[1];
    return `Unexpected argument "${extra}"`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return `Missing value for ${flag}`;
  return err.message.split("\n")[0];
}

/** The names of the environment variables the configuration reads. */
export const ENV_VARS: readonly string[] = ALL_OPTIONS.map((o) => o.env);

/** The options part of `--help`: every flag with its environment variable and default. */
export function helpText(): string {
  const left = ALL_OPTIONS.map((o) => `  --${o.flag} <value>`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  const rows = ALL_OPTIONS.map((o, i) => {
    const shown = o.default === "" ? "none" : o.default;
    return `${left[i].padEnd(width)}${o.help}\n${"".padEnd(width)}env ${o.env}, default ${shown}`;
  });
  return [
    "Options of serve (flags override environment variables, which override defaults):",
    ...rows,
    "",
  ].join("\n");
}

/** The defaults of docs/protocol.md §5, as parsed from an empty command line. */
export const DEFAULT_LIMITS: Limits = parseConfig([], {}).limits;
