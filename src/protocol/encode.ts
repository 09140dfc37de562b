// Object → one pure-ASCII JSON line: every non-ASCII UTF-16 unit escaped as \uXXXX
// (docs/protocol.md §1).

const NON_ASCII = /[\u0080-\uffff]/g;
const HAS_NON_ASCII = /[\u0080-\uffff]/; // not global: test() keeps no state
const encoder = new TextEncoder();

function escapeUnit(ch: string): string {
  return "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0");
}

/**
 * Serialises a reply or event as one JSON line ending in LF, pure ASCII: accented letters become
 * `\u00e9`, astral characters a surrogate pair, so clients reading with any charset see them right.
 */
export function encodeLine(value: unknown): string {
  const json = JSON.stringify(value);
  // JSON.stringify already escapes control characters and lone surrogates; only the
  // remaining non-ASCII units need escaping, which cannot occur inside an escape sequence.
  return (HAS_NON_ASCII.test(json) ? json.replace(NON_ASCII, escapeUnit) : json) + "\n";
}

/** {@link encodeLine} as bytes, ready to be queued on any number of connections. */
export function encodeBytes(value: unknown): Uint8Array {
  return encoder.encode(encodeLine(value));
}
