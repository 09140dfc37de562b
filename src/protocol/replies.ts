// Reply and event builders; the legacy strings clients match on are kept byte-for-byte here.
import type { ErrorCode } from "../errors.ts";
import type { RequestId } from "./schema.ts";

/** Legacy text of a refused registration; one client retries when it sees "already exists". */
export const USER_EXISTS_MESSAGE = "Username already exists.";
/** Legacy text of a refused login. */
export const LOGIN_FAILED_MESSAGE = "Login failed.";

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
 * An error reply: legacy `message`, plus `code` and `error` (same text) of PROTOCOL B.2.
 * `extra` fields such as `retry_after_ms` come after them.
 */
export function errorReply(
  code: ErrorCode,
  message: string,
  options: { id?: RequestId; extra?: Readonly<Record<string, unknown>> } = {},
): Reply {
  return withId({ type: "error", message, code, error: message, ...options.extra }, options.id);
}

/** `{"type":"users","users":[...]}`: plain strings, never objects (PROTOCOL A.4). */
export function usersReply(users: string[], id?: RequestId): Reply {
  return withId({ type: "users", users }, id);
}

/** `{"type":"status","user":u,"state":s}` sent to the other sessions. */
export function statusEvent(user: string, state: string): Reply {
  return { type: "status", user, state };
}

/**
 * The forwarded form of a `message` request: every field the client sent, with `type`
 * normalised, `from` and `timestamp` set by the server, and the sender's request `id` removed
 * (it belongs to the sender's own acknowledgements).
 */
export function forwardedMessage(
  fields: Record<string, unknown>,
  from: string,
  timestamp: string,
): Reply {
  const out: Reply = { ...fields, type: "message", from, timestamp };
  delete out.id;
  return out;
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
