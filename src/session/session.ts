// One connection's requests: parsing, the per-connection limits, dispatch, and the one place a
// client fault becomes an `error` reply.
import type { Limits } from "../config.ts";
import { type CloseReason, type ErrorCode, ProtocolError } from "../errors.ts";
import type { Events, LimitName } from "../events.ts";
import { helloReply, pongReply } from "../protocol/replies.ts";
import { parseRequest, readEnvelope, type Request, type RequestId } from "../protocol/schema.ts";
import { T, type Text } from "../protocol/texts.ts";
import type { Accounts } from "./account.ts";
import type { Chat } from "./chat.ts";
import type { Console } from "./console.ts";
import {
  Client,
  type ClientDeps,
  type Connection,
  NO_CONNECTION,
  type Peer,
  type SessionOutput,
  type SessionState,
} from "./client.ts";
import { TokenBucket, WindowCounter } from "./limits.ts";
import type { Moderation } from "./moderation.ts";

/** What the `hello` reply tells a client (docs/protocol.md §4.1). */
export interface ServerInfo {
  version: string;
  features: string[];
  limits: Record<string, number>;
}

/** What a session needs from the rest of the server. */
export interface SessionDeps extends ClientDeps {
  accounts: Accounts;
  chat: Chat;
  console: Console;
  moderation: Moderation;
  info: ServerInfo;
  limits: Limits;
  events: Events;
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
export class Session {
  readonly #deps: SessionDeps;
  readonly #client: Client;
  readonly #bucket: TokenBucket;
  readonly #dropped: WindowCounter;
  readonly #bad: WindowCounter;
  readonly #oversized: WindowCounter;
  #understood = false;

  constructor(deps: SessionDeps, out: SessionOutput, peer: Peer, conn = NO_CONNECTION) {
    this.#deps = deps;
    this.#client = new Client(deps, out, peer, conn as Connection);
    const { clock, limits } = deps;
    this.#bucket = new TokenBucket(clock, {
      burst: limits.rateBurst,
      perSecond: limits.ratePerSecond,
    });
    this.#dropped = new WindowCounter(clock, { max: limits.maxDropped, windowMs: TEN_SECONDS });
    this.#bad = new WindowCounter(clock, { max: limits.maxBadLines, windowMs: TEN_SECONDS });
    this.#oversized = new WindowCounter(clock, {
      max: limits.maxOversizedLines - 1, // the last one allowed closes
      windowMs: ONE_MINUTE,
    });
  }

  get state(): SessionState {
    return this.#client.state;
  }

  get name(): string {
    return this.#client.name;
  }

  /** Whether the session has a name (guest or user) and so receives broadcasts. */
  get identified(): boolean {
    return this.#client.identified;
  }

  /** Whether a request of this connection parsed (it speaks the protocol, if not yet logged in). */
  get understood(): boolean {
    return this.#understood;
  }

  /** Whether the session said hello and so receives extension messages (docs/protocol.md §4.1). */
  get helloed(): boolean {
    return this.#client.helloed;
  }

  /**
   * Handles one decoded line; never throws. Resolves with a close reason when the connection
   * must now be closed (its last line, an error, is already queued).
   */
  async handleLine(text: string): Promise<CloseReason | undefined> {
    const client = this.#client;
    if (client.state === "closed" || text.trim() === "") return;
    const receivedAt = performance.now();
    let id: RequestId | undefined;
    try {
      const envelope = readEnvelope(text);
      id = envelope.id;
      const req = parseRequest(envelope);
      this.#understood = true;
      if (!UNCOUNTED.has(req.type) && !this.#bucket.take()) return this.#rateLimited(req.id);
      await this.#dispatch(req, receivedAt);
    } catch (err) {
      client.failed(err, id);
      if (err instanceof ProtocolError && BAD_INPUT.has(err.code) && this.#bad.add()) {
        client.error("bad_request", T.badLinesClosing());
        return "bad_input";
      }
    }
  }

  #dispatch(req: Request, receivedAt: number): Promise<void> | void {
    const { accounts, chat, moderation, info, console } = this.#deps;
    const client = this.#client;
    switch (req.type) {
      case "register":
        return accounts.register(client, req);
      case "login":
        return accounts.login(client, req);
      case "resume":
        return accounts.resume(client, req);
      case "message":
        return chat.post(client, req, receivedAt);
      case "status":
        return chat.status(client, req);
      case "users":
        return chat.users(client, req);
      case "who":
        return chat.who(client, req);
      case "join":
        return chat.join(client, req);
      case "leave":
        return chat.leave(client, req);
      case "channels":
        return chat.channels(client, req);
      case "history":
        return chat.history(client, req);
      case "announce":
        return chat.announce(client, req, receivedAt);
      case "kick":
        return moderation.kick(client, req);
      case "mute":
        return moderation.mute(client, req);
      case "ban":
        return moderation.ban(client, req);
      case "unban":
        return moderation.unban(client, req);
      case "unmute":
        return moderation.unmute(client, req);
      case "mutes":
        return moderation.mutes(client, req);
      case "conversations":
        return chat.conversations(client, req);
      case "read":
        return chat.read(client, req);
      case "directory":
        return chat.directory(client, req);
      case "bans":
        return moderation.bans(client, req);
      case "sessions":
        return console.sessions(client, req);
      case "stats":
        return console.stats(client, req);
      case "export_ticket":
        return console.exportTicket(client, req);
      case "hello":
        client.helloed = true;
        return client.reply(helloReply(info, req.id));
      case "ping":
        return client.reply(pongReply(req.id));
    }
  }

  /** A request over the rate: `rate_limited`, and the connection closes if it keeps on. */
  #rateLimited(id: RequestId | undefined): CloseReason | undefined {
    const retry = this.#bucket.retryAfterMs();
    this.#limit("message_rate", "rate_limited", T.rateWait(retry), id, { retry_after_ms: retry });
    if (this.#dropped.add()) {
      this.#client.error("rate_limited", T.rateClosing());
      return "flood";
    }
  }

  /**
   * Answers a line that was over the size cap (its bytes were discarded unread); too many of them
   * close the connection.
   */
  tooLarge(maxBytes: number): CloseReason | undefined {
    this.#limit("line_size", "too_large", T.lineTooLong(maxBytes));
    if (this.#oversized.add()) {
      this.#client.error("too_large", T.oversizedClosing());
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
    this.#client.error("bad_request", T.binaryFrame());
    if (this.#bad.add()) {
      this.#client.error("bad_request", T.badLinesClosing());
      return "bad_input";
    }
  }

  /** A last error before the server closes the connection (timeouts), whatever the state. */
  finalError(code: ErrorCode, text: Text): void {
    this.#client.error(code, text);
  }

  /**
   * The server is stopping: an identified session gets a last `shutting_down` error and leaves
   * without an "offline" broadcast, so the error stays the last line every client receives.
   */
  shutdown(): void {
    this.#client.shutdown();
  }

  /** Resolves once every request handled so far has its reply queued (acks after commits). */
  settled(): Promise<void> {
    return this.#client.settled();
  }

  /** Ends the session: its name leaves the bus, and goes "offline" if it was its last session. */
  close(): void {
    this.#client.close();
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
    this.#client.error(code, text, id, extra);
  }
}
