// Request validation: JSON text → envelope (type, id) → typed request, with zod schemas per type.
import { z } from "zod";
import { ProtocolError } from "../errors.ts";

/** A client-chosen request id, echoed on every direct reply (PROTOCOL B.1). */
export type RequestId = string | number;

/** A JSON object with its lower-cased `type` and its `id`, before per-type validation. */
export interface Envelope {
  type: string;
  id?: RequestId;
  fields: Record<string, unknown>;
}

// 1..1024 bytes (PROTOCOL B.7): short legacy passwords keep working, long ones cannot stall argon2.
const MAX_PASSWORD_BYTES = 1024;
// A presence state is a short word ("online", "do not disturb"); 64 leaves room for any client's.
const MAX_STATE_CHARS = 64;

const encoder = new TextEncoder();

const credentials = z.object({
  username: z.string(),
  password: z.string().min(1, "must not be empty").refine(
    (p) => encoder.encode(p).length <= MAX_PASSWORD_BYTES,
    `must be at most ${MAX_PASSWORD_BYTES} bytes`,
  ),
});

// Loose: a forwarded message keeps every field the client sent (PROTOCOL A.2).
const message = z.looseObject({
  content: z.string(),
  subtype: z.string().nullish(),
  to: z.string().nullish(),
}).refine((m) => !isPrivate(m) || (m.to ?? "") !== "", {
  path: ["to"],
  message: "is missing",
});

/**
 * A message is private when its `subtype` is "private" and `to` is not "global" (PROTOCOL A.2);
 * every other message is global.
 */
export function isPrivate(m: { subtype?: string | null; to?: string | null }): boolean {
  return m.subtype?.toLowerCase() === "private" && m.to !== "global";
}

const status = z.object({
  state: z.string().min(1, "must not be empty").max(
    MAX_STATE_CHARS,
    `must be at most ${MAX_STATE_CHARS} characters`,
  ),
});

const empty = z.object({});

// Moderation (admin accounts only). Durations in seconds, up to 30 days.
const MAX_SANCTION_SECONDS = 30 * 24 * 3600;
const target = z.object({ user: z.string().min(1, "must not be empty") });
const sanction = target.extend({
  duration: z.number().int().min(1, "must be at least 1").max(
    MAX_SANCTION_SECONDS,
    `must be at most ${MAX_SANCTION_SECONDS} (30 days)`,
  ),
});
const announce = z.object({ content: z.string().min(1, "must not be empty") });

const hello = z.object({ version: z.number().int().min(1, "must be at least 1").optional() });

const channelRef = z.object({ channel: z.string() });

// 50 by default, 200 at most: a screenful, and a bound on what one request may read.
export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 200;

const history = z.object({
  channel: z.string().optional(),
  with: z.string().optional(),
  limit: z.number().int().min(1, "must be at least 1").max(
    HISTORY_MAX_LIMIT,
    `must be at most ${HISTORY_MAX_LIMIT}`,
  )
    .default(HISTORY_DEFAULT_LIMIT),
  before: z.number().int().min(1, "must be at least 1").optional(),
}).refine((h) => h.channel === undefined || h.with === undefined, {
  path: ["with"],
  message: 'cannot be given with "channel"',
});

const SCHEMAS = {
  register: credentials,
  login: credentials,
  message,
  users: empty,
  userlist: empty,
  status,
  hello,
  ping: empty,
  kick: target,
  mute: sanction,
  ban: sanction,
  announce,
  join: channelRef,
  leave: channelRef,
  channels: empty,
  history,
} as const;

/** A validated request. `userlist` is reported as `users`, its synonym. */
export type Request =
  | { type: "register" | "login"; id?: RequestId } & z.infer<typeof credentials>
  | { type: "message"; id?: RequestId; fields: Record<string, unknown> } & z.infer<typeof message>
  | { type: "users"; id?: RequestId }
  | { type: "status"; id?: RequestId } & z.infer<typeof status>
  | { type: "hello"; id?: RequestId } & z.infer<typeof hello>
  | { type: "join" | "leave"; id?: RequestId } & z.infer<typeof channelRef>
  | { type: "channels" | "ping"; id?: RequestId }
  | { type: "kick"; id?: RequestId } & z.infer<typeof target>
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
    throw new ProtocolError("bad_json", "Invalid JSON: expected one JSON object per line");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("bad_request", "Request must be a JSON object");
  }
  const fields = value as Record<string, unknown>;
  const id = fields.id;
  if (id !== undefined && typeof id !== "string" && !(typeof id === "number" && isFinite(id))) {
    throw new ProtocolError("bad_request", 'Field "id" must be a string or a number');
  }
  if (fields.type === undefined) {
    throw new ProtocolError("bad_request", 'Field "type" is missing', withId(id));
  }
  if (typeof fields.type !== "string") {
    throw new ProtocolError("bad_request", 'Field "type" must be a string', withId(id));
  }
  return { type: fields.type.toLowerCase(), id: id as RequestId | undefined, fields };
}

function withId(id: unknown): Record<string, unknown> {
  return id === undefined ? {} : { id };
}

/**
 * Validates an envelope against the schema of its type (compared case-insensitively).
 *
 * @throws {ProtocolError} `unknown_type`, or `bad_request` naming the first wrong field
 */
export function parseRequest(envelope: Envelope): Request {
  const schema = SCHEMAS[envelope.type as keyof typeof SCHEMAS];
  if (schema === undefined || !Object.hasOwn(SCHEMAS, envelope.type)) {
    throw new ProtocolError("unknown_type", `Unknown type "${envelope.type}"`);
  }
  const result = schema.safeParse(envelope.fields);
  if (!result.success) {
    throw new ProtocolError("bad_request", describeIssue(result.error.issues[0], envelope.fields));
  }
  const type = envelope.type === "userlist" ? "users" : envelope.type;
  const request = { ...result.data, type, id: envelope.id } as Record<string, unknown>;
  if (type === "message") request.fields = envelope.fields;
  return request as Request;
}

/** The one place a zod failure becomes a sentence a student can act on. */
function describeIssue(issue: z.core.$ZodIssue, fields: Record<string, unknown>): string {
  const name = issue.path.map(String).join(".");
  if (issue.code === "invalid_type") {
    if (fields[String(issue.path[0])] === undefined) return `Field "${name}" is missing`;
    return `Field "${name}" must be ${article(issue.expected)}`;
  }
  return `Field "${name}" ${issue.message}`;
}

function article(expected: string): string {
  if (expected === "int") return "an integer";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}
