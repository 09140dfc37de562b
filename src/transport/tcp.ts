// TCP listener: accepts connections, runs each as a LineConn with its own handler, shuts down.
import { getLogger } from "@logtape/logtape";
import type { CloseReason } from "../errors.ts";
import type { SessionOutput } from "../session/session.ts";
import { LineConn, type LineConnOptions, type LineHandler } from "./line_conn.ts";

const log = getLogger(["classcord", "tcp"]);

/** A connection's handler as the listener drives it (a Session). */
export interface ConnHandler extends LineHandler {
  /** The server is stopping: last words (if any) before the connection is closed. */
  shutdown(): void;
  /** The connection is gone. */
  close(): void;
}

/** Options of {@link ChatListener}. */
export interface ChatListenerOptions extends LineConnOptions {
  hostname: string;
  port: number;
  /** A write pending this long marks a slow consumer (PROTOCOL B.7: 10 s). */
  writeDeadlineMs: number;
  /** Makes the handler of a new connection. */
  accept: (out: SessionOutput, remote: string) => ConnHandler;
}

// Write deadlines are checked by one timer for all connections, not one per write: every second,
// or more often for short deadlines, so a stall is caught within 1.25 × the deadline at most.
const DEADLINE_SWEEP_MAX_MS = 1000;
// Time given to queued lines (the shutdown notice) before sockets are closed on shutdown.
const SHUTDOWN_DRAIN_MS = 2000;

/** The chat listener over `Deno.listen`. */
export class ChatListener {
  readonly #listener: Deno.TcpListener;
  readonly #options: ChatListenerOptions;
  readonly #conns = new Map<LineConn, ConnHandler>();
  readonly #served = new Set<Promise<void>>();
  readonly #sweep: ReturnType<typeof setInterval>;
  readonly #accepting: Promise<void>;
  #stopping = false;

  private constructor(listener: Deno.TcpListener, options: ChatListenerOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#sweep = setInterval(
      () => this.#checkDeadlines(),
      Math.min(DEADLINE_SWEEP_MAX_MS, Math.max(1, options.writeDeadlineMs / 4)),
    );
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Binds and starts accepting.
   *
   * @throws {Deno.errors.AddrInUse} and the other errors of `Deno.listen`
   */
  static listen(options: ChatListenerOptions): ChatListener {
    const listener = Deno.listen({ hostname: options.hostname, port: options.port });
    return new ChatListener(listener, options);
  }

  /** The bound address (the real port when 0 was asked). */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
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
    for (const [conn, handler] of this.#conns) {
      handler.shutdown();
      ends.push(conn.end("shutting_down", SHUTDOWN_DRAIN_MS));
    }
    await Promise.all(ends);
    await Promise.all(this.#served);
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#stopping) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#stopping) return;
        // Out of file descriptors and the like: keep serving those already connected.
        log.warn("Accept failed: {error}", { error: (err as Error).message });
        continue;
      }
      const served = this.#serve(conn);
      this.#served.add(served);
      served.finally(() => this.#served.delete(served));
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    try {
      conn.setNoDelay(true);
      // Legacy sessions have no idle timeout; TCP keepalive finds dead peers (PROTOCOL B.7).
      conn.setKeepAlive(true);
    } catch {
      // The peer may already be gone; the first read says so.
    }
    const lineConn = new LineConn(conn, this.#options);
    const handler = this.#options.accept(lineConn.outbox, lineConn.remote);
    this.#conns.set(lineConn, handler);
    this.#options.metrics?.connectionOpened("tcp");
    log.debug("Connection from {remote}", { remote: lineConn.remote });
    let reason: CloseReason;
    try {
      reason = await lineConn.serve(handler);
    } catch (err) {
      // A handler must not throw; if one does, only this connection ends.
      log.error("Connection from {remote} failed: {error}", {
        remote: lineConn.remote,
        error: err,
      });
      lineConn.close("read_error");
      reason = "read_error";
    }
    this.#conns.delete(lineConn);
    handler.close();
    this.#options.metrics?.connectionClosed("tcp", reason);
    log.info("Closed connection from {remote}: {reason}", { remote: lineConn.remote, reason });
  }

  #checkDeadlines(): void {
    for (const conn of this.#conns.keys()) {
      if (conn.outbox.stalledMs() > this.#options.writeDeadlineMs) {
        conn.outbox.fail("write_deadline");
      }
    }
  }
}
