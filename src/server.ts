// Composition root: picks the implementations — the backend (one node, or a cluster node), the
// hasher, the listeners — wires them together, and keeps the one stack that takes them down.
import { getLogger } from "@logtape/logtape";
import denoConfig from "../deno.json" with { type: "json" };
import { type Argon2Params, type PasswordHasher, WorkerHasher } from "./auth/password.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config, Limits } from "./config.ts";
import { answerAdmin } from "./admin.ts";
import { type Backend, localBackend } from "./backend.ts";
import { type Events, EventStream } from "./events.ts";
import { serveHttp } from "./http.ts";
import { Metrics, processMetrics } from "./metrics.ts";
import { HISTORY_MAX_LIMIT } from "./protocol/schema.ts";
import { LOGIN_WINDOW_MS } from "./session/account.ts";
import type { ConnControl, Origin, SessionOutput } from "./session/session.ts";
import { Dispatcher, type ServerInfo } from "./session/dispatcher.ts";
import { sessionDeps } from "./session/wiring.ts";
import { KvStore } from "./store/kv_store.ts";
import { StoreLock } from "./store/lock.ts";
import type { MessageStore } from "./store/store.ts";
import { ConnTable } from "./transport/conn_table.ts";
import { AdminSocket, adminSocketPath } from "./transport/admin_socket.ts";
import { ConnectionGate } from "./transport/gate.ts";
import { ChatListener } from "./transport/tcp.ts";
import { loadAssets, WebListener } from "./transport/web.ts";

const log = getLogger(["classcord", "tcp"]);
const storeLog = getLogger(["classcord", "store"]);

/** The built web app (`deno task web:build`), embedded in the compiled binary. */
const WEB_ROOT = new URL("../dist/web/", import.meta.url);

/** The server's version, from deno.json. */
export const VERSION: string = denoConfig.version;

// Retention runs at startup, then hourly: deleting a day's messages late by an hour is harmless.
const RETENTION_SWEEP_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Options beyond {@link Config}, for tests and tools. */
export interface ServerOptions {
  /** argon2id cost; tests use a cheap one, production the default of docs/protocol.md §9. */
  argon2?: Argon2Params;
  clock?: Clock;
  /**
   * Monotonic milliseconds of the connection gate (the time to identify, the age below which an
   * anonymous connection is not closed to make room); tests move it by hand.
   */
  monotonic?: () => number;
  limits?: Partial<Limits>;
  /** How often the web listener pings browsers (tests shorten it). */
  webHeartbeatMs?: number;
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
  /** The web listener's port (the app and /ws) actually bound; 0 when disabled. */
  readonly webPort: number;
  readonly metrics: Metrics;
  /** Sends `shutting_down` to identified sessions, stores what is queued, closes; idempotent. */
  shutdown(): Promise<void>;
  /**
   * Reads the TLS certificate and key again and serves new connections with them (SIGHUP);
   * sessions stay. Without TLS, nothing to do.
   *
   * @throws {Error} naming the file that cannot be read or the pair that does not work; the
   * listener keeps the pair it had
   */
  reload(): Promise<void>;
}

/**
 * Opens the store and starts the chat listener.
 *
 * @throws {Error} when the store cannot be opened or the port cannot be bound
 */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<Server> {
  const clock = options.clock ?? systemClock;
  const limits: Limits = { ...config.limits, ...options.limits };
  const memory = config.db === ":memory:";
  // Everything started, taken down in reverse order on a failed start and on shutdown alike.
  const stack = new AsyncDisposableStack();
  let stopping = false;
  let backend: Backend;
  let hasher: PasswordHasher;
  let connections: ConnTable;
  const listeners: ChatListener[] = [];
  let http: Deno.HttpServer<Deno.NetAddr> | undefined;
  let web: WebListener | undefined;
  let retention: ReturnType<typeof setInterval> | undefined;
  const metrics = new Metrics(VERSION, { process: processMetrics() });
  const events = new EventStream();
  events.subscribe((event) => metrics.observe(event));
  try {
    // Held for the server's whole life: a second server, an import or a restore refuses the store.
    const lock = memory ? undefined : await StoreLock.acquire(config.db, "classcord serve", {
      socket: adminSocketPath(config.db),
    });
    stack.defer(() => lock?.release());
    const local = await KvStore.open(config.db, { clock });
    stack.defer(() => local.close());
    await local.indexConversations();
    backend = await openBackend(config, local, events);
    stack.defer(() => backend.close()); // what clients sent before the shutdown is stored
    const { store } = backend;
    await prune(store, clock, config.retentionDays);
    hasher = new WorkerHasher({ params: options.argon2 });
    stack.defer(() => hasher.close());

    const info: ServerInfo = {
      version: VERSION,
      features: [
        "ack",
        "channels",
        "history",
        "offline",
        "details",
        "who",
        "private",
        "resume",
        "history_after",
        "console",
        "status_reply",
        "mute_events",
        "conversations",
        "directory",
        "inspect",
      ],
      limits: {
        max_line_bytes: limits.maxLineBytes,
        max_queue_bytes: limits.maxQueueBytes,
        history_max: HISTORY_MAX_LIMIT,
        rate_burst: limits.rateBurst,
        rate_per_second: limits.ratePerSecond,
        idle_timeout_ms: limits.idleTimeoutMs,
      },
    };
    const deps = sessionDeps({
      store,
      bus: backend.bus,
      flushed: () => backend.flushed(),
      mutes: backend.mutes,
      loginEvents: backend.logins,
      guestNames: backend.guestNames,
      hasher,
      clock,
      events,
      limits,
      info,
      lang: config.lang,
      guests: config.guests,
      stats: () => metrics.snapshot(),
    });
    stack.defer(() => deps.moderation.close());
    connections = new ConnTable({
      ...limits,
      gate: new ConnectionGate(clock, limits, {
        trusted: config.trustedAddresses,
        now: options.monotonic,
      }),
      events,
      lang: config.lang,
      accept: (out: SessionOutput, origin: Origin, conn: ConnControl) =>
        new Dispatcher(deps, out, origin, conn),
    });
    if (!memory) {
      const { bus } = deps;
      const admin = await AdminSocket.listen(
        adminSocketPath(config.db),
        (req) => answerAdmin(req, { store, bus, clock }),
      );
      stack.defer(() => admin.close());
    }
    stack.defer(() => http?.shutdown());
    stack.defer(async () => {
      await Promise.all(listeners.map((l) => l.close()));
      // Its WebSockets are connections like the others: they end below, with their last line.
      const webClosed = web?.close();
      await connections.shutdown();
      await webClosed;
      await Promise.all(listeners.map((l) => l.closed()));
    });
    const listenerOptions = {
      hostname: config.host,
      port: config.port,
      ...limits,
      connections,
      events,
      metricsBridge: {
        text: () => metrics.text(),
        allows: (remote: string) =>
          config.metricsBridge === "off"
            ? "off" as const
            : config.metricsBridge === "any" || config.trustedAddresses.has(remote)
            ? "yes" as const
            : "untrusted" as const,
      },
      proxyFrom: config.proxyFrom,
    };
    listeners.push(
      await bindChat(() => ChatListener.listen(listenerOptions), config.host, config.port),
    );
    if (config.tlsCert !== "") {
      const tls = await readTls(config);
      const listen = () => ChatListener.listen({ ...listenerOptions, port: config.tlsPort, tls });
      listeners.push(await bindChat(listen, config.host, config.tlsPort, config));
    }
    if (config.webPort !== 0) {
      const assets = await loadAssets(WEB_ROOT);
      const tls = config.tlsCert === "" ? undefined : await readTls(config);
      const { host: hostname, webPort: port } = config;
      try {
        web = await WebListener.listen({
          hostname,
          port,
          tls,
          origins: config.webOrigins,
          proxyFrom: config.proxyFrom,
          heartbeatMs: options.webHeartbeatMs,
          assets,
          connections,
          events,
          tickets: deps.tickets,
          store,
          ...limits,
        });
      } catch (err) {
        const reason = addressInUse(err) ? "the address is in use" : (err as Error).message;
        throw new Error(`Cannot serve the web app on ${hostname}:${port}: ${reason}`, {
          cause: err,
        });
      }
    }
    if (config.metricsPort !== 0) {
      const { metricsHost: hostname, metricsPort: port } = config;
      try {
        http = serveHttp({ hostname, port }, {
          metrics,
          // Ready while accepting chat and while the store answers a read.
          // In a cluster, also connected to NATS and beating: the balancer's health check.
          ready: async () => !stopping && backend.ready && (await store.lastSeq(), true),
        });
      } catch (err) {
        const reason = addressInUse(err) ? "the address is in use" : (err as Error).message;
        throw new Error(`Cannot serve metrics on ${hostname}:${port}: ${reason}`, { cause: err });
      }
    }
    if (config.retentionDays > 0) {
      retention = setInterval(() => prune(store, clock, config.retentionDays), RETENTION_SWEEP_MS);
    }
    stack.defer(() => {
      stopping = true;
      clearInterval(retention);
    });
  } catch (err) {
    await stack.disposeAsync();
    throw err;
  }
  const [listener, tlsListener] = listeners;
  const { hostname, port } = listener.addr;
  const metricsPort = http?.addr.port ?? 0;
  const webPort = web?.addr.port ?? 0;
  // Addresses and URLs go in the text itself, so a terminal shows them ready to copy (a property
  // would be quoted); they come from the configuration and the system, never from a client.
  log.info(`Listening on ${hostPort(hostname, port)}, store {db}`, { db: config.db });
  const tlsPort = tlsListener?.addr.port ?? 0;
  if (tlsListener) log.info(`Listening for TLS on ${hostPort(hostname, tlsPort)}`);
  if (web) {
    const scheme = config.tlsCert === "" ? "http" : "https";
    getLogger(["classcord", "http"]).info(`Web app on ${webUrl(scheme, hostname, webPort)}`);
  }
  if (http) {
    const metricsHost = http.addr.hostname;
    getLogger(["classcord", "http"]).info(
      `Metrics on http://${hostPort(metricsHost, metricsPort)}/metrics`,
    );
  }

  let stopped: Promise<void> | undefined;
  const shutdown = () =>
    stopped ??= (async () => {
      await stack.disposeAsync();
      log.info("Stopped");
    })();
  const reload = async () => {
    if (!tlsListener) return;
    const tls = await readTls(config);
    try {
      await tlsListener.reload(tls);
      web?.reload(tls);
    } catch (err) {
      throw new Error(`${tlsFiles(config)} do not make a TLS listener: ${(err as Error).message}`);
    }
    log.info("TLS listener reloaded with {cert}", { cert: config.tlsCert });
  };
  return {
    port,
    hostname,
    tlsPort,
    metricsPort,
    webPort,
    metrics,
    shutdown,
    reload,
    [Symbol.asyncDispose]: shutdown,
  };
}

/**
 * The backend of this server: a cluster node with `--nats` (its Deno KV then only its read model
 * of the shared stream), else one node over its Deno KV.
 *
 * @throws {Error} when NATS cannot be reached or the node's name is taken
 */
async function openBackend(config: Config, local: KvStore, events: Events): Promise<Backend> {
  if (config.nats.length === 0) return await localBackend(local, events);
  // Loaded only here: a single node never holds the NATS client in memory.
  const { ClusterNode } = await import("./cluster/node.ts");
  return await ClusterNode.start({
    servers: config.nats,
    node: config.nodeName,
    local,
    events,
    retentionDays: config.retentionDays,
    loginWindowMs: LOGIN_WINDOW_MS,
  });
}

/** Deletes messages past the retention period; a failure is logged and retried next sweep. */
async function prune(store: MessageStore, clock: Clock, days: number): Promise<void> {
  if (days <= 0) return;
  try {
    const removed = await store.pruneBefore(clock.now() - days * DAY_MS);
    if (removed > 0) storeLog.info("Retention removed {removed} messages", { removed });
  } catch (error) {
    storeLog.error("Retention failed: {error}", { error });
  }
}

/** `host:port`, with an IPv6 address in brackets. */
function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Where a browser opens the web app: on every address of the machine for a wildcard host, shown as
 * localhost (an address of 0.0.0.0 opens nothing in a browser).
 */
function webUrl(scheme: string, host: string, port: number): string {
  if (host === "0.0.0.0" || host === "::") {
    return `${scheme}://localhost:${port}/ (and on every address of this machine)`;
  }
  return `${scheme}://${hostPort(host, port)}/`;
}

/** The certificate and key files, for messages. */
function tlsFiles(config: Config): string {
  return `The certificate "${config.tlsCert}" and key "${config.tlsKey}"`;
}

/** Both PEM files of the TLS listener. */
async function readTls(config: Config): Promise<{ cert: string; key: string }> {
  return {
    cert: await readPem(config.tlsCert, "certificate"),
    key: await readPem(config.tlsKey, "key"),
  };
}

/**
 * A listener, or an error naming what failed: the address and port, and the TLS files when
 * they are the cause.
 */
async function bindChat(
  listen: () => Promise<ChatListener>,
  host: string,
  port: number,
  tls?: Config,
): Promise<ChatListener> {
  try {
    return await listen();
  } catch (err) {
    const inUse = addressInUse(err);
    const reason = inUse
      ? "the address is in use (another server on this port?)"
      : (err as Error).message;
    const what = tls ? `for TLS on ${host}:${port}` : `on ${host}:${port}`;
    const files = tls && !inUse ? ` (${tlsFiles(tls)})` : "";
    throw new Error(`Cannot listen ${what}${files}: ${reason}`, { cause: err });
  }
}

/** Whether a listen failed on an address in use: a Deno listener's error, or node:net's. */
function addressInUse(err: unknown): boolean {
  return err instanceof Deno.errors.AddrInUse || (err as { code?: string }).code === "EADDRINUSE";
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new Error(`Cannot read TLS ${what} "${path}": ${(err as Error).message}`, { cause: err });
  }
}
