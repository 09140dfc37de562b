import assert from "node:assert/strict";
import {
  decodeLine,
  encodeBytes,
  encodeLine,
  encodeTextFrame,
  type Frame,
  LineSplitter,
  textFrame,
} from "./framing.ts";

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

Deno.test("decodeLine() reads valid UTF-8 as UTF-8", () => {
  assert.equal(decodeLine(new TextEncoder().encode("café 😀")), "café 😀");
});

Deno.test("decodeLine() reads invalid UTF-8 as Windows-1252", () => {
  // "café €" as a French Windows Java client writes it: é = 0xE9, € = 0x80.
  assert.equal(decodeLine(new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x20, 0x80])), "café €");
});

Deno.test("decodeLine() drops a UTF-8 byte order mark", () => {
  assert.equal(decodeLine(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), "{}");
});

Deno.test("encodeLine() escapes every non-ASCII character as \\uXXXX", () => {
  assert.equal(encodeLine({ a: "é€" }), '{"a":"\\u00e9\\u20ac"}\n');
});

Deno.test("encodeLine() writes astral characters as a surrogate pair", () => {
  assert.equal(encodeLine({ a: "😀" }), '{"a":"\\ud83d\\ude00"}\n');
});

Deno.test("encodeLine() output parses back to the same value", () => {
  const value = { s: 'ligne\u2028 é \u0000 "q" 😀 \ud800', n: [1, null, true] };
  const line = encodeLine(value);
  assert.match(line, /^[\x20-\x7e]*\n$/);
  assert.deepEqual(JSON.parse(line), value);
});

Deno.test("encodeLine() is stable across calls (no regex state carried over)", () => {
  for (let i = 0; i < 3; i++) assert.equal(encodeLine({ a: "é" }), '{"a":"\\u00e9"}\n');
});

Deno.test("encodeBytes() is the ASCII bytes of encodeLine()", () => {
  assert.deepEqual([...encodeBytes({ a: "é" })], [
    ...new TextEncoder().encode(encodeLine({ a: "é" })),
  ]);
});

const bytes = (n: number) => new Uint8Array(n).fill(0x61);

Deno.test("encodeTextFrame() uses the 7-bit, 16-bit and 64-bit lengths of RFC 6455", () => {
  assert.deepEqual([...encodeTextFrame(new TextEncoder().encode("hé"))], [
    0x81,
    3,
    0x68,
    0xc3,
    0xa9,
  ]);
  assert.deepEqual([...encodeTextFrame(bytes(125)).subarray(0, 2)], [0x81, 125]);
  assert.deepEqual([...encodeTextFrame(bytes(126)).subarray(0, 4)], [0x81, 126, 0, 126]);
  assert.deepEqual([...encodeTextFrame(bytes(65535)).subarray(0, 4)], [0x81, 126, 0xff, 0xff]);
  const big = encodeTextFrame(bytes(65536));
  assert.deepEqual([...big.subarray(0, 10)], [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
  assert.equal(big.length, 65536 + 10);
});

Deno.test("textFrame() drops the line end and builds a shared line's frame once", () => {
  const line = new TextEncoder().encode('{"type":"ping"}\n');
  const frame = textFrame(line);
  assert.equal(new TextDecoder().decode(frame.subarray(2)), '{"type":"ping"}');
  assert.equal(frame[1], line.length - 1);
  assert.equal(textFrame(line), frame, "the same bytes for every recipient");
});
