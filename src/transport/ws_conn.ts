// One WebSocket as a connection: each text frame is one request, each line of the session's
// output one text frame; the same limits as a line over TCP (docs/protocol.md §11).
//
// Frames are read by the `ws` library (masking, fragments, control frames, UTF-8 checks); the
// session's frames are written straight to the socket through the same coalescing outbox as
// TCP: every frame queued during a turn of the event loop leaves in one write, and a line
// shared by a fan-out is framed once (README, Dependencies: one write per frame made WebSocket
// fan-out 20 times costlier than TCP).
import type { Buffer } from "node:buffer";
import type { Duplex } from "node:stream";
// @ts-types="@types/ws"
import type { WebSocket } from "ws";
import type { CloseReason } from "../errors.ts";
import type { Events } from "../events.ts";
import type { Handler } from "../session/dispatcher.ts";
import type { Conn, ServeEnd } from "./conn_table.ts";
import { OutboxConn, SocketWriter } from "./outbox.ts";
import { textFrame } from "../protocol/framing.ts";

/** Options of {@link WsConn}. */
export interface WsConnOptions {
  /** Longest frame, in bytes, as a line over TCP (docs/protocol.md §5.3: 64 KiB). */
  maxLineBytes: number;
  /** Bytes queued for the socket before the reader is cut off (docs/protocol.md §5.11: 1 MiB). */
  maxQueueBytes: number;
  /** Bytes of frames received and not handled yet before the connection is closed as a flood. */
  maxUnterminatedBytes: number;
  events: Events;
}

// Close codes of RFC 6455 §7.4.1: the server going away (shutdown), a policy violation (floods,
// kicks, slow readers), too big, or a failure.
const CLOSE_CODES: Partial<Record<CloseReason, number>> = {
  shutting_down: 1001,
  flood: 1008,
  bad_input: 1008,
  too_large: 1009,
  kicked: 1008,
  slow_consumer: 1008,
  timeout: 1000,
  server_busy: 1013,
  read_error: 1011,
  write_error: 1011,
};

// Time given to the last frame (an error) of a connection its handler ends.
const FINAL_FRAME_MS = 1000;

const decoder = new TextDecoder();

/** A WebSocket speaking JSON frames: each frame in, each line out, through a bounded outbox. */
export class WsConn extends OutboxConn implements Conn {
  readonly remote: string;
  readonly #ws: WebSocket;
  readonly #options: WsConnOptions;
  lastReadAt = performance.now();
  busy = false;
  /** Whether a frame came yet. */
  heard = false;
  /** Whether a pong came since the last ping (the listener's heartbeat). */
  alive = true;
  #reason: CloseReason | undefined;
  #closed = false;
  // Frames received and not handled yet: handled one at a time, in order.
  #pending: { data: Buffer | Buffer[] | ArrayBuffer; binary: boolean; bytes: number }[] = [];
  #pendingBytes = 0;
  #wake: (() => void) | undefined;

  /** `ws` is the open WebSocket over `socket`, both from the upgrade. */
  constructor(ws: WebSocket, socket: Duplex, remote: string, options: WsConnOptions) {
    // The outbox writes frames straight to the socket under the WebSocket.
    super(new SocketWriter(socket), options.events, {
      maxBytes: options.maxQueueBytes,
      frame: textFrame,
    });
    this.#ws = ws;
    this.remote = remote;
    this.#options = options;
    ws.on("message", (data, binary) => this.#received(data, binary));
    ws.on("pong", () => this.alive = true);
    ws.on("close", () => this.close("client_closed"));
    ws.on("error", () => this.close("read_error"));
  }

  get reason(): CloseReason | undefined {
    return this.#reason;
  }

  /** Pings the browser (it answers by itself); true when it answered the previous ping. */
  heartbeat(): boolean {
    if (!this.alive) return false;
    this.alive = false;
    if (!this.#closed) this.#ws.ping();
    return true;
  }

  /** Handles frames in order until the peer closes or {@link close} is called; then tells `end`. */
  serve(handler: Handler, end: ServeEnd): void {
    this.#frames(handler).then((reason) => end.served(reason), (err) => end.failed(err));
  }

  async #frames(handler: Handler): Promise<CloseReason> {
    const { maxLineBytes, events } = this.#options;
    while (this.#reason === undefined) {
      const frame = this.#pending.shift();
      if (frame === undefined) {
        await new Promise<void>((resolve) => this.#wake = resolve);
        continue;
      }
      const { data, binary, bytes } = frame;
      this.#pendingBytes -= bytes;
      events.emit({ type: "bytes_in", bytes });
      let verdict: CloseReason | undefined;
      this.busy = true;
      try {
        if (binary) verdict = handler.binary();
        else if (bytes > maxLineBytes) verdict = handler.tooLarge(maxLineBytes);
        else verdict = await handler.handleLine(decoder.decode(toBytes(data)));
      } finally {
        this.busy = false;
      }
      if (verdict) await this.end(verdict, FINAL_FRAME_MS);
    }
    return this.#reason!;
  }

  /** Sends a close frame with the reason's code, then lets the socket go (at once if it failed). */
  close(reason: CloseReason): void {
    this.#reason ??= reason;
    this.#wake?.();
    if (this.#closed) return;
    this.#closed = true;
    // Nothing may follow the close frame.
    this.outbox.close();
    const failed = reason === "slow_consumer" || reason === "write_error" ||
      reason === "read_error" || reason === "client_closed";
    try {
      if (failed) this.#ws.terminate();
      else this.#ws.close(CLOSE_CODES[reason] ?? 1000, reason);
    } catch {
      this.#ws.terminate();
    }
  }

  #received(data: Buffer | Buffer[] | ArrayBuffer, binary: boolean): void {
    if (this.#reason !== undefined) return;
    this.lastReadAt = performance.now();
    this.heard = true;
    const bytes = sizeOf(data);
    this.#pending.push({ data, binary, bytes });
    this.#pendingBytes += bytes;
    // A client sending faster than its requests are handled, past a line without an end's
    // worth: closed, as a flood over TCP would be (docs/protocol.md §5.3).
    if (this.#pendingBytes > this.#options.maxUnterminatedBytes) {
      this.#options.events.emit({ type: "limit", limit: "line_size" });
      this.close("flood");
    }
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function sizeOf(data: Buffer | Buffer[] | ArrayBuffer): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

function toBytes(data: Buffer | Buffer[] | ArrayBuffer): Uint8Array {
  if (Array.isArray(data)) {
    const out = new Uint8Array(sizeOf(data));
    let off = 0;
    for (const b of data) {
      out.set(b, off);
      off += b.length;
    }
    return out;
  }
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
