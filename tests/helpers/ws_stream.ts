// A raw WebSocket client over a TCP connection, seen as a byte stream of lines: each line written
// leaves as one masked text frame, each text frame read comes back as a line. Unlike Deno's
// WebSocket, which reads everything as it comes, it reads only when asked, so a test can be a
// client that never reads (docs/protocol.md §5.11) over WebSocket as over TCP.
import type { ClientStream } from "./test_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Opcodes of RFC 6455 §5.2.
const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;

/** A WebSocket at `ws://127.0.0.1:port/ws`, read and written as lines. */
export class WsStream implements ClientStream {
  readonly #conn: Deno.TcpConn;
  // Bytes read from the socket and not decoded into frames yet.
  #raw: Uint8Array;
  // Payloads of text frames (each followed by an LF) not handed to the reader yet.
  #lines: Uint8Array = new Uint8Array(0);
  // Bytes written after the last LF: the start of the next frame.
  #partial: Uint8Array = new Uint8Array(0);
  #closing = false;
  /** The code of the server's close frame, once it came (RFC 6455 §7.4). */
  closeCode: number | undefined;

  private constructor(conn: Deno.TcpConn, rest: Uint8Array) {
    this.#conn = conn;
    this.#raw = rest;
  }

  /**
   * Connects and upgrades to a WebSocket at /ws.
   *
   * @throws {Error} with the status line when the server does not answer 101
   */
  static async connect(port: number): Promise<WsStream> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
      await writeAll(
        conn,
        encoder.encode(
          [
            "GET /ws HTTP/1.1",
            `Host: 127.0.0.1:${port}`,
            "Upgrade: websocket",
            "Connection: Upgrade",
            `Sec-WebSocket-Key: ${key}`,
            "Sec-WebSocket-Version: 13",
            "",
            "",
          ].join("\r\n"),
        ),
      );
      let head: Uint8Array = new Uint8Array(0);
      for (;;) {
        const end = indexOf(head, [0x0d, 0x0a, 0x0d, 0x0a]);
        if (end >= 0) {
          const status = decoder.decode(head.subarray(0, end)).split("\r\n")[0];
          if (!/^HTTP\/1\.1 101 /.test(status)) throw new Error(`Upgrade refused: ${status}`);
          return new WsStream(conn, head.slice(end + 4));
        }
        const chunk = new Uint8Array(4096);
        const n = await conn.read(chunk);
        if (n === null) throw new Error("Connection closed during the upgrade");
        head = concat(head, chunk.subarray(0, n));
      }
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /** Sends each LF-ended line of `bytes` as one text frame (without its LF). */
  async write(bytes: Uint8Array): Promise<number> {
    let data = concat(this.#partial, bytes);
    for (let lf = data.indexOf(0x0a); lf >= 0; lf = data.indexOf(0x0a)) {
      await writeAll(this.#conn, maskedFrame(TEXT, data.subarray(0, lf)));
      data = data.slice(lf + 1);
    }
    this.#partial = data;
    return bytes.length;
  }

  /** The next text frames' payloads, each with an LF; null once the server closed. */
  async read(into: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#lines.length > 0) {
        const n = Math.min(into.length, this.#lines.length);
        into.set(this.#lines.subarray(0, n));
        this.#lines = this.#lines.slice(n);
        return n;
      }
      if (this.closeCode !== undefined) return null;
      if (await this.#decodeFrame()) continue;
      const chunk = new Uint8Array(64 * 1024);
      const n = await this.#conn.read(chunk);
      if (n === null) return null;
      this.#raw = concat(this.#raw, chunk.subarray(0, n));
    }
  }

  /** A WebSocket has no half-close: a close frame is the end of what the client sends. */
  async closeWrite(): Promise<void> {
    await this.#sendClose(1000);
  }

  close(): void {
    this.#conn.close();
  }

  /** Decodes one whole frame from what was read, if there is one. */
  async #decodeFrame(): Promise<boolean> {
    const raw = this.#raw;
    if (raw.length < 2) return false;
    const opcode = raw[0] & 0x0f;
    if (raw[1] & 0x80) throw new Error("The server sent a masked frame (RFC 6455 §5.1)");
    let length = raw[1] & 0x7f;
    let head = 2;
    if (length === 126) {
      if (raw.length < 4) return false;
      length = (raw[2] << 8) | raw[3];
      head = 4;
    } else if (length === 127) {
      if (raw.length < 10) return false;
      length = Number(new DataView(raw.buffer, raw.byteOffset).getBigUint64(2));
      head = 10;
    }
    if (raw.length < head + length) return false;
    const payload = raw.slice(head, head + length);
    this.#raw = raw.slice(head + length);
    if (opcode === TEXT || opcode === BINARY) {
      this.#lines = concat(this.#lines, payload, Uint8Array.of(0x0a));
    } else if (opcode === PING) {
      await writeAll(this.#conn, maskedFrame(0xa, payload));
    } else if (opcode === CLOSE) {
      this.closeCode = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
      // The client answers a close with a close (RFC 6455 §5.5.1), so the server ends the socket.
      await this.#sendClose(this.closeCode === 1005 ? 1000 : this.closeCode).catch(() => {});
    }
    return true;
  }

  async #sendClose(code: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await writeAll(this.#conn, maskedFrame(CLOSE, Uint8Array.of(code >> 8, code & 0xff)));
  }
}

/** A final frame from a client: masked with a random key (RFC 6455 §5.3). */
function maskedFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const frame = new Uint8Array(head + 4 + n);
  frame[0] = 0x80 | opcode;
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 0x10000) {
    frame[1] = 0x80 | 126;
    frame[2] = n >>> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  frame.set(mask, head);
  for (let i = 0; i < n; i++) frame[head + 4 + i] = payload[i] ^ mask[i & 3];
  return frame;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
