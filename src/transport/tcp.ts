// TCP and TLS listeners: accept, refuse what the caps refuse, and hand each connection to the
// shared Connections as lines over a Deno.Conn.
import { getLogger } from "@logtape/logtape";
import type { Transport } from "../events.ts";
import type { Connections } from "./connections.ts";
import { LineConn, type LineConnOptions } from "./line_conn.ts";

const log = getLogger(["classcord", "tcp"]);

/** Options of {@link ChatListener}. */
export interface ChatListenerOptions extends LineConnOptions {
  hostname: string;
  port: number;
  /** A certificate and key (PEM text): a TLS listener (PROTOCOL B.8); else plain TCP. */
  tls?: { cert: string; key: string };
  /** Where accepted connections are served, with those of the other listeners. */
  connections: Connections;
}

// Time given to a refused connection's error line.
const REFUSAL_MS = 1000;

/** A chat listener over `Deno.listen` or `Deno.listenTls`. */
export class ChatListener {
  #listener: Deno.Listener;
  readonly #transport: Transport;
  readonly #options: ChatListenerOptions;
  #accepting: Promise<void>;
  // Listeners closed to make room for one with a new certificate: their accept loops end.
  readonly #retired = new WeakSet<Deno.Listener>();
  // Connections handed over or being refused, and who waits for that to reach 0 on close.
  #open = 0;
  #allDone: (() => void) | undefined;
  #stopping = false;

  private constructor(listener: Deno.Listener, options: ChatListenerOptions) {
    this.#listener = listener;
    this.#transport = options.tls ? "tls" : "tcp";
    this.#options = options;
    this.#accepting = this.#acceptLoop(listener);
  }

  /**
   * Binds and starts accepting.
   *
   * @throws {Deno.errors.AddrInUse} and the other errors of `Deno.listen` / `Deno.listenTls`
   */
  static listen(options: ChatListenerOptions): ChatListener {
    return new ChatListener(bind(options.hostname, options.port, options.tls), options);
  }

  /**
   * A TLS listener takes a new certificate and key (a renewal): checked first on a spare port,
   * so a bad pair leaves the old one in place, then bound again on the same port. Established
   * connections are not touched; a connection arriving in the instant between is refused by
   * the system and retried by its client.
   *
   * @throws {Error} when the new pair does not make a TLS listener
   */
  async reload(tls: { cert: string; key: string }): Promise<void> {
    const { hostname, port } = this.addr;
    bind(hostname, 0, tls).close();
    this.#retired.add(this.#listener);
    this.#listener.close();
    await this.#accepting;
    this.#listener = bind(hostname, port, tls);
    this.#accepting = this.#acceptLoop(this.#listener);
  }

  /** The bound address (the real port when 0 was asked). */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** Stops accepting; resolves once the accept loop and pending refusals are over. */
  async close(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#listener.close();
    await this.#accepting;
  }

  /** Resolves once every connection this listener accepted is over (after {@link close}). */
  async closed(): Promise<void> {
    if (this.#open > 0) await new Promise<void>((resolve) => this.#allDone = resolve);
  }

  async #acceptLoop(listener: Deno.Listener): Promise<void> {
    while (!this.#stopping) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        // Closed: the server stops, or a new certificate takes this listener's place.
        if (this.#stopping || this.#retired.has(listener)) return;
        // Out of file descriptors and the like: keep serving those already connected.
        log.warn("Accept failed: {error}", { error: (err as Error).message });
        continue;
      }
      // Not awaited (each connection runs on its own; #serve never rejects); the count alone
      // tracks it, so a waiting connection costs no extra promise or closure here.
      this.#open++;
      this.#serve(conn);
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    try {
      const { connections } = this.#options;
      const remote = (conn.remoteAddr as Deno.NetAddr).hostname;
      if (connections.admit(remote) !== "ok") return await this.#refuse(conn);
      try {
        const tcp = conn as Partial<Deno.TcpConn>;
        tcp.setNoDelay?.(true);
        // Legacy sessions have no idle timeout; TCP keepalive finds dead peers (PROTOCOL B.7).
        tcp.setKeepAlive?.(true);
      } catch {
        // The peer may already be gone; the first read says so.
      }
      await connections.serve(new LineConn(conn, this.#options), this.#transport);
    } catch (err) {
      // Only a bug gets here: this connection ends, the server goes on.
      log.error("Serving a connection failed: {error}", { error: err });
      closeQuietly(conn);
    } finally {
      if (--this.#open === 0) this.#allDone?.();
    }
  }

  /** Over a connection cap: one `server_busy` line, then the socket is closed (B.7). */
  async #refuse(conn: Deno.Conn): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // Bounded: a refused peer that does not read must not hold the accept path.
      await Promise.race([
        conn.write(this.#options.connections.refusal()),
        new Promise((resolve) => timer = setTimeout(resolve, REFUSAL_MS)),
      ]);
    } catch {
      // Gone already.
    } finally {
      clearTimeout(timer);
      closeQuietly(conn);
    }
  }
}

/** `Deno.listen` or `Deno.listenTls` on `hostname:port`. */
function bind(
  hostname: string,
  port: number,
  tls: { cert: string; key: string } | undefined,
): Deno.Listener {
  return tls
    ? Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key })
    : Deno.listen({ hostname, port });
}

/** Closes a socket that the peer may have closed already. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
