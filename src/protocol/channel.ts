// Channel names: what the `channel` field means, legacy values included (docs/protocol.md §4.4).
import { ProtocolError } from "../errors.ts";
import { T } from "./texts.ts";

/** The channel of every legacy message; every identified session is a member. */
export const DEFAULT_CHANNEL = "#général";

// Legacy clients add a `channel` field of their own ("général", "general", "global"...):
// those mean the default channel, so old clients keep talking to everybody.
const DEFAULT_ALIASES = new Set(["", "general", "global"]);
const MAX_CHANNEL_CHARS = 32;
// No spaces or commas (one word, as on IRC), no control or invisible characters.
const FORBIDDEN = /[\s,\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** A checked channel: its display name and its identity. */
export interface Channel {
  /** "#" + the name as first written, NFC. */
  name: string;
  /** Case- and accent-folded identity for the default, case-folded for the others. */
  key: string;
}

function fold(name: string): string {
  return name.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

/** The default channel as a {@link Channel}. */
export const DEFAULT: Channel = { name: DEFAULT_CHANNEL, key: DEFAULT_CHANNEL.normalize("NFC") };

/**
 * Reads a `channel` value: "#sisr" and "sisr" are the channel #sisr; an absent value and the
 * legacy spellings of the default ("général", "#general", "global"...) are #général.
 *
 * @throws {ProtocolError} `bad_request` for a value that is not a string or not a valid name
 */
export function parseChannel(raw: unknown): Channel {
  if (raw === undefined || raw === null) return DEFAULT;
  if (typeof raw !== "string") {
    throw new ProtocolError("bad_request", T.fieldType("channel", "string"));
  }
  const bare = raw.trim().replace(/^#/, "").normalize("NFC");
  if (DEFAULT_ALIASES.has(fold(bare))) return DEFAULT;
  if ([...bare].length > MAX_CHANNEL_CHARS) {
    throw new ProtocolError("bad_request", T.channelTooLong(MAX_CHANNEL_CHARS));
  }
  if (FORBIDDEN.test(bare)) {
    throw new ProtocolError("bad_request", T.channelOneWord());
  }
  return { name: `#${bare}`, key: `#${bare.toLowerCase()}` };
}
