import assert from "node:assert/strict";
import { ProtocolError } from "../errors.ts";
import { DEFAULT_CHANNEL, parseChannel } from "./channel.ts";

Deno.test("parseChannel() maps absent and legacy default spellings to #général", () => {
  for (
    const raw of [undefined, null, "", "#", "général", "Général", "#general", "global", " #Global "]
  ) {
    assert.equal(parseChannel(raw).name, DEFAULT_CHANNEL, String(raw));
  }
});

Deno.test("parseChannel() reads names with or without #, case-insensitively", () => {
  assert.deepEqual(parseChannel("sisr"), { name: "#sisr", key: "#sisr" });
  assert.deepEqual(parseChannel("#SISR"), { name: "#SISR", key: "#sisr" });
});

Deno.test("parseChannel() refuses non-strings, spaces and overlong names", () => {
  for (const raw of [5, "two words", "a,b", "x".repeat(33), "bad\u200b"]) {
    assert.throws(() => parseChannel(raw), ProtocolError, String(raw));
  }
});
