// Prometheus metrics: the registry and every classcord_* metric, behind methods named for events.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { CLOSE_REASONS, type CloseReason, ERROR_CODES, type ErrorCode } from "./errors.ts";

/** How a client reached the server. */
export type Transport = "tcp" | "tls";
/** An identified session's kind. */
export type SessionKind = "user" | "guest";
/** A message's kind: to the default channel, to another channel, or private. */
export type MessageKind = "global" | "channel" | "private";
/** A limit of PROTOCOL B.7 that was hit. */
export const LIMIT_NAMES = [
  "line_size",
  "send_queue",
  "write_deadline",
  "message_rate",
  "bad_lines",
  "login_failures",
  "registrations",
  "identify_timeout",
  "anonymous_connections",
  "idle_timeout",
  "connections",
] as const;
/** A limit of PROTOCOL B.7 that was hit. */
export type LimitName = typeof LIMIT_NAMES[number];
/** How a login attempt ended: wrong credentials, refused by a limit or a ban, or a server fault. */
export type LoginResult = "ok" | "failed" | "throttled" | "error";
/** How a registration ended. */
export type RegistrationResult = "ok" | "exists" | "invalid" | "throttled" | "error";

// The process metrics (CPU, memory, event-loop lag, heap, GC) are collected once per process:
// prom-client's event-loop monitor must not be started again for every server.
const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry });
// prom-client reads memory and file descriptors from /proc/self, which Deno opens only with
// --allow-all, and reports 0 otherwise: those series are replaced or dropped rather than lie.
for (
  const name of [
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_heap_bytes",
    "process_open_fds",
    "process_max_fds",
  ]
) processRegistry.removeSingleMetric(name);
new Gauge({
  name: "process_resident_memory_bytes",
  help: "Resident memory size in bytes.",
  registers: [processRegistry],
  collect() {
    this.set(Deno.memoryUsage().rss);
  },
});

/**
 * Every metric of one server. No label carries a user or channel name (STYLE.md), so the series
 * count stays bounded whatever the class does.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #connectionsOpen: Gauge<"transport">;
  readonly #connections: Counter<"transport">;
  readonly #closed: Counter<"reason">;
  readonly #sessions: Gauge<"kind">;
  readonly #logins: Counter<"result">;
  readonly #registrations: Counter<"result">;
  readonly #messages: Counter<"kind">;
  // Counted on the hot path (per delivery, per read, per write) as plain numbers, handed to
  // prom-client only when /metrics is read: an inc() per delivery costs more than the delivery.
  #deliveries = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  readonly #errors: Counter<"code">;
  readonly #limits: Counter<"limit">;
  readonly #slow: Counter;
  readonly #latency: Histogram;
  readonly #commit: Histogram;
  readonly #batch: Histogram;

  constructor(version: string) {
    const registers = [this.registry];
    new Gauge({
      name: "classcord_build_info",
      help: "Server version",
      labelNames: ["version"],
      registers,
    })
      .set({ version }, 1);
    this.#connectionsOpen = new Gauge({
      name: "classcord_connections_open",
      help: "Connections open now",
      labelNames: ["transport"],
      registers,
    });
    this.#connections = new Counter({
      name: "classcord_connections_total",
      help: "Connections accepted",
      labelNames: ["transport"],
      registers,
    });
    this.#closed = new Counter({
      name: "classcord_connections_closed_total",
      help: "Connections closed, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.#sessions = new Gauge({
      name: "classcord_sessions",
      help: "Identified sessions now, by kind",
      labelNames: ["kind"],
      registers,
    });
    this.#logins = new Counter({
      name: "classcord_logins_total",
      help: "Login attempts, by result",
      labelNames: ["result"],
      registers,
    });
    this.#registrations = new Counter({
      name: "classcord_registrations_total",
      help: "Registration attempts, by result",
      labelNames: ["result"],
      registers,
    });
    this.#messages = new Counter({
      name: "classcord_messages_total",
      help: "Chat messages accepted, by kind",
      labelNames: ["kind"],
      registers,
    });
    hotCounter(
      "classcord_deliveries_total",
      "Messages queued to a recipient session (one per recipient)",
      registers,
      () => this.#deliveries,
    );
    hotCounter(
      "classcord_received_bytes_total",
      "Bytes read from chat connections",
      registers,
      () => this.#bytesIn,
    );
    hotCounter(
      "classcord_sent_bytes_total",
      "Bytes written to chat connections",
      registers,
      () => this.#bytesOut,
    );
    this.#errors = new Counter({
      name: "classcord_errors_total",
      help: "Error replies sent, by code",
      labelNames: ["code"],
      registers,
    });
    this.#limits = new Counter({
      name: "classcord_limit_hits_total",
      help: "Times a limit was hit, by limit",
      labelNames: ["limit"],
      registers,
    });
    this.#slow = new Counter({
      name: "classcord_slow_consumers_total",
      help: "Sessions closed because they did not read fast enough",
      registers,
    });
    this.#latency = new Histogram({
      name: "classcord_message_latency_seconds",
      help: "From a message's receipt to its last write to a recipient socket",
      // 0.5 ms .. 2.5 s: loopback fan-out up to a stalled classroom Wi-Fi.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#commit = new Histogram({
      name: "classcord_kv_commit_seconds",
      help: "Duration of one group commit of messages to Deno KV",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.#batch = new Histogram({
      name: "classcord_kv_batch_size",
      help: "Messages per group commit",
      buckets: [1, 2, 5, 10, 20, 50, 100, 256],
      registers,
    });
    // Every series exists from the start, so rate() and alerts see the first event after a start.
    for (const t of ["tcp", "tls"]) {
      this.#connectionsOpen.set({ transport: t }, 0);
      this.#connections.inc({ transport: t }, 0);
    }
    for (const k of ["user", "guest"]) this.#sessions.set({ kind: k }, 0);
    for (const r of ["ok", "failed", "throttled", "error"]) this.#logins.inc({ result: r }, 0);
    for (const r of ["ok", "exists", "invalid", "throttled", "error"]) {
      this.#registrations.inc({ result: r }, 0);
    }
    for (const k of ["global", "channel", "private"]) this.#messages.inc({ kind: k }, 0);
    for (const code of ERROR_CODES) this.#errors.inc({ code }, 0);
    for (const limit of LIMIT_NAMES) this.#limits.inc({ limit }, 0);
    for (const reason of CLOSE_REASONS) this.#closed.inc({ reason }, 0);
  }

  connectionOpened(transport: Transport): void {
    this.#connectionsOpen.inc({ transport });
    this.#connections.inc({ transport });
  }

  connectionClosed(transport: Transport, reason: CloseReason): void {
    this.#connectionsOpen.dec({ transport });
    this.#closed.inc({ reason });
    if (reason === "slow_consumer") this.#slow.inc();
  }

  sessionStarted(kind: SessionKind): void {
    this.#sessions.inc({ kind });
  }

  sessionEnded(kind: SessionKind): void {
    this.#sessions.dec({ kind });
  }

  login(result: LoginResult): void {
    this.#logins.inc({ result });
  }

  registration(result: RegistrationResult): void {
    this.#registrations.inc({ result });
  }

  message(kind: MessageKind, deliveries: number): void {
    this.#messages.inc({ kind });
    this.#deliveries += deliveries;
  }

  error(code: ErrorCode): void {
    this.#errors.inc({ code });
  }

  limitHit(limit: LimitName): void {
    this.#limits.inc({ limit });
  }

  bytesIn(n: number): void {
    this.#bytesIn += n;
  }

  bytesOut(n: number): void {
    this.#bytesOut += n;
  }

  latency(seconds: number): void {
    this.#latency.observe(seconds);
  }

  commit(seconds: number, messages: number): void {
    this.#commit.observe(seconds);
    this.#batch.observe(messages);
  }

  /** Content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition: this server's metrics and the process metrics. */
  async text(): Promise<string> {
    return await Registry.merge([this.registry, processRegistry]).metrics();
  }
}

/** A counter whose value lives in a plain number, read when the registry is collected. */
function hotCounter(name: string, help: string, registers: Registry[], read: () => number): void {
  let reported = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const now = read();
      this.inc(now - reported);
      reported = now;
    },
  });
}

/**
 * Counts the writes of one fan-out and reports the latency when the last recipient's write is
 * done. Armed after the fan-out loop, when the number of recipients is known.
 */
export class FanoutTimer {
  #remaining = 0;
  #armed = false;

  constructor(readonly metrics: Metrics, readonly receivedAt: number) {}

  /** Called by an outbox once the line is written. */
  written(): void {
    if (--this.#remaining === 0 && this.#armed) this.#done();
  }

  /** Sets the number of recipients, after the fan-out loop and before any write completes. */
  arm(recipients: number): void {
    this.#armed = true;
    this.#remaining += recipients;
  }

  #done(): void {
    this.metrics.latency((performance.now() - this.receivedAt) / 1000);
  }
}
