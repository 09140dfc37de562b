// A node:net socket read and written as a ByteStream: what the plain TCP chat listener serves.
// A waiting node:net socket costs the runtime about 2 KB less than a Deno.Conn with a read
// pending on it (docs/benchmarks.md, "Memory").
import type { Socket } from "node:net";
import { concatBytes } from "../bytes.ts";
import type { ByteStream } from "./line_conn.ts";

/**
 * A socket as a pull-based {@link ByteStream}. The socket flows while a read waits, and is paused
 * while bytes it delivered wait for the next read: a connection whose lines are being handled is
 * not read ahead of them (the socket's and the kernel's buffers hold the rest, then TCP's
 * window). An end from the peer (a half-close) reads as `null`, and so does a reset (this
 * runtime's node:net reports it as an end; the next write fails). The socket must be made with
 * `allowHalfOpen`, so what is owed to a half-closed client is still written (docs/protocol.md
 * §5.8).
 */
export class SocketStream implements ByteStream {
  readonly #socket: Socket;
  // Bytes delivered that did not fit the read waiting for them, or came while none was waiting.
  #rest: Uint8Array | undefined;
  #ended = false;
  #error: Error | undefined;
  #closed = false;
  // The read waiting for bytes.
  #buffer: Uint8Array | undefined;
  #done: ((n: number | null) => void) | undefined;
  #failed: ((err: unknown) => void) | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("close", this.#onEnd);
    // Always listened to: an unheard socket error would end the process.
    socket.on("error", this.#onError);
  }

  read(buffer: Uint8Array, done: (n: number | null) => void, failed: (err: unknown) => void): void {
    if (this.#rest) {
      const n = this.#take(buffer, this.#rest);
      return queueMicrotask(() => done(n));
    }
    const error = this.#error ?? (this.#closed ? new Error("Connection closed") : undefined);
    if (error) return queueMicrotask(() => failed(error));
    if (this.#ended) return queueMicrotask(() => done(null));
    if (this.#socket.isPaused()) this.#socket.resume();
    this.#buffer = buffer;
    this.#done = done;
    this.#failed = failed;
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#closed || this.#socket.destroyed) return reject(new Error("Connection closed"));
      this.#socket.write(bytes, (err) => err ? reject(err) : resolve(bytes.length));
    });
  }

  /** Ends the sending side (a FIN): what TLS over this stream does on its close_notify. */
  closeWrite(): void {
    this.#socket.end();
  }

  /** Closes the socket now; a read waiting fails, as a `Deno.Conn`'s does. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#settle(undefined, new Error("Connection closed"));
  }

  /** Copies what fits of `chunk` into `buffer`; keeps the rest for the next read. */
  #take(buffer: Uint8Array, chunk: Uint8Array): number {
    const n = Math.min(chunk.length, buffer.length);
    buffer.set(n === chunk.length ? chunk : chunk.subarray(0, n));
    this.#rest = n < chunk.length ? chunk.subarray(n) : undefined;
    return n;
  }

  readonly #onData = (chunk: Uint8Array): void => {
    const buffer = this.#buffer;
    if (buffer && !this.#rest) {
      this.#settle(this.#take(buffer, chunk));
    } else {
      const rest = this.#rest;
      this.#rest = rest ? concatBytes([rest, chunk]) : chunk;
    }
    if (this.#rest) this.#socket.pause();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    if (!this.#rest) this.#settle(null);
  };

  readonly #onError = (err: Error): void => {
    this.#error ??= err;
    this.#settle(undefined, err);
  };

  /** Ends the read waiting, if any: with a count (null at the end), or with `err`. */
  #settle(n: number | null | undefined, err?: Error): void {
    const done = this.#done, failed = this.#failed;
    if (!done || !failed) return;
    this.#buffer = this.#done = this.#failed = undefined;
    if (err) failed(err);
    else done(n ?? null);
  }
}
