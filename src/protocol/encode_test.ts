import assert from "node:assert/strict";
import { encodeBytes, encodeLine } from "./encode.ts";

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
