// Reply and event builders: the shapes clients read (docs/protocol.md §3, §4, §11); texts.ts has
// the texts.
import type { ErrorCode } from "../errors.ts";
import type { RequestId } from "./schema.ts";

type Reply = Record<string, unknown>;

function withId(reply: Reply, id: RequestId | undefined): Reply {
  if (id !== undefined) reply.id = id;
  return reply;
}

/** `{"type":"register","status":"ok"}` */
export function registerOk(id?: RequestId): Reply {
  return withId({ type: "register", status: "ok" }, id);
}

/** `{"type":"login","status":"ok","username":u}` */
export function loginOk(username: string, id?: RequestId): Reply {
  return withId({ type: "login", status: "ok", username }, id);
}

/**
 * An error reply: legacy `message`, plus `code` and `error` (same text) of docs/protocol.md §8.
 * `extra` fields such as `retry_after_ms` come after them.
 */
export function errorReply(
  code: ErrorCode,
  message: string,
  options: { id?: RequestId; extra?: Readonly<Record<string, unknown>> } = {},
): Reply {
  return withId({ type: "error", message, code, error: message, ...options.extra }, options.id);
}

/** One entry of the `details` of a `users` reply to a hello'd session (docs/protocol.md §3.7). */
export interface UserDetail {
  user: string;
  state: string;
  guest: boolean;
  since: string;
}

/**
 * `{"type":"users","users":[...]}`: plain strings, never objects (docs/protocol.md §12.3);
 * `details` beside them for sessions that said hello.
 */
export function usersReply(users: string[], id?: RequestId, details?: UserDetail[]): Reply {
  const reply: Reply = { type: "users", users };
  if (details) reply.details = details;
  return withId(reply, id);
}

/**
 * `{"type":"who","channel":c,"users":[...]}`: a Python client's member list, `channel` as it
 * asked for it, names as plain strings.
 */
export function whoReply(channel: string, users: string[], id?: RequestId): Reply {
  return withId({ type: "who", channel, users }, id);
}

/** The answer to `hello` (docs/protocol.md §4.1). */
export function helloReply(
  info: { version: string; features: string[]; limits: Record<string, number> },
  id?: RequestId,
): Reply {
  const { version, features, limits } = info;
  return withId({ type: "hello", server: "classcord", version, protocol: 2, features, limits }, id);
}

/** The answer to an admin's `kick`, `mute`, `ban`, `unban` or `announce`. */
export function moderationOk(
  type: "kick" | "mute" | "unmute" | "ban" | "unban" | "announce",
  fields: Record<string, unknown>,
  id?: RequestId,
): Reply {
  return withId({ type, status: "ok", ...fields }, id);
}

/** The answer to an admin's `bans`: each banned name with the end of its ban. */
export function bansReply(bans: { user: string; until: string }[], id?: RequestId): Reply {
  return withId({ type: "bans", bans }, id);
}

/** `{"type":"mutes","mutes":[{"user","until"}]}`: the running mutes, for the teacher console. */
export function mutesReply(mutes: { user: string; until: string }[], id?: RequestId): Reply {
  return withId({ type: "mutes", mutes }, id);
}

/**
 * What a hello'd session is told of its own mute (docs/protocol.md, section 11): when it starts
 * or changes, `until` and the milliseconds left; when it ends, `until: null`.
 */
export function mutedEvent(until: string | null, remainingMs?: number): Reply {
  return until === null
    ? { type: "muted", until: null }
    : { type: "muted", until, remaining_ms: remainingMs };
}

/** The direct reply to a hello'd session's `status` with an `id`. */
export function statusOk(state: string, id: RequestId): Reply {
  return withId({ type: "status", status: "ok", state }, id);
}

/** The direct reply to `read`. */
export function readOk(partner: string, seq: number, id?: RequestId): Reply {
  return withId({ type: "read", status: "ok", with: partner, seq }, id);
}

/** A user's private conversations, the most recent first. */
export function conversationsReply(
  conversations: { with: string; last: Record<string, unknown>; unread: number }[],
  id?: RequestId,
): Reply {
  return withId({ type: "conversations", conversations }, id);
}

/** Registered names for completion. */
export function directoryReply(prefix: string, users: string[], id?: RequestId): Reply {
  return withId({ type: "directory", prefix, users }, id);
}

/** The answer to `ping`: the session is alive (docs/protocol.md §5.8). */
export function pongReply(id?: RequestId): Reply {
  return withId({ type: "pong" }, id);
}

/** A message with an `id` is durably stored (docs/protocol.md §4.3). */
export function ackReply(id: RequestId, seq: number, timestamp: string): Reply {
  return { type: "ack", id, seq, timestamp };
}

/** The answer to `join` or `leave`. */
export function channelOk(type: "join" | "leave", channel: string, id?: RequestId): Reply {
  return withId({ type, status: "ok", channel }, id);
}

/** The answer to `channels`: each channel with its number of members online. */
export function channelsReply(
  channels: { name: string; members: number }[],
  id?: RequestId,
): Reply {
  return withId({ type: "channels", channels }, id);
}

/** The answer to `history`: messages oldest first, `more` when older ones exist. */
export function historyReply(
  messages: Record<string, unknown>[],
  more: boolean,
  id?: RequestId,
): Reply {
  return withId({ type: "history", messages, more }, id);
}

/** `{"type":"status","user":u,"state":s}` sent to the other sessions. */
export function statusEvent(user: string, state: string): Reply {
  return { type: "status", user, state };
}

/**
 * The forwarded form of a `message` request: every field the client sent, with `type`
 * normalised, `from`, `timestamp` and `seq` set by the server (adding fields is safe for every
 * client, docs/protocol.md §12.4), and the sender's request `id` removed (it belongs to the
 * sender's own acknowledgements).
 */
export function forwardedMessage(
  fields: Record<string, unknown>,
  from: string,
  timestamp: string,
  seq: number,
): Reply & { from: string; content: string; timestamp: string } {
  const out: Reply = { ...fields, type: "message", from, timestamp, seq };
  delete out.id;
  return out as Reply & { from: string; content: string; timestamp: string };
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/**
 * Server timestamps: local time, ISO-8601 with a `T` and milliseconds, no zone
 * (`2026-03-02T14:05:09.123`), which Java's `LocalDateTime.parse` and a split on `T` both read.
 */
export function formatTimestamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:` +
    `${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
