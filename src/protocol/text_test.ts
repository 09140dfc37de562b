import assert from "node:assert/strict";
import { decodeLine } from "./text.ts";

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
