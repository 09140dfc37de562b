// TCP and TLS listeners: connection caps, one LineConn per connection with its own handler,
// timeouts swept by one timer, graceful shutdown.
import { getLogger } from "@logtape/logtape";
import type { CloseReason, ErrorCode } from "../errors.ts";
import type { Metrics, Transport } from "../metrics.ts";
import { encodeBytes } from "../protocol/encode.ts";
import { errorReply } from "../protocol/replies.ts";
import { type Lang, T, type Text } from "../protocol/texts.ts";
import type { Connection, Peer, SessionOutput } from "../session/session.ts";
import type { Anonymous, ConnectionGate } from "./gate.ts";
import { LineConn, type LineConnOptions, type LineHandler } from "./line_conn.ts";

const log = getLogger(["classcord", "tcp"]);

/** A connection's handler as the listener drives it (a Session). */
export interface ConnHandler extends LineHandler {
  /** Logged in or posting as a guest: no identify timeout any more. */
  readonly identified: boolean;
  /** Said hello: subject to the idle timeout. */
  readonly helloed: boolean;
  /** A last error before the server closes the connection (timeouts). */
  finalError(code: ErrorCode, text: Text): void;
  /** The server is stopping: last words (if any) before the connection is closed. */
  shutdown(): void;
  /** The connection is gone. */
  close(): void;
}

/** Options of {@link ChatListener}. */
export interface ChatListenerOptions extends LineConnOptions {
  hostname: string;
  port: number;
  /** A certificate and key (PEM text): a TLS listener (PROTOCOL B.8); else plain TCP. */
  tls?: { cert: string; key: string };
  /** A write pending this long marks a slow consumer (PROTOCOL B.7: 10 s). */
  writeDeadlineMs: number;
  /** Time to identify after connecting or registering (PROTOCOL B.7: 10 min). */
  identifyTimeoutMs: number;
  /** Time without a line from a hello'd session (PROTOCOL B.7: 120 s). */
  idleTimeoutMs: number;
  /** Connection caps, shared between listeners. */
  gate: ConnectionGate;
  /** Language of the errors the listener itself sends (refusals, timeouts). */
  lang: Lang;
  /** Makes the handler of a new connection. */
  accept: (out: SessionOutput, peer: Peer, conn: Connection) => ConnHandler;
}

/** One connection being served: its line stream, its handler, and its place in the gate. */
class Served implements Anonymous, Connection {
  readonly conn: LineConn;
  readonly address: string;
  handler!: ConnHandler;
  readonly #gate: ConnectionGate;
  readonly #metrics: Metrics | undefined;

  constructor(conn: LineConn, gate: ConnectionGate, metrics: Metrics | undefined) {
    this.conn = conn;
    this.address = conn.remote;
    this.#gate = gate;
    this.#metrics = metrics;
  }

  get identified(): boolean {
    return this.handler.identified;
  }

  get busy(): boolean {
    return this.conn.busy;
  }

  /** Closed to make room for a newer anonymous connection (PROTOCOL B.7). */
  evict(): void {
    this.#metrics?.limitHit("anonymous_connections");
    this.timeout(T.anonymousEvicted());
  }

  /** A last `timeout` error, then the connection closes. */
  timeout(text: Text): void {
    this.#gate.forget(this);
    this.handler.finalError("timeout", text);
    this.conn.finish("timeout");
  }

  close(reason: CloseReason): void {
    this.conn.finish(reason);
  }

  restartIdentifyTimer(): void {
    this.#gate.waiting(this);
  }
}

// Deadlines are checked by one timer for all connections, not one per connection: every second,
// or more often for short deadlines, so a stall is caught within 1.25 × the deadline at most.
const SWEEP_MAX_MS = 1000;
// Time given to queued lines (the shutdown notice) before sockets are closed on shutdown.
const SHUTDOWN_DRAIN_MS = 2000;
// Time given to a refused connection's error line.
const REFUSAL_MS = 1000;

/** A chat listener over `Deno.listen` or `Deno.listenTls`. */
export class ChatListener {
  readonly #listener: Deno.Listener;
  readonly #transport: Transport;
  readonly #options: ChatListenerOptions;
  readonly #conns = new Set<Served>();
  // Connections being served (or refused), and who waits for that to reach 0 on shutdown.
  #serving = 0;
  #allServed: (() => void) | undefined;
  readonly #sweep: ReturnType<typeof setInterval>;
  readonly #accepting: Promise<void>;
  #stopping = false;

  private constructor(listener: Deno.Listener, options: ChatListenerOptions) {
    this.#listener = listener;
    this.#transport = options.tls ? "tls" : "tcp";
    this.#options = options;
    const shortest = Math.min(
      options.writeDeadlineMs,
      options.identifyTimeoutMs,
      options.idleTimeoutMs,
    );
    this.#sweep = setInterval(
      () => this.#checkDeadlines(),
      Math.min(SWEEP_MAX_MS, Math.max(1, shortest / 4)),
    );
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Binds and starts accepting.
   *
   * @throws {Deno.errors.AddrInUse} and the other errors of `Deno.listen` / `Deno.listenTls`
   */
  static listen(options: ChatListenerOptions): ChatListener {
    const { hostname, port, tls } = options;
    const listener = tls
      ? Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key })
      : Deno.listen({ hostname, port });
    return new ChatListener(listener, options);
  }

  /** The bound address (the real port when 0 was asked). */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** Open connections. */
  get size(): number {
    return this.#conns.size;
  }

  /**
   * Stops accepting, sends `shutting_down` to identified sessions, gives queued lines a moment
   * to leave, and closes every connection.
   */
  async shutdown(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#sweep);
    this.#listener.close();
    await this.#accepting;
    const ends: Promise<void>[] = [];
    for (const { conn, handler } of this.#conns) {
      handler.shutdown();
      ends.push(conn.end("shutting_down", SHUTDOWN_DRAIN_MS));
    }
    await Promise.all(ends);
    if (this.#serving > 0) await new Promise<void>((resolve) => this.#allServed = resolve);
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#stopping) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#stopping) return;
        // Out of file descriptors and the like: keep serving those already connected.
        log.warn("Accept failed: {error}", { error: (err as Error).message });
        continue;
      }
      // Not awaited (each connection runs on its own; #serve never rejects); the count alone
      // tracks it, so a waiting connection costs no extra promise or closure here.
      this.#serving++;
      this.#serve(conn);
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    try {
      const { gate, metrics } = this.#options;
      const remote = (conn.remoteAddr as Deno.NetAddr).hostname;
      const admitted = gate.admit(remote);
      if (admitted !== "ok") return await this.#refuse(conn, remote, admitted);
      try {
        const tcp = conn as Partial<Deno.TcpConn>;
        tcp.setNoDelay?.(true);
        // Legacy sessions have no idle timeout; TCP keepalive finds dead peers (PROTOCOL B.7).
        tcp.setKeepAlive?.(true);
      } catch {
        // The peer may already be gone; the first read says so.
      }
      const lineConn = new LineConn(conn, this.#options);
      const served = new Served(lineConn, gate, metrics);
      const peer = { address: remote, trusted: gate.isTrusted(remote) };
      const handler = served.handler = this.#options.accept(lineConn.outbox, peer, served);
      this.#conns.add(served);
      gate.waiting(served);
      metrics?.connectionOpened(this.#transport);
      log.debug("Connection from {remote} ({transport})", { remote, transport: this.#transport });
      let reason: CloseReason;
      try {
        reason = await lineConn.serve(handler);
      } catch (err) {
        // A handler must not throw; if one does, only this connection ends.
        log.error("Connection from {remote} failed: {error}", { remote, error: err });
        lineConn.close("read_error");
        reason = "read_error";
      }
      this.#conns.delete(served);
      gate.forget(served);
      gate.release(remote);
      handler.close();
      metrics?.connectionClosed(this.#transport, reason);
      log.info("Closed connection from {remote}: {reason}", { remote, reason });
    } catch (err) {
      // Only a bug gets here (a handler that cannot be made or closed): this connection ends,
      // the server goes on.
      log.error("Serving a connection failed: {error}", { error: err });
      closeQuietly(conn);
    } finally {
      if (--this.#serving === 0) this.#allServed?.();
    }
  }

  /** Over a connection cap: one `server_busy` line, then the socket is closed (B.7). */
  async #refuse(conn: Deno.Conn, remote: string, limit: string): Promise<void> {
    const { metrics } = this.#options;
    metrics?.limitHit("connections");
    metrics?.error("server_busy");
    // Debug: a connection flood must not become a log flood (the metrics count every refusal).
    log.debug("Refused a connection from {remote}: {limit} limit", { remote, limit });
    const text = T.tooManyConnections()[this.#options.lang];
    const line = encodeBytes(errorReply("server_busy", text));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // Bounded: a refused peer that does not read must not hold the accept path.
      await Promise.race([
        conn.write(line),
        new Promise((resolve) => timer = setTimeout(resolve, REFUSAL_MS)),
      ]);
    } catch {
      // Gone already.
    } finally {
      clearTimeout(timer);
      closeQuietly(conn);
    }
  }

  #checkDeadlines(): void {
    const now = performance.now();
    const { writeDeadlineMs, identifyTimeoutMs, idleTimeoutMs, metrics, gate } = this.#options;
    for (const anonymous of gate.expired(identifyTimeoutMs)) {
      const served = anonymous as Served;
      // The gate is shared: a TLS connection is the TLS listener's to close.
      if (!this.#conns.has(served) || served.conn.reason !== undefined) continue;
      metrics?.limitHit("identify_timeout");
      served.timeout(T.identifyTimeout());
    }
    for (const served of this.#conns) {
      const { conn, handler } = served;
      if (conn.reason !== undefined) continue;
      if (conn.outbox.stalledMs() > writeDeadlineMs) {
        conn.outbox.fail("write_deadline");
      } else if (handler.helloed && now - conn.lastReadAt > idleTimeoutMs) {
        metrics?.limitHit("idle_timeout");
        served.timeout(T.idleTimeout());
      }
    }
  }
}

/** Closes a socket that the peer may have closed already. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
