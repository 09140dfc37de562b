// TCP and TLS listeners: accept, read the PROXY header of a load balancer in --proxy-from, refuse
// what the caps refuse, and hand each connection to the shared ConnTable as lines over a node:net
// socket (plain TCP, or TLS started on one after the header) or over a Deno.TlsConn.
import { getLogger } from "@logtape/logtape";
import type { Buffer } from "node:buffer";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { AddressSet, plainAddress } from "../address_set.ts";
import { concatBytes } from "../bytes.ts";
import type { Transport } from "../events.ts";
import type { ConnTable } from "./conn_table.ts";
import { type ByteStream, LineConn, type LineConnOptions, type ReadSink } from "./line_conn.ts";
import { parseProxyHeader } from "./proxy_header.ts";
import { SocketStream } from "./socket_stream.ts";

const log = getLogger(["classcord", "tcp"]);

/** Options of {@link ChatListener}. */
export interface ChatListenerOptions extends LineConnOptions {
  hostname: string;
  port: number;
  /** A certificate and key (PEM text): a TLS listener (docs/protocol.md §7); else plain TCP. */
  tls?: { cert: string; key: string };
  /** Where accepted connections are served, with those of the other listeners. */
  connections: ConnTable;
  /**
   * Load balancers (`--proxy-from`): a connection from one of them starts with a PROXY protocol
   * header (v1 or v2) naming the client, whose address it then has everywhere. Nobody else's
   * header is read: from any other address, a connection is an ordinary client. None by
   * default.
   */
  proxyFrom?: AddressSet;
}

// Time given to a refused connection's error line.
const REFUSAL_MS = 1000;
// Time a balancer has to send its PROXY header: the spec asks for at least 3 s (a TCP
// retransmit); HAProxy sends it with the connection, so only a stuck or wrong peer waits this.
// The connection holds no slot of the caps meanwhile (it is admitted once its client is known).
const PROXY_HEADER_MS = 5000;
// Distinct load balancer problems logged at warning (then at debug: counted all the same).
const MAX_WARNED = 100;

/**
 * A chat listener. Plain TCP is a node:net server: a node:net socket waiting for its next line
 * costs the runtime about 2 KB less than a `Deno.Conn` with a read pending (docs/benchmarks.md,
 * "Memory"), and a class keeps hundreds of them open. TLS is `Deno.listenTls` (rustls in the
 * runtime, faster), except with load balancers in `proxyFrom`: HAProxy in TCP mode sends the
 * header before the client's TLS handshake, so such a listener accepts plain TCP and starts TLS
 * itself (node:tls) once it has read the header.
 */
export class ChatListener {
  // Plain TCP, and TLS after a PROXY header; or the runtime's TLS listener.
  readonly #server: Server | undefined;
  #listener: Deno.Listener | undefined;
  readonly #transport: Transport;
  readonly #options: ChatListenerOptions;
  readonly #proxyFrom: AddressSet;
  // TLS started after the PROXY header: the certificate of new connections (replaced on reload).
  #secure: SecureContext | undefined;
  #accepting: Promise<void> = Promise.resolve();
  // Listeners closed to make room for one with a new certificate: their accept loops end.
  readonly #retired = new WeakSet<Deno.Listener>();
  // Connections handed over or being refused, and who waits for that to reach 0 on close.
  #open = 0;
  #allDone: (() => void) | undefined;
  #stopping = false;
  // Connections whose PROXY header is awaited: closed at once when the listener stops.
  readonly #awaitingHeader = new Set<ByteStream>();
  readonly #warned = new Set<string>();

  private constructor(options: ChatListenerOptions, listener?: Deno.Listener) {
    this.#transport = options.tls ? "tls" : "tcp";
    this.#options = options;
    this.#proxyFrom = options.proxyFrom ?? AddressSet.NONE;
    if (listener) {
      this.#listener = listener;
      this.#accepting = this.#acceptLoop(listener);
    } else {
      if (options.tls) this.#secure = secureContext(options.tls);
      // allowHalfOpen: a client's end is read as such, and what it is owed is still written.
      this.#server = createServer({ allowHalfOpen: true }, this.#onConnection);
    }
  }

  /**
   * Binds and starts accepting.
   *
   * @throws {Error} with the listen error: `code` EADDRINUSE and the like for a node:net
   * listener, `Deno.errors.AddrInUse` and the other errors of `Deno.listenTls` for a TLS one
   */
  static async listen(options: ChatListenerOptions): Promise<ChatListener> {
    const { hostname, port, tls } = options;
    if (tls && !tlsAfterHeader(options)) {
      return new ChatListener(options, Deno.listenTls({ hostname, port, ...tls }));
    }
    if (tls) checkPair(hostname, tls);
    const chat = new ChatListener(options);
    const server = chat.#server!;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // Once bound, only a failed accept (out of file descriptors): those connected go on.
    server.on("error", (err: Error) => log.warn("Accept failed: {error}", { error: err.message }));
    return chat;
  }

  /**
   * A TLS listener takes a new certificate and key (a renewal): checked first on a spare port,
   * so a bad pair leaves the old one in place, then bound again on the same port. Established
   * connections are not touched; a connection arriving in the instant between is refused by
   * the system and retried by its client. When TLS starts after a PROXY header, the listener
   * stays bound and new connections get the new pair.
   *
   * @throws {Error} when the new pair does not make a TLS listener
   */
  async reload(tls: { cert: string; key: string }): Promise<void> {
    const { hostname, port } = this.addr;
    checkPair(hostname, tls);
    if (this.#secure) {
      this.#secure = secureContext(tls);
      return;
    }
    const old = this.#listener!;
    this.#retired.add(old);
    old.close();
    await this.#accepting;
    this.#listener = Deno.listenTls({ hostname, port, ...tls });
    this.#accepting = this.#acceptLoop(this.#listener);
  }

  /** The bound address (the real port when 0 was asked). */
  get addr(): { hostname: string; port: number } {
    if (this.#listener) return this.#listener.addr as Deno.NetAddr;
    const { address, port } = this.#server!.address() as AddressInfo;
    return { hostname: address, port };
  }

  /** Stops accepting; resolves once the accept loop and pending refusals are over. */
  async close(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    // Stops accepting; the connections served go on until the ConnTable closes them.
    this.#server?.close();
    this.#listener?.close();
    // Balancer connections still waiting for their header end now, not at their deadline.
    for (const conn of this.#awaitingHeader) closeQuietly(conn);
    await this.#accepting;
  }

  /** Resolves once every connection this listener accepted is over (after {@link close}). */
  async closed(): Promise<void> {
    if (this.#open > 0) await new Promise<void>((resolve) => this.#allDone = resolve);
  }

  /** A connection the node:net server accepted. */
  readonly #onConnection = (socket: Socket): void => {
    if (this.#stopping) return void socket.destroy();
    const stream = new SocketStream(socket);
    try {
      socket.setNoDelay(true);
      // Legacy sessions have no idle timeout; TCP keepalive finds dead peers
      // (docs/protocol.md §5.8).
      socket.setKeepAlive(true);
    } catch {
      // The peer may already be gone; the first read says so.
    }
    // Gone before it could be served (reset at once): its address is unknown, nothing to serve.
    if (socket.remoteAddress === undefined) return closeQuietly(stream);
    this.#open++;
    this.#serve(stream, plainAddress(socket.remoteAddress));
  };

  async #acceptLoop(listener: Deno.Listener): Promise<void> {
    while (!this.#stopping) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        // Closed: the server stops, or a new certificate takes this listener's place.
        if (this.#stopping || this.#retired.has(listener)) return;
        // Reset before it was accepted: what a load balancer's connect-only health check does
        // (HAProxy's plain `check`, every second or two), nothing to warn about.
        if (err instanceof Deno.errors.NotConnected || err instanceof Deno.errors.ConnectionReset) {
          log.debug("Accept failed: {error}", { error: (err as Error).message });
          continue;
        }
        // Out of file descriptors and the like: keep serving those already connected.
        log.warn("Accept failed: {error}", { error: (err as Error).message });
        continue;
      }
      try {
        const tcp = conn as Partial<Deno.TcpConn>;
        tcp.setNoDelay?.(true);
        tcp.setKeepAlive?.(true); // as for a node:net socket, above
      } catch {
        // The peer may already be gone; the first read says so.
      }
      // Not awaited (each connection runs on its own; #serve never rejects); the count alone
      // tracks it, so a waiting connection costs no extra promise or closure here.
      this.#open++;
      this.#serve(new ConnStream(conn), plainAddress((conn.remoteAddr as Deno.NetAddr).hostname));
    }
  }

  async #serve(conn: ByteStream, peer: string): Promise<void> {
    let stream = conn;
    let handedOver = false;
    try {
      const { connections } = this.#options;
      let remote = peer;
      let initial: Uint8Array | undefined;
      if (this.#proxyFrom.has(peer)) {
        // The header comes before admission: the caps count the client, not the balancer.
        const header = await this.#readHeader(conn, peer);
        if (!header) return;
        remote = header.source ?? peer;
        initial = header.rest;
      }
      if (this.#secure) {
        // Only a node:net listener starts TLS itself: its connections are SocketStreams.
        stream = new TlsStream(conn as SocketStream, initial, this.#secure);
        initial = undefined;
      }
      if (connections.admit(remote) !== "ok") return await this.#refuse(stream);
      const line = new LineConn(stream, { remote, initial }, this.#options);
      // This function's frame ends here: the table calls the listener's one #served when the
      // connection is over, so a connection being served holds no promise or frame here (a
      // suspended frame per connection was ~0.4 KB: docs/benchmarks.md, "Memory").
      connections.serve(line, this.#transport, this.#served);
      handedOver = true;
    } catch (err) {
      // Only a bug gets here: this connection ends, the server goes on.
      log.error("Serving a connection failed: {error}", { error: err });
      closeQuietly(stream);
    } finally {
      if (!handedOver) this.#served();
    }
  }

  /** A connection this listener accepted is over. */
  readonly #served = (): void => {
    if (--this.#open === 0) this.#allDone?.();
  };

  /**
   * Reads a balancer's PROXY header (PROXY protocol v1 or v2): the client's address (none for
   * UNKNOWN) and the client's bytes read with it. A LOCAL header (a health check), a bad or
   * missing one: the connection is closed and undefined returned.
   */
  async #readHeader(
    conn: ByteStream,
    peer: string,
  ): Promise<{ source: string | undefined; rest: Uint8Array } | undefined> {
    this.#awaitingHeader.add(conn);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      closeQuietly(conn);
    }, PROXY_HEADER_MS);
    let bytes: Uint8Array = new Uint8Array(0);
    try {
      for (;;) {
        const header = parseProxyHeader(bytes);
        if (header.kind === "invalid") return this.#badHeader(conn, peer, header.reason);
        if (header.kind === "local") {
          // A connection the balancer made itself (a health check): nothing to serve or count.
          // HAProxy sends LOCAL only from a `tcp-check` that then awaits an answer, so such a
          // check fails here: its checks belong on the metrics port's /healthz.
          log.debug("Closed a health check from {peer}", { peer });
          closeQuietly(conn);
          return undefined;
        }
        if (header.kind !== "more") {
          const rest = bytes.slice(header.length);
          return { source: header.kind === "proxy" ? header.source : undefined, rest };
        }
        let chunk: Uint8Array | null;
        try {
          chunk = await readOnce(conn);
        } catch {
          chunk = null; // reset by the peer, or closed by the deadline or the listener
        }
        if (chunk === null) {
          if (timedOut) {
            return this.#badHeader(conn, peer, `No PROXY header within ${PROXY_HEADER_MS} ms`);
          }
          // Gone before a whole header: a probe that connects and leaves, or the server stops.
          if (bytes.length > 0 && !this.#stopping) {
            return this.#badHeader(conn, peer, "Closed in the middle of a PROXY header");
          }
          log.debug("Connection from {peer} closed before a PROXY header", { peer });
          closeQuietly(conn);
          return undefined;
        }
        // Bounded: every header is decided by its first 107 (v1) or 4096 (v2) bytes, and a
        // socket's chunk is at most 64 KiB. A copy: the chunk may be a view of a reused buffer.
        bytes = concatBytes([bytes, chunk]);
      }
    } finally {
      clearTimeout(timer);
      this.#awaitingHeader.delete(conn);
    }
  }

  /**
   * A balancer's connection without a valid PROXY header: closed without a word (the spec says
   * to abort), counted, and logged at warning once per balancer and kind of problem (a balancer
   * sending no header sends none on every connection).
   */
  #badHeader(conn: ByteStream, peer: string, reason: string): undefined {
    closeQuietly(conn);
    this.#options.events.emit({ type: "limit", limit: "proxy_header" });
    const key = `${peer} ${reason.replace(/[0-9]+/g, "N")}`;
    if (this.#warned.size < MAX_WARNED && !this.#warned.has(key)) {
      this.#warned.add(key);
      log.warn(
        "Closed a connection from load balancer {peer}: {reason} (is it sending the PROXY " +
          "protocol? further ones are logged at debug)",
        { peer, reason },
      );
    } else {
      log.debug("Closed a connection from load balancer {peer}: {reason}", { peer, reason });
    }
    return undefined;
  }

  /** Over a connection cap: one `server_busy` line, then the close (docs/protocol.md §5.9). */
  async #refuse(conn: ByteStream): Promise<void> {
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

/**
 * Whether a TLS listener starts TLS itself after a PROXY header: only when load balancers are
 * configured, so a server without them keeps `Deno.listenTls` (rustls in the runtime, faster).
 */
function tlsAfterHeader(options: ChatListenerOptions): boolean {
  return options.proxyFrom !== undefined && options.proxyFrom !== AddressSet.NONE;
}

/**
 * Throws when a certificate and key do not make a TLS listener: node:tls's
 * `createSecureContext` in Deno accepts anything and fails at each handshake, so the pair is
 * checked by `Deno.listenTls` on a spare port, as a reload does.
 */
function checkPair(hostname: string, tls: { cert: string; key: string }): void {
  Deno.listenTls({ hostname, port: 0, ...tls }).close();
}

function secureContext(tls: { cert: string; key: string }): SecureContext {
  return createSecureContext({ cert: tls.cert, key: tls.key });
}

// A `Deno.Conn` waits for data with a read buffer the runtime holds, so an idle connection reads
// into a small one (64 KiB made it ~130 KiB a connection); a read that fills it means more is
// waiting, and the rest of the burst is read into a large one, dropped once the burst is over.
// 128 bytes hold most requests (a chat line is 40-150 bytes): 5,000 sockets each waiting on a
// read took 7.5-7.7 KB a socket with 512-byte buffers, 6.0-6.2 KB with 128 (docs/benchmarks.md,
// "Memory").
const SMALL_READ_BYTES = 128;
const LARGE_READ_BYTES = 16 * 1024;

/**
 * A `Deno.Conn` (a `Deno.TlsConn` of the runtime's TLS listener) as a {@link ByteStream}: each
 * read answers with a view of its buffer, reused by the next read.
 */
class ConnStream implements ByteStream {
  readonly #conn: Deno.Conn;
  readonly #small = new Uint8Array(SMALL_READ_BYTES);
  #large: Uint8Array | undefined;
  #buf: Uint8Array = this.#small;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  read(sink: ReadSink): void {
    const buf = this.#buf;
    this.#conn.read(buf).then((n) => {
      if (n === null) return sink.readDone(null);
      // A full buffer means more is waiting; anything less, that the socket is empty for now.
      const more = n === buf.length;
      if (more) this.#buf = this.#large ??= new Uint8Array(LARGE_READ_BYTES);
      else this.#buf = this.#small, this.#large = undefined;
      sink.readDone(buf.subarray(0, n), more);
    }, (err) => sink.readFailed(err));
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.#conn.write(bytes);
  }

  close(): void {
    this.#conn.close();
  }
}

/** One read of a {@link ByteStream}, as a promise (`null` at the end). */
function readOnce(stream: ByteStream): Promise<Uint8Array | null> {
  return new Promise((resolve, reject) =>
    stream.read({ readDone: (chunk) => resolve(chunk), readFailed: reject })
  );
}

/** Closes a socket that the peer may have closed already. */
function closeQuietly(conn: ByteStream): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

// Time a closing TLS connection has to take its close_notify before the socket is closed anyway.
const CLOSE_NOTIFY_MS = 1000;

/**
 * Server-side TLS over a node:net socket whose first bytes (`initial`, read with the PROXY header)
 * are the client's handshake: node:tls's `TLSSocket` in server mode over a stream of the
 * connection's bytes, read and written as a {@link ByteStream}. `Deno.startTls` is client-only
 * and `Deno.listenTls` does the handshake before anything can be read, so this is Deno 2.9's
 * one way to TLS after a header (measured: 3 times slower than Deno.listenTls on bulk echo,
 * ~200 MB/s, far above what a class sends).
 */
class TlsStream implements ByteStream {
  readonly #conn: SocketStream;
  readonly #raw: Duplex;
  readonly #tls: TLSSocket;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(conn: SocketStream, initial: Uint8Array | undefined, context: SecureContext) {
    this.#conn = conn;
    this.#raw = rawStream(conn, initial);
    this.#tls = new TLSSocket(this.#raw, { isServer: true, secureContext: context });
    const wake = () => {
      const resolve = this.#wake;
      this.#wake = undefined;
      resolve?.();
    };
    this.#tls.on("readable", wake);
    this.#tls.on("end", () => {
      this.#ended = true;
      wake();
    });
    this.#tls.on("close", () => {
      this.#ended = true;
      wake();
    });
    // A failed handshake, a bad record, a reset: the next read throws it (read_error).
    this.#tls.on("error", (err: Error) => {
      this.#error ??= err;
      wake();
    });
  }

  read(sink: ReadSink): void {
    this.#read().then((chunk) => sink.readDone(chunk), (err) => sink.readFailed(err));
  }

  async #read(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = this.#tls.read() as Buffer | null;
      if (chunk !== null && chunk.length > 0) return chunk;
      if (this.#error) throw this.#error;
      if (this.#ended || this.#closed) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#closed || this.#tls.destroyed) return reject(new Error("Connection closed"));
      this.#tls.write(bytes, (err) => err ? reject(err) : resolve(bytes.length));
    });
  }

  /**
   * Ends TLS with a close_notify, as `Deno.listenTls` connections do (rustls clients take an end
   * without one for a truncation), then closes the socket; at once when TLS is broken, and
   * after {@link CLOSE_NOTIFY_MS} at most when the peer does not take it.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const resolve = this.#wake;
    this.#wake = undefined;
    resolve?.();
    if (this.#tls.destroyed || this.#error) return this.#destroy();
    const timer = setTimeout(() => this.#destroy(), CLOSE_NOTIFY_MS);
    const done = () => {
      clearTimeout(timer);
      this.#destroy();
    };
    this.#tls.once("close", done);
    this.#tls.end(done);
  }

  #destroy(): void {
    this.#tls.destroy();
    this.#raw.destroy();
    closeQuietly(this.#conn);
  }
}

/** A node stream of a connection's bytes: `initial` first, then what the socket reads. */
function rawStream(conn: SocketStream, initial: Uint8Array | undefined): Duplex {
  let first = initial && initial.length > 0 ? initial : undefined;
  return new Duplex({
    read() {
      if (first) {
        this.push(first);
        first = undefined;
        return;
      }
      conn.read({
        // The socket's chunks are its own: pushed as they are.
        readDone: (chunk) => void this.push(chunk),
        readFailed: (err) => this.destroy(err as Error),
      });
    },
    write(chunk: Uint8Array, _encoding, done) {
      writeAll(conn, chunk).then(() => done(), done);
    },
    final(done) {
      try {
        conn.closeWrite();
      } catch {
        // Closed already.
      }
      done();
    },
    destroy(err, done) {
      closeQuietly(conn);
      done(err);
    },
  });
}

async function writeAll(conn: ByteStream, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}
