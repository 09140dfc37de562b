// Lines over one Deno.Conn: reads bytes into the splitter, decodes lines, writes through an outbox.
import type { CloseReason } from "../errors.ts";
import { Outbox } from "../hub/outbox.ts";
import { LineSplitter } from "../protocol/framing.ts";
import { decodeLine } from "../protocol/text.ts";

/** What handles a connection's traffic (a Session). */
export interface LineHandler {
  /** One decoded line; the next one is read only once this resolves. */
  handleLine(text: string): Promise<void> | void;
  /** A line over the size cap was discarded. */
  tooLarge(maxBytes: number): void;
}

/** Options of {@link LineConn}. */
export interface LineConnOptions {
  maxLineBytes: number;
  maxQueueBytes: number;
}

// 64 KiB reads: one read takes a whole maximum-size line from the kernel.
const READ_BUFFER_BYTES = 64 * 1024;

/** A connection speaking JSON lines: framing and decoding in, a bounded outbox out. */
export class LineConn {
  readonly outbox: Outbox;
  readonly remote: string;
  readonly #conn: Deno.Conn;
  readonly #maxLineBytes: number;
  #reason: CloseReason | undefined;
  #closed = false;

  constructor(conn: Deno.Conn, options: LineConnOptions) {
    this.#conn = conn;
    this.#maxLineBytes = options.maxLineBytes;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remote = addr.hostname;
    this.outbox = new Outbox(conn, {
      maxBytes: options.maxQueueBytes,
      onFail: (reason) => this.close(reason),
    });
  }

  /** Why the connection ended, once it has. */
  get reason(): CloseReason | undefined {
    return this.#reason;
  }

  /** Reads until the peer closes or {@link close} is called; resolves with the close reason. */
  async serve(handler: LineHandler): Promise<CloseReason> {
    const splitter = new LineSplitter(this.#maxLineBytes);
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    while (this.#reason === undefined) {
      let n: number | null;
      try {
        n = await this.#conn.read(buf);
      } catch {
        this.close("read_error");
        break;
      }
      if (n === null) {
        this.close("client_closed");
        break;
      }
      // Frames may point into `buf`: each is handled before the next read reuses it.
      for (const frame of splitter.push(buf.subarray(0, n))) {
        if (this.#reason !== undefined) break;
        if (frame.kind === "line") await handler.handleLine(decodeLine(frame.bytes));
        else handler.tooLarge(this.#maxLineBytes);
      }
    }
    return this.#reason!;
  }

  /** Writes what is queued (for at most `timeoutMs`), then closes. */
  async end(reason: CloseReason, timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.outbox.drained(),
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
    this.close(reason);
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
