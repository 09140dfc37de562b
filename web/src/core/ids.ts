// Request ids: a counter plus a random prefix from crypto.getRandomValues (randomUUID is missing
// on plain-HTTP LAN pages, which are not secure contexts).

/** Returns a function giving a new id at each call: "k3f9a1c2-1", "k3f9a1c2-2"... */
export function idSource(
  fill: (bytes: Uint8Array<ArrayBuffer>) => void = (b) => crypto.getRandomValues(b),
): () => string {
  const bytes = new Uint8Array(4);
  fill(bytes);
  const prefix = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  let counter = 0;
  return () => `${prefix}-${++counter}`;
}
