// The framing of docs/protocol.md §1 and §11, both ways: a byte stream split into lines before
// any decoding, with a line size cap; a line's bytes decoded; a reply encoded once as one ASCII
// JSON line; and a line as a WebSocket text frame, for connections written to directly.
import { concatBytes } from "../bytes.ts";

/** What the splitter found in the stream. */
export type Frame =
  | { kind: "line"; bytes: Uint8Array }
  /** A line longer than the cap: its bytes are discarded up to the next line end. */
  | { kind: "too_large" };

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines as bytes (docs/protocol.md §1), so that a multi-byte character
 * cut between two reads is reassembled before it is decoded. LF, CRLF and a lone CR all end a line
 * (JSON text never holds a raw CR or LF); empty lines are skipped. A line longer than
 * `maxLineBytes` is reported once as `too_large` and discarded up to its end, so memory stays
 * bounded whatever the peer sends.
 */
export class LineSplitter {
  readonly #maxLineBytes: number;
  #parts: Uint8Array[] = [];
  #size = 0;
  #discarding = false;
  #discarded = 0;
  #afterCR = false;

  constructor(maxLineBytes: number) {
    if (!(maxLineBytes > 0)) throw new RangeError(`Invalid line cap ${maxLineBytes}`);
    this.#maxLineBytes = maxLineBytes;
  }

  /** Bytes of the unfinished line currently buffered. */
  get bufferedBytes(): number {
    return this.#size;
  }

  /** True while the rest of an oversized line is being skipped. */
  get discarding(): boolean {
    return this.#discarding;
  }

  /** Bytes of the current line so far, kept or discarded: how long the peer has sent no end. */
  get unterminatedBytes(): number {
    return this.#discarding ? this.#discarded : this.#size;
  }

  /** The first `max` bytes of the unfinished line buffered (none while one is skipped). */
  peek(max: number): Uint8Array {
    const bytes = this.#join(new Uint8Array(0));
    return bytes.length <= max ? bytes : bytes.subarray(0, max);
  }

  /**
   * Feeds one chunk and returns the frames it completes. The chunk may be reused by the caller
   * afterwards: every buffered or returned byte is copied or returned before the next call.
   */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let start = 0;
    if (this.#afterCR && chunk.length > 0) {
      this.#afterCR = false;
      if (chunk[0] === LF) start = 1; // second half of a CRLF cut between two reads
    }
    for (let i = start; i < chunk.length; i++) {
      const b = chunk[i];
      if (b !== LF && b !== CR) continue;
      this.#endLine(chunk.subarray(start, i), frames);
      if (b === CR) {
        if (i + 1 < chunk.length) {
          if (chunk[i + 1] === LF) i++;
        } else {
          this.#afterCR = true;
        }
      }
      start = i + 1;
    }
    this.#keep(chunk.subarray(start), frames);
    return frames;
  }

  #endLine(tail: Uint8Array, frames: Frame[]): void {
    if (this.#discarding) {
      this.#discarding = false;
      this.#discarded = 0;
      return;
    }
    const size = this.#size + tail.length;
    if (size > this.#maxLineBytes) {
      frames.push({ kind: "too_large" });
    } else if (size > 0) {
      frames.push({ kind: "line", bytes: this.#join(tail) });
    }
    this.#parts = [];
    this.#size = 0;
  }

  #keep(rest: Uint8Array, frames: Frame[]): void {
    if (rest.length === 0) return;
    if (this.#discarding) {
      this.#discarded += rest.length;
      return;
    }
    if (this.#size + rest.length > this.#maxLineBytes) {
      frames.push({ kind: "too_large" });
      this.#discarding = true;
      this.#discarded = this.#size + rest.length;
      this.#parts = [];
      this.#size = 0;
      return;
    }
    this.#parts.push(rest.slice());
    this.#size += rest.length;
  }

  #join(tail: Uint8Array): Uint8Array {
    return this.#parts.length === 0 ? tail : concatBytes([...this.#parts, tail]);
  }
}

// Line bytes → string: UTF-8 when valid, else Windows-1252 (Java clients on a French Windows).

const utf8 = new TextDecoder("utf-8", { fatal: true });
const cp1252 = new TextDecoder("windows-1252");

/**
 * Decodes one line (docs/protocol.md §1). Valid UTF-8 is decoded as such (a leading BOM is
 * dropped); anything else is read as Windows-1252, which maps every byte, so decoding never fails.
 */
export function decodeLine(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return cp1252.decode(bytes);
  }
}

/** Whether {@link decodeLine} reads `bytes` as UTF-8 (else as Windows-1252). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

// Object → one pure-ASCII JSON line: every non-ASCII UTF-16 unit escaped as \uXXXX.

const NON_ASCII = /[\u0080-\uffff]/g;
const HAS_NON_ASCII = /[\u0080-\uffff]/; // not global: test() keeps no state
const encoder = new TextEncoder();

function escapeUnit(ch: string): string {
  return "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
}

/**
 * Serialises a reply or event as one JSON line ending in LF, pure ASCII: accented letters become
 * `\u00e9`, astral characters a surrogate pair, so clients reading with any charset see them right.
 */
export function encodeLine(value: unknown): string {
  const json = JSON.stringify(value);
  // JSON.stringify already escapes control characters and lone surrogates; only the
  // remaining non-ASCII units need escaping, which cannot occur inside an escape sequence.
  return (HAS_NON_ASCII.test(json) ? json.replace(NON_ASCII, escapeUnit) : json) + "\n";
}

/** {@link encodeLine} as bytes, ready to be queued on any number of connections. */
export function encodeBytes(value: unknown): Uint8Array {
  return encoder.encode(encodeLine(value));
}

// Server-to-client WebSocket frames (RFC 6455 §5.2): unmasked, final, text. A line is encoded
// once and its bytes shared by every recipient of a fan-out, so its frame is built once too.

const frames = new WeakMap<Uint8Array, Uint8Array>();

/** The text frame carrying `line` (one JSON object and its LF) without the LF; cached by line. */
export function textFrame(line: Uint8Array): Uint8Array {
  let frame = frames.get(line);
  if (frame === undefined) {
    frame = encodeTextFrame(line.subarray(0, line[line.length - 1] === 0x0a ? -1 : undefined));
    frames.set(line, frame);
  }
  return frame;
}

/** A final, unmasked text frame whose payload is `payload` (UTF-8). */
export function encodeTextFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const frame = new Uint8Array(head + n);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (n < 126) frame[1] = n;
  else if (n < 0x10000) {
    frame[1] = 126;
    frame[2] = n >>> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  frame.set(payload, head);
  return frame;
}
