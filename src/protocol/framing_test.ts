import assert from "node:assert/strict";
import { type Frame, LineSplitter } from "./framing.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const lines = (frames: Frame[]) =>
  frames.map((f) => f.kind === "line" ? new TextDecoder().decode(f.bytes) : "<too_large>");

function feed(splitter: LineSplitter, chunks: Uint8Array[]): string[] {
  return chunks.flatMap((c) => lines(splitter.push(c)));
}

Deno.test("LineSplitter splits on LF, CRLF and a lone CR, and skips empty lines", () => {
  const s = new LineSplitter(100);
  assert.deepEqual(feed(s, [enc("a\nb\r\nc\rd\n\n\r\n")]), ["a", "b", "c", "d"]);
});

Deno.test("LineSplitter reassembles a line fed one byte at a time", () => {
  const s = new LineSplitter(100);
  const bytes = enc('{"content":"café 😀"}\r\n');
  const out = feed(s, [...bytes].map((b) => new Uint8Array([b])));
  assert.deepEqual(out, ['{"content":"café 😀"}']);
});

Deno.test("LineSplitter treats CRLF cut between two chunks as one line end", () => {
  const s = new LineSplitter(100);
  assert.deepEqual(feed(s, [enc("a\r"), enc("\nb\n")]), ["a", "b"]);
});

Deno.test("LineSplitter copies what it keeps, so callers may reuse their buffer", () => {
  const s = new LineSplitter(100);
  const buf = enc("abc");
  s.push(buf);
  buf.fill(0x78);
  assert.deepEqual(lines(s.push(enc("d\n"))), ["abcd"]);
});

Deno.test("LineSplitter reports an oversized line once and resumes after its end", () => {
  const s = new LineSplitter(4);
  assert.deepEqual(feed(s, [enc("ok\n12345"), enc("678"), enc("9\nnext\n")]), [
    "ok",
    "<too_large>",
    "next",
  ]);
  assert.equal(s.bufferedBytes, 0);
});

Deno.test("LineSplitter accepts a line of exactly the cap and refuses one byte more", () => {
  const s = new LineSplitter(4);
  assert.deepEqual(feed(s, [enc("1234\n12345\n")]), ["1234", "<too_large>"]);
});

Deno.test("LineSplitter keeps memory bounded on a stream without line ends", () => {
  const s = new LineSplitter(1024);
  const chunk = new Uint8Array(4096).fill(0x61);
  for (let i = 0; i < 100; i++) s.push(chunk);
  assert.equal(s.bufferedBytes, 0);
  assert.equal(s.discarding, true);
});
