// Byte stream → lines: splits on LF, CRLF or a lone CR before any decoding, with a line size cap.
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
