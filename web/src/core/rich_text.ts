// A message's text cut into plain text, links and mentions of the signed-in user, for the log to
// build as DOM nodes (never as HTML). Links: http and https only, nothing fetched (no preview: a
// school server is often offline); any other scheme (javascript:, data:, file:...) stays text.
// One's own messages are cut without a pattern: they never mention oneself.

/** A piece of a message: text as written, a link (with its checked address), or my name. */
export type Segment =
  | { kind: "text"; text: string }
  | { kind: "link"; text: string; href: string }
  | { kind: "mention"; text: string };

// A scheme starts the address where no letter or digit comes before it ("xhttp://" is not one);
// a host follows at once (browsers read "https:///x" as "https://x/": the link would not go where
// it says); the address runs to the first space, quote or angle bracket.
const URL_START = /(?<![\p{L}\p{N}])https?:\/\/[^\s<>"/\\][^\s<>"]*/giu;
// Punctuation that ends a sentence rather than the address: "(voir https://a.fr/x)."
const TRAILING = /[.,;:!?'»)\]}…]$/u;

/** Trims the punctuation after an address, keeping a ")" that closes a "(" of the address. */
function trimUrl(raw: string): string {
  let url = raw;
  while (TRAILING.test(url)) {
    if (url.endsWith(")")) {
      const opens = url.split("(").length - 1;
      const closes = url.split(")").length - 1;
      if (opens >= closes) break;
    }
    url = url.slice(0, -1);
  }
  return url;
}

/** The address a link may point to: an http(s) URL with a host, else undefined. */
export function safeHref(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    return undefined;
  }
  return url.href;
}

/** The links of a text, in order, with the plain text between them. */
export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_START)) {
    const start = match.index;
    const url = trimUrl(match[0]);
    const href = safeHref(url);
    if (href === undefined) continue;
    if (start > last) out.push({ kind: "text", text: text.slice(last, start) });
    out.push({ kind: "link", text: url, href });
    last = start + url.length;
  }
  if (last < text.length) out.push({ kind: "text", text: text.slice(last) });
  return out;
}

const SPECIAL = /[.*+?^${}()|[\]\\]/g;

/**
 * A matcher of `me` as a whole word, with or without a leading "@", in any letter case (names
 * are one account whatever their case: docs/protocol.md §3.11); undefined without a name.
 */
export function mentionPattern(me: string): RegExp | undefined {
  const name = me.normalize("NFC");
  if (name === "") return undefined;
  // "Word" characters of names: letters, digits, marks, "_" and "-" (Jean-Baptiste is not Jean);
  // an "@" after the name makes it an e-mail address.
  const word = "[\\p{L}\\p{N}\\p{M}_-]";
  return new RegExp(`(?<!${word}|@)@?${name.replace(SPECIAL, "\\$&")}(?!${word}|@)`, "giu");
}

/** Whether `text` names the user `pattern` was made for. */
export function mentions(text: string, pattern: RegExp | undefined): boolean {
  if (!pattern) return false;
  pattern.lastIndex = 0;
  const found = pattern.test(text.normalize("NFC"));
  pattern.lastIndex = 0;
  return found;
}

/**
 * A message's text as segments: its links, and outside them the mentions of `pattern`'s user.
 * Text is returned as written (NFC only where a name is found), so nothing is lost or changed.
 */
export function richText(text: string, pattern: RegExp | undefined): Segment[] {
  const out: Segment[] = [];
  for (const seg of linkify(text)) {
    if (seg.kind !== "text" || !pattern || !mentions(seg.text, pattern)) {
      out.push(seg);
      continue;
    }
    const plain = seg.text.normalize("NFC");
    let last = 0;
    pattern.lastIndex = 0;
    for (const match of plain.matchAll(pattern)) {
      if (match.index > last) out.push({ kind: "text", text: plain.slice(last, match.index) });
      out.push({ kind: "mention", text: match[0] });
      last = match.index + match[0].length;
    }
    if (last < plain.length) out.push({ kind: "text", text: plain.slice(last) });
  }
  return out;
}
