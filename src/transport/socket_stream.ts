// A node:net socket read and written as a ByteStream: what the plain TCP chat listener serves.
// A waiting node:net socket costs the runtime about 2 KB less than a Deno.Conn with a read
// pending on it, and holds no read buffer (docs/benchmarks.md, "Memory").
import type { Socket } from "node:net";
import { concatBytes } from "../bytes.ts";
import type { ByteStream, ReadSink } from "./line_conn.ts";

// The stream a socket's listeners act on: the listeners are shared by every socket (node calls
// them with the socket as `this`), so a connection holds no closures for them.
const STREAM = Symbol("SocketStream");
type Owned = Socket & { [STREAM]: SocketStream };

/**
 * A socket as a pull-based {@link ByteStream}: each read answers with the next chunk the socket
 * delivered, as it is. The socket flows while a read waits, and is paused while a chunk waits for
 * the next read: a connection whose lines are being handled is not read ahead of them (the
 * socket's and the kernel's buffers hold the rest, then TCP's window). An end from the peer (a
 * half-close) reads as `null`, and so does a reset (this runtime's node:net reports it as an
 * end; the next write fails). The socket must be made with `allowHalfOpen`, so what is owed to a
 * half-closed client is still written (docs/protocol.md §5.8).
 */
export class SocketStream implements ByteStream {
  readonly #socket: Socket;
  // Bytes delivered while no read was waiting.
  #rest: Uint8Array | undefined;
  #ended = false;
  #error: Error | undefined;
  #closed = false;
  // The read waiting for bytes.
  #sink: ReadSink | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    (socket as Owned)[STREAM] = this;
    socket.on("data", SocketStream.#onData);
    socket.on("end", SocketStream.#onEnd);
    socket.on("close", SocketStream.#onEnd);
    // Always listened to: an unheard socket error would end the process.
    socket.on("error", SocketStream.#onError);
  }

  read(sink: ReadSink): void {
    const rest = this.#rest;
    if (rest) {
      this.#rest = undefined;
      return queueMicrotask(() => sink.readDone(rest));
    }
    const error = this.#error ?? (this.#closed ? new Error("Connection closed") : undefined);
    if (error) return queueMicrotask(() => sink.readFailed(error));
    if (this.#ended) return queueMicrotask(() => sink.readDone(null));
    if (this.#socket.isPaused()) this.#socket.resume();
    this.#sink = sink;
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
    const sink = this.#sink;
    this.#sink = undefined;
    sink?.readFailed(new Error("Connection closed"));
  }

  static readonly #onData = function (this: Owned, chunk: Uint8Array): void {
    const stream = this[STREAM];
    const sink = stream.#sink;
    if (sink && !stream.#rest) {
      stream.#sink = undefined;
      sink.readDone(chunk);
      return;
    }
    const rest = stream.#rest;
    stream.#rest = rest ? concatBytes([rest, chunk]) : chunk;
    this.pause();
  };

  static readonly #onEnd = function (this: Owned): void {
    const stream = this[STREAM];
    stream.#ended = true;
    const sink = stream.#sink;
    if (!sink || stream.#rest) return;
    stream.#sink = undefined;
    sink.readDone(null);
  };

  static readonly #onError = function (this: Owned, err: Error): void {
    const stream = this[STREAM];
    stream.#error ??= err;
    const sink = stream.#sink;
    stream.#sink = undefined;
    sink?.readFailed(err);
  };
}
