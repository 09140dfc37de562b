import assert from "node:assert/strict";
import { concatBytes } from "./bytes.ts";

Deno.test("concatBytes() joins chunks in order, and returns a lone chunk as it is", () => {
  const one = new Uint8Array([1, 2]);
  assert.deepEqual(
    concatBytes([one, new Uint8Array(), new Uint8Array([3])]),
    new Uint8Array([1, 2, 3]),
  );
  assert.equal(concatBytes([one]), one);
  assert.deepEqual(concatBytes([]), new Uint8Array());
});
