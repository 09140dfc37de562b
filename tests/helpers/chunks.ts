// Bytes cut into the chunks a socket could deliver them in, for property tests of parsers that
// must give the same result however their input arrives.

/**
 * Cuts `bytes` at the given positions (each taken modulo the length + 1, repeats dropped): the
 * chunks, in order, that join back into `bytes`.
 */
export function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.slice(prev, p));
    prev = p;
  }
  return chunks;
}
