// What an inspector shows a client's author beside a line (docs/protocol.md §11.8): the common
// mistakes read from the line itself, and the line with its secrets masked. Pure: text in, data
// out; the web app words each hint in the reader's language.

/** A common mistake found in a line the client sent. */
export type Hint =
  /** Bytes received without a line end yet: the server waits for it. */
  | { kind: "no_newline"; bytes: number }
  /** Not JSON; `position` (0-based, in UTF-16 units) is where parsing stopped, when known. */
  | { kind: "bad_json"; position?: number }
  /** A `type` the server does not know, with the known one it is closest to. */
  | { kind: "unknown_type"; type: string; suggestion?: string }
  /** A field missing, or of the wrong kind (`expected` names the kind wanted). */
  | { kind: "field"; field: string; problem: "missing" | "type" | "invalid"; expected?: string }
  /** Not valid UTF-8: read as Windows-1252, so emoji and some characters are lost. */
  | { kind: "encoding" }
  /** A login or registration typed as a chat line: it holds a password (§3.13). */
  | { kind: "command_as_chat" };

// Chrome's and V8's JSON.parse errors end with "at position N" (some add "(line 1 column M)").
const POSITION = /at position (\d+)/;

/** Where JSON.parse stopped in `text`, or undefined when it parses (or says nothing of where). */
export function jsonErrorPosition(text: string): number | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    const found = POSITION.exec((err as Error).message);
    if (found) return Number(found[1]);
    // "Unexpected end of JSON input": it stopped at the end.
    return /end of JSON/i.test((err as Error).message) ? text.length : undefined;
  }
}

/**
 * The known type an unknown `type` most likely meant: one or two letters off ("mesage",
 * "messages", "loggin"), or its letters in order with the same first letter ("msg" → "message",
 * "priv" → "private"); the shortest such, or undefined.
 */
export function closestType(type: string, known: readonly string[]): string | undefined {
  const t = type.toLowerCase();
  if (t.length === 0) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(t, k);
    if (d < bestDistance || (d === bestDistance && best !== undefined && k.length < best.length)) {
      best = k;
      bestDistance = d;
    }
  }
  if (best !== undefined) return best;
  const abbreviated = known.filter((k) => k[0] === t[0] && t.length >= 2 && isSubsequence(t, k));
  return abbreviated.sort((a, b) => a.length - b.length)[0];
}

function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const ch of long) if (ch === short[i]) i++;
  return i === short.length;
}

/** Levenshtein distance, capped: anything over 2 is reported as 3. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return Math.min(prev[b.length], 3);
}

// A secret's value in JSON text, closed or cut off at the end of the line: passwords, resume
// tokens, and an export's one-time ticket.
const SECRET_FIELD = /("(?:password|token)"\s*:\s*)"(?:[^"\\]|\\.)*("|$)/gi;
const TICKET = /(ticket=)[A-Za-z0-9_-]+/g;
// A login or registration typed as chat (§3.13): `/login name password`.
const TYPED_COMMAND = /(\/(?:login|register)\s+\S+\s+)\S.*?(?=\\?"|$)/gi;
/** What a masked secret shows. */
export const MASK = "••••••";

/** `line` with every password, token and ticket replaced by {@link MASK}. */
export function maskSecrets(line: string): string {
  return line
    .replace(SECRET_FIELD, (_m, key: string, end: string) => `${key}"${MASK}${end}`)
    .replace(TICKET, `$1${MASK}`)
    .replace(TYPED_COMMAND, `$1${MASK}`);
}
