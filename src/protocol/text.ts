// Line bytes → string: UTF-8 when valid, else Windows-1252 (Java clients on a French Windows).

const utf8 = new TextDecoder("utf-8", { fatal: true });
const cp1252 = new TextDecoder("windows-1252");

/**
 * Decodes one line (docs/protocol.md §1). Valid UTF-8 is decoded as such (a leading BOM is
 * dropped); anything else is read as Windows-1252, which maps every byte, so decoding never fails.
 */
export function decodeLine(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return cp1252.decode(bytes);
  }
}
