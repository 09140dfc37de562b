// Composition root: picks the implementations, wires store, log, hasher, hub and listener together.
import { getLogger } from "@logtape/logtape";
import denoConfig from "../deno.json" with { type: "json" };
import { type Argon2Params, type PasswordHasher, WorkerHasher } from "./auth/password.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config, Limits } from "./config.ts";
import { serveHttp } from "./http.ts";
import { Hub } from "./hub/hub.ts";
import { Metrics } from "./metrics.ts";
import { HISTORY_MAX_LIMIT } from "./protocol/schema.ts";
import { Accounts } from "./session/account.ts";
import { Chat } from "./session/chat.ts";
import { Moderation } from "./session/moderation.ts";
import {
  type Connection,
  type Peer,
  type ServerInfo,
  Session,
  type SessionOutput,
} from "./session/session.ts";
import { KvStore } from "./store/kv_store.ts";
import { MessageLog } from "./store/message_log.ts";
import type { Store } from "./store/store.ts";
import { ConnectionGate } from "./transport/gate.ts";
import { ChatListener } from "./transport/tcp.ts";

const log = getLogger(["classcord", "tcp"]);
const storeLog = getLogger(["classcord", "store"]);

/** The server's version, from deno.json. */
export const VERSION: string = denoConfig.version;

// Retention runs at startup, then hourly: deleting a day's messages late by an hour is harmless.
const RETENTION_SWEEP_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Options beyond {@link Config}, for tests and tools. */
export interface ServerOptions {
  /** argon2id cost; tests use a cheap one, production the default of B.7. */
  argon2?: Argon2Params;
  clock?: Clock;
  /**
   * Monotonic milliseconds of the connection gate (the time to identify, the age below which an
   * anonymous connection is not closed to make room); tests move it by hand.
   */
  monotonic?: () => number;
  limits?: Partial<Limits>;
}

/** A running server. `await using` or {@link Server.shutdown} stops it. */
export interface Server extends AsyncDisposable {
  /** The chat port actually bound. */
  readonly port: number;
  readonly hostname: string;
  /** The TLS chat port actually bound; 0 without TLS. */
  readonly tlsPort: number;
  /** The HTTP port of /metrics, /healthz and /readyz actually bound; 0 when disabled. */
  readonly metricsPort: number;
  readonly metrics: Metrics;
  /** Sends `shutting_down` to identified sessions, stores what is queued, closes; idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Opens the store and starts the chat listener.
 *
 * @throws {Error} when the store cannot be opened or the port cannot be bound
 */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<Server> {
  const clock = options.clock ?? systemClock;
  const limits: Limits = { ...config.limits, ...options.limits };
  const store = await KvStore.open(config.db);
  const metrics = new Metrics(VERSION);
  let hasher: PasswordHasher | undefined;
  let listener: ChatListener | undefined;
  let tlsListener: ChatListener | undefined;
  let messages: MessageLog;
  let http: Deno.HttpServer<Deno.NetAddr> | undefined;
  let stopping = false;
  try {
    await prune(store, clock, config.retentionDays);
    messages = await MessageLog.open(store, { onCommit: (s, n) => metrics.commit(s, n) });
    hasher = new WorkerHasher({ params: options.argon2 });
    const hub = new Hub();
    const info: ServerInfo = {
      version: VERSION,
      features: ["ack", "channels", "history", "offline", "details", "who", "private"],
      limits: {
        max_line_bytes: limits.maxLineBytes,
        max_queue_bytes: limits.maxQueueBytes,
        history_max: HISTORY_MAX_LIMIT,
        rate_burst: limits.rateBurst,
        rate_per_second: limits.ratePerSecond,
        idle_timeout_ms: limits.idleTimeoutMs,
      },
    };
    const deps = {
      hub,
      clock,
      info,
      metrics,
      limits,
      guests: config.guests,
      lang: config.lang,
      moderation: new Moderation({ hub, store, clock }),
      accounts: new Accounts({ store, hasher, hub, clock, limits }),
      chat: new Chat({ hub, clock, store, log: messages, metrics }),
    };
    const listenerOptions = {
      hostname: config.host,
      port: config.port,
      ...limits,
      gate: new ConnectionGate(clock, limits, {
        trusted: config.trustedAddresses,
        now: options.monotonic,
      }),
      lang: config.lang,
      metrics,
      metricsText: () => metrics.text(),
      accept: (out: SessionOutput, peer: Peer, conn: Connection) =>
        new Session(deps, out, peer, conn),
    };
    listener = ChatListener.listen(listenerOptions);
    if (config.tlsCert !== "") {
      const tls = {
        cert: await readPem(config.tlsCert, "certificate"),
        key: await readPem(config.tlsKey, "key"),
      };
      tlsListener = ChatListener.listen({ ...listenerOptions, port: config.tlsPort, tls });
    }
    if (config.metricsPort !== 0) {
      http = serveHttp({ hostname: config.metricsHost || config.host, port: config.metricsPort }, {
        metrics,
        // Ready while accepting chat and while the store answers a read.
        ready: async () => !stopping && (await store.lastSeq(), true),
      });
    }
  } catch (err) {
    await listener?.shutdown();
    await tlsListener?.shutdown();
    hasher?.close();
    store.close();
    throw err;
  }
  const retention = config.retentionDays > 0
    ? setInterval(() => prune(store, clock, config.retentionDays), RETENTION_SWEEP_MS)
    : undefined;
  const { hostname, port } = listener.addr;
  const metricsPort = http?.addr.port ?? 0;
  log.info("Listening on {hostname}:{port}, store {db}", { hostname, port, db: config.db });
  const tlsPort = tlsListener?.addr.port ?? 0;
  if (tlsListener) log.info("Listening for TLS on {hostname}:{port}", { hostname, port: tlsPort });
  if (http) {
    getLogger(["classcord", "http"]).info("Metrics on http://{hostname}:{port}/metrics", {
      hostname,
      port: metricsPort,
    });
  }

  let stopped: Promise<void> | undefined;
  const shutdown = () =>
    stopped ??= (async () => {
      stopping = true;
      clearInterval(retention);
      await Promise.all([listener!.shutdown(), tlsListener?.shutdown()]);
      await http?.shutdown();
      await messages.flushed(); // what clients sent before the shutdown is stored
      hasher.close();
      store.close();
      log.info("Stopped");
    })();
  return {
    port,
    hostname,
    tlsPort,
    metricsPort,
    metrics,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

/** Deletes messages past the retention period; a failure is logged and retried next sweep. */
async function prune(store: Store, clock: Clock, days: number): Promise<void> {
  if (days <= 0) return;
  try {
    const removed = await store.pruneBefore(clock.now() - days * DAY_MS);
    if (removed > 0) storeLog.info("Retention removed {removed} messages", { removed });
  } catch (error) {
    storeLog.error("Retention failed: {error}", { error });
  }
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new Error(`Cannot read TLS ${what} "${path}": ${(err as Error).message}`, { cause: err });
  }
}
