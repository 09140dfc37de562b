// Lines over one connection (a node:net socket, TLS started on one after a PROXY header, or a
// Deno.TlsConn): reads bytes into the splitter, decodes lines, writes through an outbox.
import { concatBytes } from "../bytes.ts";
import type { CloseReason } from "../errors.ts";
import type { Events } from "../events.ts";
import { decodeLine, LineSplitter } from "../protocol/framing.ts";
import { T } from "../protocol/texts.ts";
import type { Handler } from "../session/dispatcher.ts";
import type { Conn, ServeEnd } from "./conn_table.ts";
import { OutboxConn } from "./outbox.ts";

/** Where a read of a {@link ByteStream} answers: the connection reading. */
export interface ReadSink {
  /**
   * The bytes read, or `null` at the end of the stream. The bytes may be a view of a buffer the
   * stream reuses for its next read: whatever is kept of them is copied. `more` says that more
   * bytes are waiting already (a read that filled its buffer).
   */
  readDone(chunk: Uint8Array | null, more?: boolean): void;
  readFailed(err: unknown): void;
}

/**
 * The bytes a {@link LineConn} reads and writes: a node:net socket (`SocketStream`), TLS started
 * over one after a PROXY header, or a `Deno.TlsConn` (`tcp.ts`).
 */
export interface ByteStream {
  /**
   * Reads the next bytes, answering `sink`; never before returning. A waiting read holds no
   * promise or closure of its own: each idle connection waits on one, and a promise per waiting
   * read, with its resolvers and what was chained on it, was 0.4 KB per connection
   * (docs/benchmarks.md, "Memory").
   */
  read(sink: ReadSink): void;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/** Where a {@link LineConn}'s bytes come from. */
export interface LineConnSource {
  /** The client's IP address: the socket's peer, or what a load balancer's PROXY header said. */
  remote: string;
  /** Bytes of the client read already (those after a PROXY header): handled before any read. */
  initial?: Uint8Array;
}

/** Options of {@link LineConn}. */
export interface LineConnOptions {
  maxLineBytes: number;
  maxQueueBytes: number;
  /** Bytes without a line end after which the connection closes (docs/protocol.md §5.3: 1 MiB). */
  maxUnterminatedBytes: number;
  /** Byte counters and limit hits. */
  events: Events;
  /**
   * The old exporter's bridge: a connection whose very first bytes are `GET_METRICS` gets the
   * Prometheus text, or a refusal (docs/protocol.md, section 9); without it, such a connection is
   * an ordinary (and confused) chat client.
   */
  metricsBridge?: MetricsBridge;
}

/** The old exporter's `GET_METRICS` on the chat port (docs/protocol.md, section 9). */
export interface MetricsBridge {
  /** The Prometheus text exposition. */
  text(): Promise<string>;
  /** Whether the client at `remote` gets it, or why not. */
  allows(remote: string): "yes" | "off" | "untrusted";
}

// The old exporter's request (docs/protocol.md §9.1), with or without a line end after it.
const BRIDGE_REQUEST = new TextEncoder().encode("GET_METRICS");

// Time given to the last line (an error) of a connection its handler ends.
const FINAL_LINE_MS = 1000;
// Time the replies still owed to a client that half-closed its side get before the connection
// closes: an ack waits for its commit, which takes milliseconds unless the store is failing.
const HALF_CLOSED_MS = 5000;
// What an inspector is shown of a line that has not ended yet.
const PEEK_BYTES = 512;

/** A connection speaking JSON lines: framing and decoding in, a bounded outbox out. */
export class LineConn extends OutboxConn implements Conn, ReadSink {
  readonly remote: string;
  readonly #conn: ByteStream;
  readonly #maxLineBytes: number;
  readonly #maxUnterminated: number;
  readonly #events: Events;
  /** performance.now() of the last read, for the idle timeout. */
  lastReadAt = performance.now();
  /** Whether a line is being handled (a login being checked, say). */
  busy = false;
  /** Whether the peer has sent anything yet. */
  heard = false;
  readonly #bridge: MetricsBridge | undefined;
  #reason: CloseReason | undefined;
  #closed = false;
  #initial: Uint8Array | undefined;
  // What serve() reads with and hands lines to, and how it settles.
  #handler: Handler | undefined;
  #splitter: LineSplitter | undefined;
  #start: Uint8Array | undefined;
  #end: ServeEnd | undefined;

  constructor(conn: ByteStream, peer: LineConnSource, options: LineConnOptions) {
    // The outbox writes straight to the byte stream.
    super(conn, options.events, { maxBytes: options.maxQueueBytes });
    this.#conn = conn;
    this.#maxLineBytes = options.maxLineBytes;
    this.#maxUnterminated = options.maxUnterminatedBytes;
    this.#events = options.events;
    this.#bridge = options.metricsBridge;
    this.remote = peer.remote;
    if (peer.initial && peer.initial.length > 0) this.#initial = peer.initial;
  }

  /** Why the connection ended, once it has. */
  get reason(): CloseReason | undefined {
    return this.#reason;
  }

  /**
   * Reads until the peer closes or {@link close} is called, then tells `end`, once.
   *
   * No async frame waits for a read: the state lives in fields, and the read answers this
   * connection ({@link readDone}), which takes the next step. An idle connection then holds only
   * its waiting read, not a suspended frame with every local (with ConnTable.serve's frame, 0.24
   * KB of heap: docs/benchmarks.md, "Memory").
   */
  serve(handler: Handler, end: ServeEnd): void {
    this.#handler = handler;
    this.#end = end;
    this.#splitter = new LineSplitter(this.#maxLineBytes);
    // The first bytes, while they may still be the old exporter's GET_METRICS.
    if (this.#bridge) this.#start = new Uint8Array(0);
    this.#next();
  }

  /** Tells serve()'s `end` how the connection ended; the first outcome is the one kept. */
  #settle(outcome: { reason: CloseReason } | { err: unknown }): void {
    const end = this.#end;
    if (!end) return;
    this.#end = undefined;
    if ("reason" in outcome) end.served(outcome.reason);
    else end.failed(outcome.err);
  }

  /** Takes the next chunk: the bytes read with a PROXY header, or a read; or settles serve(). */
  #next(): void {
    if (this.#reason !== undefined) return this.#settle({ reason: this.#reason });
    const initial = this.#initial;
    if (initial) {
      // Read with the PROXY header: the client's first bytes, before anything on the socket.
      this.#initial = undefined;
      this.heard = true;
      this.#events.emit({ type: "bytes_in", bytes: initial.length });
      this.#take(initial, false);
      return;
    }
    this.#conn.read(this);
  }

  /** The stream's answer to a read: bytes, or the end (docs/protocol.md §5.8). */
  readDone(chunk: Uint8Array | null, more = false): void {
    try {
      if (chunk === null) {
        // The client sent all it will (`printf … | nc -q 2`, a half-close): what it asked is
        // answered before the connection closes.
        this.#answerBeforeClose(this.#handler!).then(
          () => this.#next(),
          (err) => this.#settle({ err }),
        );
        return;
      }
      this.#events.emit({ type: "bytes_in", bytes: chunk.length });
      this.lastReadAt = performance.now();
      this.heard = true;
      this.#take(chunk, more);
    } catch (err) {
      this.#settle({ err });
    }
  }

  /** The stream's answer to a read that failed: a reset, or the connection closed meanwhile. */
  readFailed(): void {
    this.close("read_error");
    this.#next();
  }

  /**
   * Handles a chunk: the lines it ends, one after the other, then the next read. Frames may point
   * into the buffer read: each is handled before a next read reuses it.
   */
  async #take(chunk: Uint8Array, more: boolean): Promise<void> {
    const handler = this.#handler!;
    try {
      if (this.#start !== undefined) {
        const start = this.#start = concatBytes([this.#start, chunk]);
        const bridge = matchBridge(start);
        if (bridge === "yes") return this.#settle({ reason: await this.#answerBridge(handler) });
        if (bridge === "maybe") return this.#next();
        chunk = start;
        this.#start = undefined;
      }
      const splitter = this.#splitter!;
      let verdict: CloseReason | undefined;
      const frames = splitter.push(chunk);
      for (let i = 0; i < frames.length; i++) {
        const frame = frames[i];
        if (this.#reason !== undefined) break;
        this.busy = true;
        verdict = frame.kind === "line"
          ? await handler.handleLine(decodeLine(frame.bytes), frame.bytes)
          : handler.tooLarge(this.#maxLineBytes);
        this.busy = false;
        if (verdict) break;
      }
      if (!verdict && splitter.unterminatedBytes > this.#maxUnterminated) {
        verdict = handler.unterminated(this.#maxUnterminated);
      } else if (!verdict && !more && splitter.bufferedBytes > 0 && handler.recording) {
        // An inspector sees a line waiting for its end, once the socket has nothing more for now
        // (docs/protocol.md §11.8).
        handler.pending(splitter.peek(PEEK_BYTES), splitter.bufferedBytes);
      }
      if (verdict) await this.end(verdict, FINAL_LINE_MS);
    } catch (err) {
      return this.#settle({ err });
    }
    this.#next();
  }

  /** Writes every reply still owed (for at most {@link HALF_CLOSED_MS}), then closes. */
  async #answerBeforeClose(handler: Handler): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const started = performance.now();
    await Promise.race([
      handler.settled(),
      new Promise<void>((resolve) => timer = setTimeout(resolve, HALF_CLOSED_MS)),
    ]);
    clearTimeout(timer);
    const left = Math.max(FINAL_LINE_MS, HALF_CLOSED_MS - (performance.now() - started));
    await this.end("client_closed", left);
  }

  /**
   * Answers the old exporter with the Prometheus text, then closes; or, for an address the bridge
   * does not serve, with one error naming `--metrics-bridge` (docs/protocol.md, section 9).
   */
  async #answerBridge(handler: Handler): Promise<CloseReason> {
    const allowed = this.#bridge!.allows(this.remote);
    if (allowed !== "yes") {
      const text = allowed === "off" ? T.metricsBridgeOff() : T.metricsBridgeUntrusted();
      handler.finalError("forbidden", text);
      await this.end("metrics_refused", FINAL_LINE_MS);
      return this.#reason!;
    }
    try {
      const text = new TextEncoder().encode(await this.#bridge!.text());
      for (let off = 0; off < text.length;) off += await this.#conn.write(text.subarray(off));
      this.close("metrics_bridge");
    } catch {
      this.close("write_error");
    }
    return this.#reason!;
  }

  /** Closes the socket now; the first reason given is the one kept. */
  close(reason: CloseReason): void {
    this.#reason ??= reason;
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer: nothing left to release.
    }
  }
}

/** Whether the first bytes are GET_METRICS ("yes"), may still become it ("maybe"), or not. */
function matchBridge(start: Uint8Array): "yes" | "maybe" | "no" {
  const n = Math.min(start.length, BRIDGE_REQUEST.length);
  for (let i = 0; i < n; i++) if (start[i] !== BRIDGE_REQUEST[i]) return "no";
  return start.length >= BRIDGE_REQUEST.length ? "yes" : "maybe";
}
