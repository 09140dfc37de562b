// What the nodes of a cluster write to the message stream, and the subjects and keys they use:
// pure, no NATS. Names and channels become tokens (base64url of their case-folded key): `#`,
// `.`, spaces and accents are not allowed in subjects, and KV keys allow `[-/_=.A-Za-z0-9]`.
import { nameKey } from "../auth/names.ts";
import type { ErrorCode } from "../errors.ts";
import type { Text } from "../protocol/texts.ts";

const encoder = new TextEncoder();

/** The subject- and key-safe token of a case-folded name or channel key. */
export function token(key: string): string {
  let binary = "";
  for (const b of encoder.encode(key)) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The case-folded key a {@link token} was made from. */
export function fromToken(tok: string): string {
  const binary = atob(tok.replaceAll("-", "+").replaceAll("_", "/"));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** Where a node was when it wrote a record: its name and run, and which of its messages it is. */
export interface Origin {
  node: string;
  /** The node's run ({@link Origin.member} numbers start again at each). */
  boot?: string;
  /** The message's number on its node's run: the node finds its sender (to skip its echo). */
  member?: number;
}

/** A chat message: the request's fields, its sender, when its node received it, where it goes. */
export interface MessageRecord {
  kind: "msg";
  fields: Record<string, unknown>;
  from: string;
  /** Ms since the epoch, on the sender's node's clock. */
  ts: number;
  /** A channel by its display name, or one user by case-folded key and display name. */
  to: { channel: string } | { user: string; name: string };
  origin: Origin;
}

/** A name's sessions to end on every node (a kick, a ban, a changed account). */
export interface DisconnectRecord {
  kind: "disconnect";
  key: string;
  code: ErrorCode;
  text: Text;
  /** Fields of the last error besides its text (a ban's `until`). */
  extra?: Record<string, unknown>;
  origin: Origin;
}

/** Everything the message stream carries, in one total order. */
export type StreamRecord = MessageRecord | DisconnectRecord;

/** The stream subject of a record: one per channel, per private conversation, per control. */
export function subjectOf(record: StreamRecord, channelKey: (name: string) => string): string {
  if (record.kind === "disconnect") return "cc.msg.ctl.disconnect";
  const { to } = record;
  if ("channel" in to) return `cc.msg.ch.${token(channelKey(to.channel))}`;
  const pair = [token(to.user), token(nameKey(record.from))].sort();
  return `cc.msg.pm.${pair[0]}.${pair[1]}`;
}

/**
 * A record read back from the stream; undefined when it is not one (a stream shared with
 * something else, or a newer node's record this one does not know).
 */
export function parseRecord(data: Uint8Array): StreamRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const r = value as Record<string, unknown> & {
    origin?: { node?: unknown };
    to?: unknown;
    fields?: unknown;
    text?: unknown;
  };
  if (typeof r.origin?.node !== "string") return undefined;
  if (r.kind === "msg") {
    const ok = typeof r.fields === "object" && r.fields !== null && typeof r.from === "string" &&
      typeof r.ts === "number" && typeof r.to === "object" && r.to !== null;
    return ok ? value as MessageRecord : undefined;
  }
  if (r.kind === "disconnect") {
    const ok = typeof r.key === "string" && typeof r.code === "string" &&
      typeof r.text === "object" && r.text !== null;
    return ok ? value as DisconnectRecord : undefined;
  }
  return undefined;
}
