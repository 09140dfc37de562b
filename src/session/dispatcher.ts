// One connection's requests: parsing, the per-connection limits, dispatch, and the one place a
// client fault becomes an `error` reply.
import type { Limits } from "../config.ts";
import { type CloseReason, type ErrorCode, ProtocolError } from "../errors.ts";
import type { Events, LimitName } from "../events.ts";
import { helloReply, pongReply } from "../protocol/replies.ts";
import { isUtf8 } from "../protocol/framing.ts";
import { closestType, type Hint, jsonErrorPosition } from "../protocol/hints.ts";
import {
  type Envelope,
  fieldIssue,
  isTypedCommand,
  parseRequest,
  readEnvelope,
  type Request,
  REQUEST_TYPES,
  type RequestId,
} from "../protocol/schema.ts";
import { T, type Text } from "../protocol/texts.ts";
import type { Accounts } from "./account.ts";
import type { Chat } from "./chat.ts";
import type { Console } from "./console.ts";
import {
  type ConnControl,
  NO_CONN_CONTROL,
  type Origin,
  Session,
  type SessionDeps,
  type SessionOutput,
  type SessionState,
} from "./session.ts";
import type { Reading, Recorder } from "./inspection.ts";
import { type SessionLimiters, TokenBucket, WindowCounter } from "./limits.ts";
import type { Moderation } from "./moderation.ts";

/**
 * What a transport drives for each of its connections (the transport seam, docs/architecture.md,
 * "Seams"): requests in, in order; a returned close reason ends the connection once what is
 * queued (the last error) is written. The transports import it; the session knows no transport.
 */
export interface Handler {
  /**
   * One request (a line, or a frame); the next one is read only once this resolves. `bytes`, the
   * line as read, when the transport decoded it (valid only until this returns).
   */
  handleLine(
    text: string,
    bytes?: Uint8Array,
  ): Promise<CloseReason | undefined> | CloseReason | undefined;
  /** Whether the connection's lines are being recorded for an inspector (docs/protocol.md §11.8). */
  readonly recording: boolean;
  /** Bytes of a line not ended yet (`total` of them so far): shown to an inspector, if recording. */
  pending(bytes: Uint8Array, total: number): void;
  /** A request over the size cap was discarded. */
  tooLarge(maxBytes: number): CloseReason | undefined;
  /** The peer sent `maxBytes` without ending a request. */
  unterminated(maxBytes: number): CloseReason;
  /** The peer sent a binary frame (WebSocket), which holds no request. */
  binary(): CloseReason | undefined;
  /** Logged in or posting as a guest: no identify timeout any more. */
  readonly identified: boolean;
  /** Said hello: subject to the idle timeout. */
  readonly helloed: boolean;
  /** Handled a valid request (one that parsed), whatever its answer. */
  readonly understood: boolean;
  /** A last error before the server closes the connection (timeouts). */
  finalError(code: ErrorCode, text: Text): void;
  /** The server is stopping: last words (if any) before the connection is closed. */
  shutdown(): void;
  /**
   * Resolves once every request handled so far has its reply queued (an `ack` comes after its
   * commit): a client that half-closes its side still gets every answer (docs/protocol.md,
   * section 1).
   */
  settled(): Promise<void>;
  /** The connection is gone. */
  close(): void;
}

/** What the `hello` reply tells a client (docs/protocol.md §4.1). */
export interface ServerInfo {
  version: string;
  features: string[];
  limits: Record<string, number>;
}

/** What a session needs from the rest of the server. */
export interface DispatcherDeps extends SessionDeps {
  accounts: Accounts;
  chat: Chat;
  console: Console;
  moderation: Moderation;
  info: ServerInfo;
  limits: Limits;
  events: Events;
  /** Resolves once every message posted before the call is durable or given up (its ack sent). */
  flushed(): Promise<void>;
}

// Requests that cost the server work count against the session's rate; a `users` or `who` poll,
// `ping` and `hello` never do (docs/protocol.md §5: a `users` poll every 3 s always passes), and
// register/login have limits of their own.
const UNCOUNTED = new Set(["users", "who", "ping", "hello", "register", "login", "resume"]);
// Faults of the client's own making, counted against the bad-line budget.
const BAD_INPUT = new Set<ErrorCode>(["bad_json", "bad_request", "unknown_type"]);
// The windows of docs/protocol.md §5.
const TEN_SECONDS = 10_000;
const ONE_MINUTE = 60_000;

/**
 * The protocol state of one connection, with no socket: lines in, encoded lines out. Requests
 * are handled one at a time, in order; a client fault becomes an `error` reply here and nowhere
 * else.
 */
export class Dispatcher implements Handler {
  readonly #deps: DispatcherDeps;
  readonly #session: Session;
  // The rate limits, made on first use: most connections only log in and read (login and the
  // polls are not counted), so they never hold any (docs/benchmarks.md, "Memory"). A bucket made
  // late is full and a window made late is empty, as they would be had they been made earlier.
  #limiters: SessionLimiters | undefined;
  #understood = false;

  constructor(deps: DispatcherDeps, out: SessionOutput, origin: Origin, conn = NO_CONN_CONTROL) {
    this.#deps = deps;
    this.#session = new Session(deps, out, origin, conn as ConnControl);
  }

  get #bucket(): TokenBucket {
    return this.#madeLimiters().bucket;
  }

  get #dropped(): WindowCounter {
    return this.#madeLimiters().dropped;
  }

  get #bad(): WindowCounter {
    return this.#madeLimiters().bad;
  }

  get #oversized(): WindowCounter {
    return this.#madeLimiters().oversized;
  }

  #madeLimiters(): SessionLimiters {
    if (this.#limiters) return this.#limiters;
    const { clock, limits } = this.#deps;
    return this.#limiters = {
      bucket: new TokenBucket(clock, {
        burst: limits.rateBurst,
        perSecond: limits.ratePerSecond,
      }),
      dropped: new WindowCounter(clock, { max: limits.maxDropped, windowMs: TEN_SECONDS }),
      bad: new WindowCounter(clock, { max: limits.maxBadLines, windowMs: TEN_SECONDS }),
      oversized: new WindowCounter(clock, {
        max: limits.maxOversizedLines - 1, // the last one allowed closes
        windowMs: ONE_MINUTE,
      }),
    };
  }

  get state(): SessionState {
    return this.#session.state;
  }

  get name(): string {
    return this.#session.name;
  }

  /** Whether the session has a name (guest or user) and so receives broadcasts. */
  get identified(): boolean {
    return this.#session.identified;
  }

  /** Whether a request of this connection parsed (it speaks the protocol, if not yet logged in). */
  get understood(): boolean {
    return this.#understood;
  }

  /** Whether the session said hello and so receives extension messages (docs/protocol.md §4.1). */
  get helloed(): boolean {
    return this.#session.helloed;
  }

  /**
   * Handles one decoded line; never throws. Resolves with a close reason when the connection
   * must now be closed (its last line, an error, is already queued).
   */
  async handleLine(text: string, bytes?: Uint8Array): Promise<CloseReason | undefined> {
    const session = this.#session;
    if (session.state === "closed" || text.trim() === "") return;
    const receivedAt = performance.now();
    session.health.lines++;
    // Recorded before any reply to it: while inspected, or in the buffer before the login.
    let recorder: Recorder | undefined = session.recorder ??
      (session.state === "anonymous" ? this.#deps.inspection?.early(session) : undefined);
    let envelope: Envelope | undefined;
    let id: RequestId | undefined;
    try {
      envelope = readEnvelope(text);
      id = envelope.id;
      const req = parseRequest(envelope);
      this.#understood = true;
      const limited = !UNCOUNTED.has(req.type) && !this.#bucket.take();
      if (recorder) {
        recorder.in(text, readingOf(req, bytes, limited));
        recorder = undefined;
      }
      if (limited) return this.#rateLimited(req.id);
      await this.#dispatch(req, receivedAt);
    } catch (err) {
      recorder?.in(text, this.#misread(err, text, envelope, bytes));
      session.failed(err, id);
      if (err instanceof ProtocolError && BAD_INPUT.has(err.code) && this.#bad.add()) {
        session.error("bad_request", T.badLinesClosing());
        return "bad_input";
      }
    }
  }

  /** Whether the connection's lines are recorded for an inspector. */
  get recording(): boolean {
    return this.#session.recorder !== undefined;
  }

  /** A line not ended yet: an inspector sees what came so far, and that the server waits. */
  pending(bytes: Uint8Array, total: number): void {
    this.#session.recorder?.pending(bytes, total);
  }

  /** The server's reading of a line it could not parse: the error, and a hint where one helps. */
  #misread(err: unknown, text: string, envelope?: Envelope, bytes?: Uint8Array): Reading {
    if (!(err instanceof ProtocolError)) return {};
    const reading: Reading = { error: { code: err.code, text: err.text[this.#deps.lang] } };
    let hint: Hint | undefined;
    if (bytes && !isUtf8(bytes)) hint = { kind: "encoding" };
    else if (err.code === "bad_json") {
      hint = { kind: "bad_json", position: jsonErrorPosition(text) };
    } else if (err.code === "unknown_type" && envelope) {
      const { type } = envelope;
      hint = { kind: "unknown_type", type, suggestion: closestType(type, REQUEST_TYPES) };
    } else if (envelope) {
      const issue = fieldIssue(envelope);
      if (issue) hint = { kind: "field", ...issue };
    }
    if (hint) reading.hint = hint;
    return reading;
  }

  #dispatch(req: Request, receivedAt: number): Promise<void> | void {
    const { accounts, chat, moderation, info, console } = this.#deps;
    const session = this.#session;
    switch (req.type) {
      case "register":
        return accounts.register(session, req);
      case "login":
        return accounts.login(session, req);
      case "resume":
        return accounts.resume(session, req);
      case "message":
        return chat.post(session, req, receivedAt);
      case "status":
        return chat.status(session, req);
      case "users":
        return chat.users(session, req);
      case "who":
        return chat.who(session, req);
      case "join":
        return chat.join(session, req);
      case "leave":
        return chat.leave(session, req);
      case "channels":
        return chat.channels(session, req);
      case "history":
        return chat.history(session, req);
      case "announce":
        return chat.announce(session, req, receivedAt);
      case "kick":
        return moderation.kick(session, req);
      case "mute":
        return moderation.mute(session, req);
      case "ban":
        return moderation.ban(session, req);
      case "unban":
        return moderation.unban(session, req);
      case "unmute":
        return moderation.unmute(session, req);
      case "mutes":
        return moderation.mutes(session, req);
      case "conversations":
        return chat.conversations(session, req);
      case "read":
        return chat.read(session, req);
      case "directory":
        return chat.directory(session, req);
      case "bans":
        return moderation.bans(session, req);
      case "sessions":
        return console.sessions(session, req);
      case "stats":
        return console.stats(session, req);
      case "export_ticket":
        return console.exportTicket(session, req);
      case "connections":
        return console.connections(session, req);
      case "inspect":
        return console.inspect(session, req);
      case "uninspect":
        return console.uninspect(session, req);
      case "hello":
        session.helloed = true;
        return session.reply(helloReply(info, req.id));
      case "ping":
        return session.reply(pongReply(req.id));
    }
  }

  /** A request over the rate: `rate_limited`, and the connection closes if it keeps on. */
  #rateLimited(id: RequestId | undefined): CloseReason | undefined {
    const retry = this.#bucket.retryAfterMs();
    this.#limit("message_rate", "rate_limited", T.rateWait(retry), id, { retry_after_ms: retry });
    if (this.#dropped.add()) {
      this.#session.error("rate_limited", T.rateClosing());
      return "flood";
    }
  }

  /**
   * Answers a line that was over the size cap (its bytes were discarded unread); too many of them
   * close the connection.
   */
  tooLarge(maxBytes: number): CloseReason | undefined {
    this.#session.health.lines++;
    this.#session.recorder?.in("", { limit: "line_size" });
    this.#limit("line_size", "too_large", T.lineTooLong(maxBytes));
    if (this.#oversized.add()) {
      this.#session.error("too_large", T.oversizedClosing());
      return "too_large";
    }
  }

  /** Answers a stream that never ends its line: a final error, then the connection closes. */
  unterminated(maxBytes: number): CloseReason {
    this.#limit("line_size", "too_large", T.noLineEnd(maxBytes));
    return "too_large";
  }

  /** A binary WebSocket frame: `bad_request`, counted as a bad line. */
  binary(): CloseReason | undefined {
    this.#session.health.lines++;
    const text = T.binaryFrame()[this.#deps.lang];
    this.#session.recorder?.in("", { error: { code: "bad_request", text } });
    this.#session.error("bad_request", T.binaryFrame());
    if (this.#bad.add()) {
      this.#session.error("bad_request", T.badLinesClosing());
      return "bad_input";
    }
  }

  /** A last error before the server closes the connection (timeouts), whatever the state. */
  finalError(code: ErrorCode, text: Text): void {
    this.#session.error(code, text);
  }

  /**
   * The server is stopping: an identified session gets a last `shutting_down` error and leaves
   * without an "offline" broadcast, so the error stays the last line every client receives.
   */
  shutdown(): void {
    this.#session.shutdown();
  }

  /**
   * Resolves once every request handled so far has its reply queued: requests are handled in
   * order, and the acks still owed are sent by the hub once their messages are durable.
   */
  settled(): Promise<void> {
    return this.#deps.flushed();
  }

  /** Ends the session: its name leaves the bus, and goes "offline" if it was its last session. */
  close(): void {
    this.#session.close();
  }

  /** A limit was hit: counted, and answered with its error. */
  #limit(
    limit: LimitName,
    code: ErrorCode,
    text: Text,
    id?: RequestId,
    extra?: Record<string, unknown>,
  ): void {
    this.#deps.events.emit({ type: "limit", limit });
    this.#session.error(code, text, id, extra);
  }
}

/** The server's reading of a request it parsed: its type, the limit it hit, a hint. */
function readingOf(req: Request, bytes: Uint8Array | undefined, limited: boolean): Reading {
  const reading: Reading = { request: req.type };
  if (limited) reading.limit = "message_rate";
  if (bytes && !isUtf8(bytes)) reading.hint = { kind: "encoding" };
  else if (req.type === "message" && isTypedCommand(req.fields.content)) {
    reading.hint = { kind: "command_as_chat" };
  }
  return reading;
}
