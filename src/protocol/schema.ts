// Request validation: JSON text → envelope (type, id) → typed request, with zod schemas per type.
import { z } from "zod";
import { ProtocolError } from "../errors.ts";
import { T, type Text } from "./texts.ts";

/** A client-chosen request id, echoed on every direct reply (docs/protocol.md §3). */
export type RequestId = string | number;

/** A JSON object with its lower-cased `type` and its `id`, before per-type validation. */
export interface Envelope {
  type: string;
  id?: RequestId;
  fields: Record<string, unknown>;
}

// 1..1024 bytes (docs/protocol.md §9): short legacy passwords work, long ones cannot stall argon2.
const MAX_PASSWORD_BYTES = 1024;
// A presence state is a short word ("online", "do not disturb"); 64 leaves room for any client's.
const MAX_STATE_CHARS = 64;

const encoder = new TextEncoder();

// A rule that zod's own issues do not describe: its text is chosen by describeIssue().
type Rule = { rule: "missing" } | { rule: "max_bytes"; max: number } | {
  rule: "not_with";
  other: string;
};
const rule = (params: Rule) => ({ params });

// A resume token (section 11 of docs/protocol.md): well under 1 KiB.
const resume = z.object({ token: z.string().min(1).max(1024) });

const credentials = z.object({
  username: z.string(),
  password: z.string().min(1).refine(
    (p) => encoder.encode(p).length <= MAX_PASSWORD_BYTES,
    rule({ rule: "max_bytes", max: MAX_PASSWORD_BYTES }),
  ),
});

// Loose: a forwarded message keeps every field the client sent (docs/protocol.md §3.6).
const message = z.looseObject({
  content: z.string(),
  subtype: z.string().nullish(),
  to: z.string().nullish(),
}).refine((m) => !isPrivate(m) || (m.to ?? "") !== "", {
  path: ["to"],
  ...rule({ rule: "missing" }),
});

// `{"type":"private","to":u,"content":c}`: a Python client's spelling of a private message.
const privateMessage = z.looseObject({ content: z.string(), to: z.string().min(1) });

/**
 * A message is private when its `subtype` is "private" and `to` is not "global"
 * (docs/protocol.md §3.4); every other message is global.
 */
export function isPrivate(m: { subtype?: string | null; to?: string | null }): boolean {
  return m.subtype?.toLowerCase() === "private" && m.to !== "global";
}

// A login or registration typed as a chat line by a console client (docs/protocol.md §3.13):
// `/login name pass`.
const TYPED_COMMAND = /^\s*\/(login|register)\s/i;

/** Whether a message's content is a login or registration command typed as chat (§3.13). */
export function isTypedCommand(content: unknown): boolean {
  return typeof content === "string" && TYPED_COMMAND.test(content);
}

const status = z.object({ state: z.string().min(1).max(MAX_STATE_CHARS) });

const empty = z.object({});

// Moderation (admin accounts only). Durations in seconds, up to 30 days.
const MAX_SANCTION_SECONDS = 30 * 24 * 3600;
const target = z.object({ user: z.string().min(1) });
const sanction = target.extend({
  duration: z.number().int().min(1).max(MAX_SANCTION_SECONDS),
});
const announce = z.object({ content: z.string().min(1) });
// The teacher console's download (section 11 of docs/protocol.md).
const exportTicket = z.object({
  format: z.enum(["json", "csv"]),
  channel: z.string().optional(),
  bom: z.boolean().default(false),
});

const hello = z.object({ version: z.number().int().min(1).optional() });

// The inspector (docs/protocol.md §11.8): one connection by its number, or the user's own.
const inspect = z.object({ conn: z.number().int().min(1).optional() });

// A user's private conversations (docs/protocol.md, section 11): a page's list, after a gap.
export const CONVERSATIONS_MAX = 200;
const conversations = z.object({
  limit: z.number().int().min(1).max(CONVERSATIONS_MAX).default(CONVERSATIONS_MAX),
  after: z.number().int().min(0).optional(),
});
const read = z.object({ with: z.string().min(1), seq: z.number().int().min(1) });
// Name completion: registered names by prefix, a short list.
export const DIRECTORY_MAX = 50;
const directory = z.object({
  prefix: z.string().max(64),
  limit: z.number().int().min(1).max(DIRECTORY_MAX).default(10),
});

const channelRef = z.object({ channel: z.string() });
// A Python client's member list: `{"type":"who","channel":c}`, the default channel without one.
const who = z.object({ channel: z.string().optional() });

// 50 by default, 200 at most: a screenful, and a bound on what one request may read.
export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 200;

const history = z.object({
  channel: z.string().optional(),
  with: z.string().optional(),
  limit: z.number().int().min(1).max(HISTORY_MAX_LIMIT).default(HISTORY_DEFAULT_LIMIT),
  before: z.number().int().min(1).optional(),
  after: z.number().int().min(0).optional(),
}).refine((h) => h.channel === undefined || h.with === undefined, {
  path: ["with"],
  ...rule({ rule: "not_with", other: "channel" }),
}).refine((h) => h.before === undefined || h.after === undefined, {
  path: ["after"],
  ...rule({ rule: "not_with", other: "before" }),
});

const SCHEMAS = {
  register: credentials,
  login: credentials,
  resume,
  message,
  private: privateMessage,
  users: empty,
  who,
  userlist: empty,
  status,
  hello,
  ping: empty,
  kick: target,
  mute: sanction,
  ban: sanction,
  unban: target,
  unmute: target,
  bans: empty,
  mutes: empty,
  sessions: empty,
  stats: empty,
  export_ticket: exportTicket,
  connections: empty,
  inspect,
  uninspect: inspect,
  announce,
  join: channelRef,
  leave: channelRef,
  channels: empty,
  history,
  conversations,
  read,
  directory,
} as const;

/** A validated request. `userlist` is reported as `users`, its synonym. */
export type Request =
  | { type: "register" | "login"; id?: RequestId } & z.infer<typeof credentials>
  | { type: "resume"; id?: RequestId } & z.infer<typeof resume>
  | { type: "message"; id?: RequestId; fields: Record<string, unknown> } & z.infer<typeof message>
  | { type: "users"; id?: RequestId }
  | { type: "who"; id?: RequestId } & z.infer<typeof who>
  | { type: "status"; id?: RequestId } & z.infer<typeof status>
  | { type: "hello"; id?: RequestId } & z.infer<typeof hello>
  | { type: "join"; id?: RequestId } & z.infer<typeof channelRef>
  | { type: "leave"; id?: RequestId } & z.infer<typeof channelRef>
  | { type: "channels"; id?: RequestId }
  | { type: "ping"; id?: RequestId }
  | { type: "kick" | "unban" | "unmute"; id?: RequestId } & z.infer<typeof target>
  | { type: "bans" | "mutes"; id?: RequestId }
  | { type: "conversations"; id?: RequestId } & z.infer<typeof conversations>
  | { type: "read"; id?: RequestId } & z.infer<typeof read>
  | { type: "directory"; id?: RequestId } & z.infer<typeof directory>
  | { type: "sessions"; id?: RequestId }
  | { type: "stats"; id?: RequestId }
  | { type: "export_ticket"; id?: RequestId } & z.infer<typeof exportTicket>
  | { type: "connections"; id?: RequestId }
  | { type: "inspect"; id?: RequestId } & z.infer<typeof inspect>
  | { type: "uninspect"; id?: RequestId } & z.infer<typeof inspect>
  | { type: "mute" | "ban"; id?: RequestId } & z.infer<typeof sanction>
  | { type: "announce"; id?: RequestId } & z.infer<typeof announce>
  | { type: "history"; id?: RequestId } & z.infer<typeof history>;

/**
 * Parses one line into an envelope.
 *
 * @throws {ProtocolError} `bad_json` when the line is not JSON, `bad_request` when it is not an
 * object or its `type` or `id` is missing or of the wrong kind
 */
export function readEnvelope(text: string): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError("bad_json", T.badJson());
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("bad_request", T.notAnObject());
  }
  const fields = value as Record<string, unknown>;
  const id = fields.id;
  if (id !== undefined && typeof id !== "string" && !(typeof id === "number" && isFinite(id))) {
    throw new ProtocolError("bad_request", T.idType());
  }
  if (fields.type === undefined) {
    throw new ProtocolError("bad_request", T.fieldMissing("type"), withId(id));
  }
  if (typeof fields.type !== "string") {
    throw new ProtocolError("bad_request", T.fieldType("type", "string"), withId(id));
  }
  return { type: fields.type.toLowerCase(), id: id as RequestId | undefined, fields };
}

function withId(id: unknown): Record<string, unknown> {
  return id === undefined ? {} : { id };
}

/**
 * Validates an envelope against the schema of its type (compared case-insensitively).
 * `userlist` is reported as `users`, and `private` as a private `message`: their synonyms.
 *
 * @throws {ProtocolError} `unknown_type`, or `bad_request` naming the first wrong field
 */
export function parseRequest(envelope: Envelope): Request {
  const schema = SCHEMAS[envelope.type as keyof typeof SCHEMAS];
  if (schema === undefined || !Object.hasOwn(SCHEMAS, envelope.type)) {
    throw new ProtocolError("unknown_type", T.unknownType(envelope.type));
  }
  const result = schema.safeParse(envelope.fields);
  if (!result.success) {
    throw new ProtocolError("bad_request", describeIssue(result.error.issues[0], envelope.fields));
  }
  const request = { ...result.data, id: envelope.id } as Record<string, unknown>;
  if (envelope.type === "private") {
    // Forwarded as every client knows a private message: type "message", subtype "private".
    request.type = "message";
    request.subtype = "private";
    request.fields = { ...envelope.fields, type: "message", subtype: "private" };
  } else {
    request.type = envelope.type === "userlist" ? "users" : envelope.type;
    if (envelope.type === "message") request.fields = envelope.fields;
  }
  return request as Request;
}

/** Every request type the server knows, lower case, synonyms included. */
export const REQUEST_TYPES: readonly string[] = Object.keys(SCHEMAS);

/** The first field of a known request that is missing or of the wrong kind (an inspector's hint). */
export interface FieldIssue {
  field: string;
  problem: "missing" | "type" | "invalid";
  /** The kind wanted, for a field of the wrong kind: "string", "number"... */
  expected?: string;
}

/** The first field `envelope` gets wrong, or undefined (unknown type, or none wrong). */
export function fieldIssue(envelope: Envelope): FieldIssue | undefined {
  if (!Object.hasOwn(SCHEMAS, envelope.type)) return undefined;
  const result = SCHEMAS[envelope.type as keyof typeof SCHEMAS].safeParse(envelope.fields);
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  const field = issue.path.map(String).join(".");
  if (issue.code === "invalid_type") {
    return envelope.fields[String(issue.path[0])] === undefined
      ? { field, problem: "missing" }
      : { field, problem: "type", expected: issue.expected };
  }
  return { field, problem: "invalid" };
}

/** The one place a zod failure becomes a sentence a student can act on. */
function describeIssue(issue: z.core.$ZodIssue, fields: Record<string, unknown>): Text {
  const name = issue.path.map(String).join(".");
  switch (issue.code) {
    case "invalid_type":
      if (fields[String(issue.path[0])] === undefined) return T.fieldMissing(name);
      return T.fieldType(name, issue.expected);
    case "too_small":
      if (issue.origin === "string" && Number(issue.minimum) === 1) return T.fieldEmpty(name);
      return T.fieldAtLeast(name, Number(issue.minimum));
    case "too_big":
      if (issue.origin === "string") return T.fieldAtMostChars(name, Number(issue.maximum));
      return T.fieldAtMost(name, Number(issue.maximum));
    case "custom": {
      const params = issue.params as Rule | undefined;
      if (params?.rule === "max_bytes") return T.fieldAtMostBytes(name, params.max);
      if (params?.rule === "not_with") return T.fieldNotWith(name, params.other);
      return T.fieldMissing(name);
    }
    default:
      return T.fieldInvalid(name);
  }
}
