// User and guest names: NFC normalisation, their rules (docs/protocol.md §9), the case-folded key.
import { ProtocolError } from "../errors.ts";
import { T } from "../protocol/texts.ts";

/**
 * 1..64 characters after NFC normalisation (docs/protocol.md §9): guest modes build names such as
 * `Invité_Jean-Baptiste_1732890000000` (a first name and a 13-digit time).
 */
export const MAX_NAME_CHARS = 64;

// Control (Cc), format (Cf: zero-width joiners, bidi overrides) and line/paragraph separators:
// invisible or layout-breaking in every client's user list.
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * Normalises a requested name to NFC and checks it.
 *
 * @throws {ProtocolError} `invalid_name` saying which rule the name breaks
 */
export function checkName(raw: string): string {
  const name = raw.normalize("NFC");
  const length = [...name].length;
  if (length === 0) throw new ProtocolError("invalid_name", T.nameEmpty());
  if (length > MAX_NAME_CHARS) {
    throw new ProtocolError("invalid_name", T.nameTooLong(MAX_NAME_CHARS));
  }
  if (FORBIDDEN.test(name)) throw new ProtocolError("invalid_name", T.nameInvisible());
  if (name.trim() !== name) throw new ProtocolError("invalid_name", T.nameSpaces());
  return name;
}

/** Whether a name follows the rules: a name that does not is no account's, nor a guest's. */
export function isValidName(name: string): boolean {
  try {
    checkName(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * The identity of a name: "Alice" and "alice" are one account, so nobody can pass for a
 * classmate by changing the case of a letter.
 */
export function nameKey(name: string): string {
  return name.normalize("NFC").toLowerCase();
}
