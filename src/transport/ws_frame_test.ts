import assert from "node:assert/strict";
import { encodeTextFrame, textFrame } from "./ws_frame.ts";

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
