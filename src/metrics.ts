// Prometheus metrics: the registry and every classcord_* metric, fed by the server's events.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { CLOSE_REASONS, ERROR_CODES } from "./errors.ts";
import { LIMIT_NAMES, type ServerEvent, TRANSPORTS } from "./events.ts";
import type { Stats } from "./session/console.ts";

let processRegistry: Registry | undefined;

/**
 * The process metrics (CPU, memory, event-loop lag, heap, GC), collected once per process:
 * prom-client's event-loop monitor must not be started again for every server. Only the server
 * asks for them; importing this module starts nothing.
 */
export function processMetrics(): Registry {
  if (processRegistry) return processRegistry;
  const registry = processRegistry = new Registry();
  collectDefaultMetrics({ register: registry });
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
  ) registry.removeSingleMetric(name);
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers: [registry],
    collect() {
      this.set(Deno.memoryUsage().rss);
    },
  });
  return registry;
}

/**
 * Every metric of one server. No label carries a user or channel name (docs/protocol.md §5.13), so
 * the series count stays bounded whatever the class does.
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

  readonly #process: Registry | undefined;
  readonly #startedAt = Date.now();

  /** `process`: the process metrics ({@link processMetrics}) to expose beside the server's. */
  constructor(version: string, options: { process?: Registry } = {}) {
    this.#process = options.process;
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
    for (const t of TRANSPORTS) {
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

  /** Counts one event (subscribe it to the server's {@link EventStream}). */
  observe(event: ServerEvent): void {
    switch (event.type) {
      case "connection_opened":
        this.#connectionsOpen.inc({ transport: event.transport });
        this.#connections.inc({ transport: event.transport });
        return;
      case "connection_closed":
        this.#connectionsOpen.dec({ transport: event.transport });
        this.#closed.inc({ reason: event.reason });
        if (event.reason === "slow_consumer") this.#slow.inc();
        return;
      case "session_started":
        return this.#sessions.inc({ kind: event.kind });
      case "session_ended":
        return this.#sessions.dec({ kind: event.kind });
      case "login":
        return this.#logins.inc({ result: event.result });
      case "registration":
        return this.#registrations.inc({ result: event.result });
      case "message":
        return this.#messages.inc({ kind: event.kind });
      case "delivered":
        this.#deliveries += event.count;
        return;
      case "error":
        return this.#errors.inc({ code: event.code });
      case "limit":
        return this.#limits.inc({ limit: event.limit });
      case "bytes_in":
        this.#bytesIn += event.bytes;
        return;
      case "bytes_out":
        this.#bytesOut += event.bytes;
        return;
      case "fanout_latency":
        return this.#latency.observe(event.seconds);
      case "commit":
        this.#commit.observe(event.seconds);
        this.#batch.observe(event.messages);
        return;
    }
  }

  /**
   * The counters the teacher console shows (`stats`): connections open by transport, sessions
   * by kind, messages, deliveries and limit hits since the start.
   */
  async snapshot(): Promise<Stats> {
    const byLabel = async (metric: Counter<string> | Gauge<string>, label: string) => {
      const out: Record<string, number> = {};
      for (const v of (await metric.get()).values) out[String(v.labels[label])] = v.value;
      return out;
    };
    const messages = Object.values(await byLabel(this.#messages, "kind"))
      .reduce((a, b) => a + b, 0);
    return {
      connections: await byLabel(this.#connectionsOpen, "transport"),
      sessions: await byLabel(this.#sessions, "kind"),
      messages,
      deliveries: this.#deliveries,
      limit_hits: await byLabel(this.#limits, "limit"),
      startedAt: this.#startedAt,
    };
  }

  /** Content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition: this server's metrics, and the process's when given. */
  async text(): Promise<string> {
    const registries = this.#process ? [this.registry, this.#process] : [this.registry];
    return await Registry.merge(registries).metrics();
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
