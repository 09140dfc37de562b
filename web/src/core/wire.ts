// What the page reads from the server's lines (docs/protocol.md §3, §4, §6, §11): loose readers
// that ignore unknown fields and never trust a field's type.
import { parseChannel } from "../../../src/protocol/channel.ts";
import { nameKey } from "../../../src/auth/names.ts";

export { nameKey };

/** One JSON object the server sent. */
export type Line = Readonly<Record<string, unknown>>;

/** A request id: the page always sends strings. */
export type RequestId = string;

/** An `error` line, or a failure the page makes up (`network`, `closed`). */
export interface ErrorInfo {
  code: string;
  /** The server's own text, kept as a detail (it may be English). */
  message?: string;
  retryAfterMs?: number;
  /** End of a ban, when the server says it. */
  until?: string;
}

/** A chat message as forwarded, in history, or delivered at login. */
export interface WireMessage {
  seq: number;
  from: string;
  content: string;
  timestamp: string;
  subtype?: string;
  to?: string;
  channel?: unknown;
  announce: boolean;
}

/** A string field, or undefined. */
export function str(line: Line, field: string): string | undefined {
  const v = line[field];
  return typeof v === "string" ? v : undefined;
}

/** A finite number field, or undefined. */
export function num(line: Line, field: string): number | undefined {
  const v = line[field];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Parses one frame: a JSON object, else undefined. */
export function parseLine(data: unknown): Line | undefined {
  if (typeof data !== "string") return undefined;
  try {
    const v: unknown = JSON.parse(data);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v as Line : undefined;
  } catch {
    return undefined;
  }
}

/** The `type` of a line, lower case ("" when absent). */
export function typeOf(line: Line): string {
  return str(line, "type")?.toLowerCase() ?? "";
}

const TIMESTAMP_IN_TEXT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?/;

/** Reads an `error` line. */
export function readError(line: Line): ErrorInfo {
  const message = str(line, "message") ?? str(line, "error");
  const until = str(line, "until") ??
    (str(line, "code") === "forbidden" ? message?.match(TIMESTAMP_IN_TEXT)?.[0] : undefined);
  return {
    code: str(line, "code") ?? "unknown",
    message,
    retryAfterMs: num(line, "retry_after_ms"),
    until,
  };
}

/** Reads a message line; undefined when a required field is missing. */
export function readMessage(line: Line): WireMessage | undefined {
  const seq = num(line, "seq");
  const from = str(line, "from");
  const content = str(line, "content");
  if (seq === undefined || from === undefined || content === undefined) return undefined;
  return {
    seq,
    from,
    content,
    timestamp: str(line, "timestamp") ?? "",
    subtype: str(line, "subtype"),
    to: str(line, "to"),
    channel: line.channel,
    announce: line.announce === true,
  };
}

/** Private: `subtype` "private" (any case) and `to` not "global" (docs/protocol.md §3.4). */
export function isPrivate(m: { subtype?: string; to?: string }): boolean {
  return m.subtype?.toLowerCase() === "private" && m.to !== undefined && m.to !== "global";
}

/** Conversation key of a channel: "#" + its folded identity, as the server keys it. */
export function channelKey(raw: unknown): string {
  return parseChannel(raw).key;
}

/** The channel's key and display name, or undefined when the name is not a channel's. */
export function tryChannel(raw: unknown): { key: string; name: string } | undefined {
  try {
    return parseChannel(raw);
  } catch {
    return undefined;
  }
}

/** Conversation key of a private conversation with `peer`. */
export function privateKey(peer: string): string {
  return `@${nameKey(peer)}`;
}

/** The default channel's key. */
export const DEFAULT_KEY: string = channelKey(undefined);
