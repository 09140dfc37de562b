// Property-based tests (fast-check) of the pure protocol layer: framing, decoding, encoding and
// request validation hold for every input, not just the examples.
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProtocolError } from "../errors.ts";
import { decodeLine, encodeLine, type Frame, LineSplitter } from "./framing.ts";
import { parseRequest, readEnvelope } from "./schema.ts";
import { cut } from "../../tests/helpers/chunks.ts";

const RUNS = { numRuns: 500 };

function frames(splitter: LineSplitter, chunks: Uint8Array[]): string[] {
  const out: string[] = [];
  const show = (f: Frame) => f.kind === "line" ? [...f.bytes].join(",") : "TOO_LARGE";
  for (const c of chunks) out.push(...splitter.push(c).map(show));
  return out;
}

// Bytes rich in line ends, so lines, CRLF pairs and empty lines all occur.
const streamBytes = fc.array(
  fc.oneof(fc.constantFrom(0x0a, 0x0d, 0x7b, 0xc3, 0xa9), fc.integer({ min: 0, max: 255 })),
  { maxLength: 400 },
).map((a) => Uint8Array.from(a));

Deno.test("LineSplitter gives the same frames however the stream is cut", () => {
  fc.assert(
    fc.property(
      streamBytes,
      fc.array(fc.nat(), { maxLength: 30 }),
      fc.integer({ min: 1, max: 64 }),
      (bytes, at, cap) => {
        const whole = frames(new LineSplitter(cap), [bytes]);
        const pieces = frames(new LineSplitter(cap), cut(bytes, at));
        assert.deepEqual(pieces, whole);
      },
    ),
    RUNS,
  );
});

Deno.test("LineSplitter lines hold no line end and never exceed the cap", () => {
  fc.assert(
    fc.property(streamBytes, fc.integer({ min: 1, max: 64 }), (bytes, cap) => {
      const s = new LineSplitter(cap);
      for (const f of s.push(bytes)) {
        if (f.kind !== "line") continue;
        assert.ok(f.bytes.length > 0 && f.bytes.length <= cap);
        assert.ok(!f.bytes.includes(0x0a) && !f.bytes.includes(0x0d));
      }
      assert.ok(s.bufferedBytes <= cap);
    }),
    RUNS,
  );
});

Deno.test("decodeLine() never throws, and round-trips every UTF-8 string", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      assert.equal(typeof decodeLine(bytes), "string");
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 100 }), (text) => {
      const bytes = new TextEncoder().encode(text);
      // A leading BOM is dropped on purpose.
      assert.equal(decodeLine(bytes), text.replace(/^\uFEFF/, ""));
    }),
    RUNS,
  );
});

Deno.test("encodeLine() is one pure-ASCII line that parses back to the value", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const line = encodeLine(value);
      assert.match(line, /^[\x20-\x7e]*\n$/);
      assert.deepEqual(JSON.parse(line), JSON.parse(JSON.stringify(value)));
    }),
    RUNS,
  );
});

Deno.test("request validation answers every line with a request or a ProtocolError", () => {
  const type = fc.constantFrom(
    "register",
    "LOGIN",
    "message",
    "users",
    "userlist",
    "status",
    "hello",
    "join",
    "history",
    "ping",
    "kick",
    "mute",
    "announce",
    "nope",
    "__proto__",
    "constructor",
  );
  const request = fc.record({
    type: fc.oneof(type, fc.anything()),
    id: fc.oneof(fc.string(), fc.integer(), fc.anything()),
    username: fc.anything(),
    password: fc.anything(),
    content: fc.anything(),
    subtype: fc.anything(),
    to: fc.anything(),
    state: fc.anything(),
    channel: fc.anything(),
    limit: fc.anything(),
    before: fc.anything(),
    duration: fc.anything(),
    user: fc.anything(),
  }, { requiredKeys: [] });
  const line = fc.oneof(
    request.map((r) => JSON.stringify(r) ?? "null"),
    fc.string(),
    fc.jsonValue().map((v) => JSON.stringify(v)),
  );
  fc.assert(
    fc.property(line, (text) => {
      try {
        const req = parseRequest(readEnvelope(text));
        assert.equal(typeof req.type, "string");
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${err}`);
        assert.ok(err.message.length > 0 && !err.message.includes("\n"));
      }
    }),
    { numRuns: 2000 },
  );
});
