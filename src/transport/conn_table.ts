// The transport seam: every listener hands its connections here, whatever carries them. Caps,
// one session per connection, timeouts swept by one timer, close reasons, events, shutdown.
import { getLogger } from "@logtape/logtape";
import type { CloseReason } from "../errors.ts";
import type { Events, Transport } from "../events.ts";
import type { Outbox } from "./outbox.ts";
import { encodeBytes } from "../protocol/framing.ts";
import { errorReply } from "../protocol/replies.ts";
import { type Lang, T, type Text } from "../protocol/texts.ts";
import type { Handler } from "../session/dispatcher.ts";
import type { ConnControl, Origin, SessionOutput } from "../session/session.ts";
import type { Activity, Anonymous, AnonymousCap, ConnectionGate, Refusal } from "./gate.ts";

const log = getLogger(["classcord", "tcp"]);

/** A connection as every transport offers it: requests in, an outbox out. */
export interface Conn {
  /** The client's IP address. */
  readonly remote: string;
  readonly outbox: Outbox;
  /** performance.now() of the last read, for the idle timeout. */
  readonly lastReadAt: number;
  /** Whether the peer has sent anything yet. */
  readonly heard: boolean;
  /** Whether a request is being handled. */
  readonly busy: boolean;
  /** How long the peer has not been taking what is written to it, in ms; 0 when it keeps up. */
  stalledMs(): number;
  /** Why the connection ended, once it has. */
  readonly reason: CloseReason | undefined;
  /**
   * Reads until the peer closes or {@link close} is called, then tells `end`, once. An object
   * rather than a promise: a connection being served then holds no promise, reaction or closure
   * for its end (docs/benchmarks.md, "Memory").
   */
  serve(handler: Handler, end: ServeEnd): void;
  /** Writes what is queued (for at most `timeoutMs`), then closes. */
  end(reason: CloseReason, timeoutMs: number): Promise<void>;
  /** Closes now; the first reason given is the one kept. */
  close(reason: CloseReason): void;
}

/** Where a connection being served tells how it ended: its entry in the {@link ConnTable}. */
export interface ServeEnd {
  /** The connection is over, for `reason`. */
  served(reason: CloseReason): void;
  /** Serving it failed (only a bug gets here): it is closed and counted as a read error. */
  failed(err: unknown): void;
}

/** Options of {@link ConnTable}. */
export interface ConnTableOptions {
  /** Connection caps (docs/protocol.md §5.9). */
  gate: ConnectionGate;
  events: Events;
  /** Language of the errors sent here (refusals, timeouts). */
  lang: Lang;
  /** A write pending this long marks a slow consumer (docs/protocol.md §5.11: 10 s). */
  writeDeadlineMs: number;
  /** Time to identify after connecting or registering (docs/protocol.md §5.6: 10 min). */
  identifyTimeoutMs: number;
  /** Time without a request from a hello'd session (docs/protocol.md §5.8: 120 s). */
  idleTimeoutMs: number;
  /** Makes the handler (a Dispatcher) of a new connection. */
  accept(out: SessionOutput, origin: Origin, conn: ConnControl): Handler;
  /** The caps of connections waiting to log in, named in the error of one closed for room. */
  maxAnonymousPerAddress: number;
  maxAnonymous: number;
}

// Deadlines are checked by one timer for all connections, not one per connection: every second,
// or more often for short deadlines, so a stall is caught within 1.25 × the deadline at most.
const SWEEP_MAX_MS = 1000;
// Time given to queued lines (the shutdown notice) before sockets are closed on shutdown.
const SHUTDOWN_DRAIN_MS = 2000;
// Time given to a last error line before a connection the server ends is closed.
const FINAL_LINE_MS = 1000;

/**
 * One connection being served: its transport's conn, its handler, its place in the gate; and
 * where the conn tells its end.
 */
class ConnEntry implements Anonymous, ConnControl, ServeEnd {
  readonly conn: Conn;
  readonly address: string;
  handler!: Handler;
  readonly transport: Transport;
  readonly #owner: ConnTable;
  readonly #onEnd: (() => void) | undefined;
  #over = false;

  constructor(conn: Conn, owner: ConnTable, transport: Transport, onEnd: (() => void) | undefined) {
    this.conn = conn;
    this.address = conn.remote;
    this.transport = transport;
    this.#owner = owner;
    this.#onEnd = onEnd;
  }

  served(reason: CloseReason): void {
    this.over(reason);
  }

  failed(err: unknown): void {
    log.error("Connection from {remote} failed: {error}", { remote: this.address, error: err });
    this.conn.close("read_error");
    this.over("read_error");
  }

  /**
   * The connection is over, for `reason` (none: it was never served); the first call counts.
   * Then its listener is told.
   */
  over(reason: CloseReason | undefined): void {
    if (this.#over) return;
    this.#over = true;
    this.#owner.ended(this, reason);
    this.#onEnd?.();
  }

  get identified(): boolean {
    return this.handler.identified;
  }

  get busy(): boolean {
    return this.conn.busy;
  }

  get activity(): Activity {
    return this.handler.understood ? 2 : this.conn.heard ? 1 : 0;
  }

  /** Closed to make room for a newer anonymous connection (docs/protocol.md §5.7). */
  evict(cap: AnonymousCap): void {
    const { maxAnonymousPerAddress, maxAnonymous } = this.#owner.limits;
    const text = cap === "address"
      ? T.anonymousEvictedAddress(maxAnonymousPerAddress)
      : T.anonymousEvictedTotal(maxAnonymous);
    this.#owner.events.emit({ type: "limit", limit: "anonymous_connections" });
    this.#owner.gate.forget(this);
    this.handler.finalError("anonymous_cap", text);
    this.conn.end("anonymous_cap", FINAL_LINE_MS);
  }

  close(reason: CloseReason): void {
    this.conn.end(reason, FINAL_LINE_MS);
  }

  restartIdentifyTimer(): void {
    this.#owner.gate.waiting(this);
  }
}

/** Every connection of every listener, from admission to close. */
export class ConnTable {
  readonly gate: ConnectionGate;
  readonly #options: ConnTableOptions;
  readonly #served = new Set<ConnEntry>();
  readonly #sweep: ReturnType<typeof setInterval>;
  // Connections being served, and who waits for that to reach 0 on shutdown.
  #serving = 0;
  #allServed: (() => void) | undefined;
  #stopping = false;

  constructor(options: ConnTableOptions) {
    this.#options = options;
    this.gate = options.gate;
    const shortest = Math.min(
      options.writeDeadlineMs,
      options.identifyTimeoutMs,
      options.idleTimeoutMs,
    );
    this.#sweep = setInterval(
      () => this.#checkDeadlines(),
      Math.min(SWEEP_MAX_MS, Math.max(1, shortest / 4)),
    );
  }

  /** The caps the error of an evicted connection names. */
  get limits(): Pick<ConnTableOptions, "maxAnonymousPerAddress" | "maxAnonymous"> {
    return this.#options;
  }

  get events(): Events {
    return this.#options.events;
  }

  /** Open connections. */
  get size(): number {
    return this.#served.size;
  }

  /**
   * Admits a connection from `address`, or refuses it (counted, and logged at debug: a
   * connection flood must not become a log flood). A refused connection gets {@link refusal}.
   */
  admit(address: string): "ok" | Refusal {
    const admitted = this.#stopping ? "total" : this.gate.admit(address);
    if (admitted !== "ok") {
      const { events } = this.#options;
      events.emit({ type: "limit", limit: "connections" });
      events.emit({ type: "error", code: "server_busy" });
      log.debug("Refused a connection from {remote}: {limit} limit", {
        remote: address,
        limit: admitted,
      });
    }
    return admitted;
  }

  /** The one line a refused connection gets before it is closed (docs/protocol.md §5.9). */
  refusal(): Uint8Array {
    return encodeBytes(errorReply("server_busy", T.tooManyConnections()[this.#options.lang]));
  }

  /**
   * Serves a connection {@link admit} let in, until it ends, then calls `onEnd` (once); never
   * throws. A failure of its handler ends this connection only.
   *
   * Neither an async function nor a promise: a connection being served holds its entry, which
   * its conn tells of the end, and no suspended frame, promise or closure (docs/benchmarks.md,
   * "Memory").
   */
  serve(conn: Conn, transport: Transport, onEnd?: () => void): void {
    const { gate, events } = this.#options;
    const { remote } = conn;
    this.#serving++;
    const served = new ConnEntry(conn, this, transport, onEnd);
    try {
      const origin = { address: remote, trusted: gate.isTrusted(remote), transport };
      const handler = served.handler = this.#options.accept(conn.outbox, origin, served);
      this.#served.add(served);
      gate.waiting(served);
      events.emit({ type: "connection_opened", transport });
      log.debug("Connection from {remote} ({transport})", { remote, transport });
      conn.serve(handler, served);
    } catch (err) {
      // Only a bug gets here (a handler that cannot be made, a connection that cannot start):
      // this connection ends, the server goes on.
      log.error("Serving a connection failed: {error}", { error: err });
      conn.close("read_error");
      served.over(undefined);
    }
  }

  /**
   * A connection is over, for `reason`: its handler closes and its place is given back. Without a
   * reason it was never served (a bug stopped it first): its place alone is given back. Called
   * once per connection, by its entry.
   */
  ended(served: ConnEntry, reason: CloseReason | undefined): void {
    const { gate, events } = this.#options;
    const { conn, transport } = served;
    try {
      this.#served.delete(served);
      gate.forget(served);
      if (reason === undefined) return;
      served.handler.close();
      events.emit({ type: "connection_closed", transport, reason });
      log.info("Closed connection from {remote}: {reason}", { remote: conn.remote, reason });
    } catch (err) {
      // Only a bug gets here (a handler that cannot be closed): this connection ends, the server
      // goes on.
      log.error("Serving a connection failed: {error}", { error: err });
      conn.close("read_error");
    } finally {
      gate.release(conn.remote);
      if (--this.#serving === 0) this.#allServed?.();
    }
  }

  /** A last `timeout` error (counted under `limit`), then the connection closes. */
  timeout(served: ConnEntry, limit: "identify_timeout" | "idle_timeout", text: Text): void {
    this.#options.events.emit({ type: "limit", limit });
    this.gate.forget(served);
    served.handler.finalError("timeout", text);
    served.conn.end("timeout", FINAL_LINE_MS);
  }

  /**
   * Stops: refuses newcomers, sends `shutting_down` to identified sessions, gives queued lines a
   * moment to leave, closes every connection and waits until each is served to its end.
   */
  async shutdown(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#sweep);
    const ends: Promise<void>[] = [];
    for (const { conn, handler } of this.#served) {
      handler.shutdown();
      ends.push(conn.end("shutting_down", SHUTDOWN_DRAIN_MS));
    }
    await Promise.all(ends);
    if (this.#serving > 0) await new Promise<void>((resolve) => this.#allServed = resolve);
  }

  #checkDeadlines(): void {
    const now = performance.now();
    const { writeDeadlineMs, identifyTimeoutMs, idleTimeoutMs } = this.#options;
    for (const anonymous of this.gate.expired(identifyTimeoutMs)) {
      const served = anonymous as ConnEntry;
      if (served.conn.reason !== undefined) continue;
      this.timeout(served, "identify_timeout", T.identifyTimeout());
    }
    for (const served of this.#served) {
      const { conn, handler } = served;
      if (conn.reason !== undefined) continue;
      if (conn.stalledMs() > writeDeadlineMs) {
        conn.outbox.fail("write_deadline");
      } else if (handler.helloed && now - conn.lastReadAt > idleTimeoutMs) {
        this.timeout(served, "idle_timeout", T.idleTimeout());
      }
    }
  }
}
