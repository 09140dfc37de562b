// One connection's state machine: anonymous → guest | user → closed, and request dispatch.
import { getLogger } from "@logtape/logtape";
import { nameKey } from "../auth/names.ts";
import type { Limits } from "../config.ts";
import { type CloseReason, type ErrorCode, ProtocolError } from "../errors.ts";
import type { Clock } from "../clock.ts";
import type { Hub } from "../hub/hub.ts";
import type { WriteWatcher } from "../hub/outbox.ts";
import type { Metrics } from "../metrics.ts";
import { encodeBytes } from "../protocol/encode.ts";
import {
  errorReply,
  helloReply,
  loginOk,
  moderationOk,
  pongReply,
  registerOk,
} from "../protocol/replies.ts";
import { parseRequest, readEnvelope, type Request, type RequestId } from "../protocol/schema.ts";
import type { Account } from "../store/store.ts";
import type { Accounts } from "./account.ts";
import { TokenBucket, WindowCounter } from "./limits.ts";
import type { Moderated, Moderation } from "./moderation.ts";
import type { Chat, Inbox, Sender } from "./chat.ts";

const log = getLogger(["classcord", "session"]);

/** Where a session's lines go: the connection's outbox, or a plain object in tests. */
export interface SessionOutput {
  send(line: Uint8Array, watcher?: WriteWatcher): void;
  /** Keeps later lines back until {@link release}. */
  hold(): void;
  /** Sends `first` lines, then the lines held back. */
  release(...first: Uint8Array[]): void;
}

/** What the `hello` reply tells a client (PROTOCOL B.1). */
export interface ServerInfo {
  version: string;
  features: string[];
  limits: Record<string, number>;
}

/** What a session needs from the rest of the server. */
export interface SessionDeps {
  hub: Hub;
  accounts: Accounts;
  chat: Chat;
  clock: Clock;
  info: ServerInfo;
  metrics: Metrics;
  limits: Limits;
  /** Whether an anonymous message makes a guest (`--guests`). */
  guests: boolean;
  moderation: Moderation;
}

// Requests that cost the server work count against the session's rate; a `users` poll, `ping`
// and `hello` never do (B.7: "a users poll every 3 s must always pass"), and register/login
// have limits of their own.
const UNCOUNTED = new Set(["users", "ping", "hello", "register", "login"]);
// Faults of the client's own making, counted against the bad-line budget.
const BAD_INPUT = new Set<ErrorCode>(["bad_json", "bad_request", "unknown_type"]);
// The windows of PROTOCOL B.7.
const TEN_SECONDS = 10_000;
const ONE_MINUTE = 60_000;

/** Where a connection is in its life (PROTOCOL A.3). */
export type SessionState = "anonymous" | "guest" | "user" | "closed";

/**
 * The protocol state of one connection, with no socket: lines in, encoded lines out.
 * Requests are handled one at a time, in order; a client fault becomes an `error` reply here and
 * nowhere else.
 */
export class Session implements Sender, Moderated {
  readonly #deps: SessionDeps;
  readonly #out: SessionOutput;
  readonly #remote: string;
  #state: SessionState = "anonymous";
  #helloed = false;
  #name = "";
  #key = "";
  #account: Account | undefined;
  readonly #bucket: TokenBucket;
  readonly #dropped: WindowCounter;
  readonly #bad: WindowCounter;
  readonly #oversized: WindowCounter;
  readonly #close: (reason: CloseReason) => void;

  /** `close` ends the connection once what is queued is written (kick, ban). */
  constructor(
    deps: SessionDeps,
    out: SessionOutput,
    remote: string,
    close: (reason: CloseReason) => void = () => {},
  ) {
    this.#deps = deps;
    this.#out = out;
    this.#remote = remote;
    this.#close = close;
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
    return this.#state;
  }

  get name(): string {
    return this.#name;
  }

  get key(): string {
    return this.#key;
  }

  /** The account a user session logged in to; none for guests and anonymous sessions. */
  get account(): Account | undefined {
    return this.#account;
  }

  /** Whether the session said hello and so receives extension messages (PROTOCOL B.1). */
  get helloed(): boolean {
    return this.#helloed;
  }

  /** Whether the session has a name (guest or user) and so receives broadcasts. */
  get identified(): boolean {
    return this.#state === "guest" || this.#state === "user";
  }

  deliver(line: Uint8Array, watcher?: WriteWatcher): void {
    this.#out.send(line, watcher);
  }

  reply(value: Record<string, unknown>): void {
    if (this.#state !== "closed") this.#out.send(encodeBytes(value));
  }

  /**
   * Handles one decoded line; never throws. Resolves with a close reason when the connection
   * must now be closed (its last line, an error, is already queued).
   */
  async handleLine(text: string): Promise<CloseReason | undefined> {
    if (this.#state === "closed" || text.trim() === "") return;
    const receivedAt = performance.now();
    let id: RequestId | undefined;
    try {
      const envelope = readEnvelope(text);
      id = envelope.id;
      const req = parseRequest(envelope);
      if (!UNCOUNTED.has(req.type) && !this.#bucket.take()) return this.#rateLimited(req.id);
      await this.#dispatch(req, receivedAt);
    } catch (err) {
      this.#out.send(encodeBytes(this.#errorFor(err, id)));
      if (err instanceof ProtocolError && BAD_INPUT.has(err.code) && this.#bad.add()) {
        this.#sendError("bad_request", "Too many bad lines: closing the connection");
        return "bad_input";
      }
    }
  }

  /** A request over the rate: `rate_limited`, and the connection closes if it keeps on. */
  #rateLimited(id: RequestId | undefined): CloseReason | undefined {
    const { metrics } = this.#deps;
    metrics.limitHit("message_rate");
    const retry = this.#bucket.retryAfterMs();
    this.#sendError("rate_limited", `Too many requests: wait ${retry} ms`, id, {
      retry_after_ms: retry,
    });
    if (this.#dropped.add()) {
      this.#sendError("rate_limited", "Too many requests: closing the connection");
      return "flood";
    }
  }

  /**
   * Answers a line that was over the size cap (its bytes were discarded unread); too many of them
   * close the connection.
   */
  tooLarge(maxBytes: number): CloseReason | undefined {
    this.#deps.metrics.limitHit("line_size");
    this.#sendError("too_large", `Line is longer than ${maxBytes} bytes`);
    if (this.#oversized.add()) {
      this.#sendError("too_large", "Too many oversized lines: closing the connection");
      return "too_large";
    }
  }

  /** Answers a stream that never ends its line: a final error, then the connection closes. */
  unterminated(maxBytes: number): CloseReason {
    this.#deps.metrics.limitHit("line_size");
    this.#sendError("too_large", `No line end in ${maxBytes} bytes: closing the connection`);
    return "too_large";
  }

  /** Sends a last error and has the connection closed (an admin's kick or ban). */
  disconnect(code: ErrorCode, message: string): void {
    this.#sendError(code, message);
    this.#leave();
    this.#state = "closed";
    this.#close("kicked");
  }

  /** A last error before the server closes the connection (timeouts), whatever the state. */
  finalError(code: ErrorCode, message: string): void {
    if (this.#state !== "closed") this.#sendError(code, message);
  }

  /**
   * The server is stopping: an identified session gets a last `shutting_down` error and leaves
   * without an "offline" broadcast, so the error stays the last line every client receives.
   */
  shutdown(): void {
    if (this.identified) {
      this.#sendError("shutting_down", "Server is shutting down");
      this.#deps.hub.leave(this);
      this.#deps.metrics.sessionEnded(this.#state as "guest" | "user");
    }
    this.#state = "closed";
  }

  /** Ends the session: its name leaves the hub, and goes "offline" if it was its last session. */
  close(): void {
    this.#leave();
    this.#state = "closed";
  }

  async #dispatch(req: Request, receivedAt: number): Promise<void> {
    const { chat, info, moderation } = this.#deps;
    switch (req.type) {
      case "register":
      case "login":
        return await this.#identify(req);
      case "message": {
        const route = await chat.route(this, req);
        if (!this.identified) {
          if (!this.#deps.guests) {
            throw new ProtocolError("not_logged_in", "Guests are not allowed here: log in first");
          }
          await this.#becomeGuest(req.fields.from);
        }
        moderation.requireNotMuted(this.#key);
        if (route && this.#state !== "closed") chat.message(this, req, route, receivedAt);
        return;
      }
      case "status":
        this.#requireIdentified();
        moderation.requireNotMuted(this.#key);
        return chat.status(this, req.state);
      case "kick":
        moderation.requireAdmin(this.#account, "kick");
        return this.reply(moderation.kick(req));
      case "mute":
        moderation.requireAdmin(this.#account, "mute");
        return this.reply(moderation.mute(req));
      case "ban":
        moderation.requireAdmin(this.#account, "ban");
        return this.reply(await moderation.ban(req));
      case "announce":
        moderation.requireAdmin(this.#account, "announce");
        chat.announce(this, req.content, undefined, receivedAt);
        return this.reply(moderationOk("announce", {}, req.id));
      case "users":
        return this.reply(chat.users(req.id, this.#helloed));
      case "hello":
        this.#helloed = true;
        return this.reply(helloReply(info, req.id));
      case "ping":
        return this.reply(pongReply(req.id));
      case "join":
        this.#requireIdentified();
        return this.reply(chat.join(this, req.channel, req.id));
      case "leave":
        this.#requireIdentified();
        return this.reply(chat.leave(this, req.channel, req.id));
      case "channels":
        return this.reply(chat.channels(req.id));
      case "history":
        this.#requireIdentified();
        return this.reply(await chat.history(this, req));
    }
  }

  /** register/login: the reply is the very next line on this connection (A.3). */
  async #identify(req: Extract<Request, { type: "register" | "login" }>): Promise<void> {
    const { accounts } = this.#deps;
    this.#out.hold();
    let reply: Record<string, unknown>;
    let user: Account | undefined;
    try {
      if (req.type === "register") {
        const created = await accounts.register(req.username, req.password, this.#remote);
        log.info("Registered {user} from {remote}", { user: created.name, remote: this.#remote });
        this.#deps.metrics.registration("ok");
        reply = registerOk(req.id);
      } else {
        const found = await accounts.login(req.username, req.password, this.#remote);
        await this.#deps.moderation.requireNotBanned(found.name);
        user = found; // only now: a refused login must not join
        this.#deps.metrics.login("ok");
        reply = loginOk(user.name, req.id);
      }
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : undefined;
      const { metrics } = this.#deps;
      const throttled = code === "rate_limited" || code === "forbidden";
      const fault = code === undefined || code === "server_busy";
      if (req.type === "login") {
        metrics.login(throttled ? "throttled" : fault ? "error" : "failed");
        if (code === "rate_limited") metrics.limitHit("login_failures");
      } else {
        metrics.registration(
          code === "user_exists" ? "exists" : throttled ? "throttled" : fault ? "error" : "invalid",
        );
        if (code === "rate_limited") metrics.limitHit("registrations");
      }
      if (code === "auth_failed") {
        log.info("Failed login for {user} from {remote}", {
          user: req.username.slice(0, 64), // any string: bounded in the log
          remote: this.#remote,
        });
      }
      reply = this.#errorFor(err, req.id);
    }
    if (this.#state === "closed") return;
    let inbox: Inbox | undefined;
    if (user && nameKey(user.name) !== this.#key) {
      // Joined while the outbox still holds: live lines queue behind the reply and the inbox.
      this.#leave();
      this.#join(user.name, "user");
      this.#account = user;
      log.info("Logged in {user} from {remote}", { user: user.name, remote: this.#remote });
      inbox = await this.#readInbox();
    }
    this.#out.release(encodeBytes(reply), ...inbox?.lines ?? []);
    if (inbox?.lines.length && this.state !== "closed") {
      await inbox.clear().catch((error) =>
        log.error("Cannot clear the inbox of {user}: {error}", { user: this.#name, error })
      );
    }
  }

  /** Offline messages for the user just logged in; none (they wait) if the store fails. */
  async #readInbox(): Promise<Inbox | undefined> {
    try {
      return await this.#deps.chat.inbox(this.#key);
    } catch (error) {
      log.error("Cannot read the inbox of {user}: {error}", { user: this.#name, error });
      return undefined;
    }
  }

  async #becomeGuest(from: unknown): Promise<void> {
    const name = await this.#deps.accounts.guestName(from);
    await this.#deps.moderation.requireNotBanned(name);
    // A muted name does not come online just to have its message refused.
    this.#deps.moderation.requireNotMuted(nameKey(name));
    if (this.#state === "closed") return;
    // Checked again now: another guest may have taken the name while the store was read.
    if (this.#deps.hub.isOnline(nameKey(name))) {
      throw new ProtocolError("name_taken", `Name "${name}" already exists`);
    }
    this.#join(name, "guest");
    log.info("Guest {user} from {remote}", { user: name, remote: this.#remote });
  }

  #join(name: string, state: "guest" | "user"): void {
    this.#name = name;
    this.#key = nameKey(name);
    this.#state = state;
    const now = this.#deps.clock.now();
    this.#deps.metrics.sessionStarted(state);
    if (this.#deps.hub.join(this, { guest: state === "guest", now })) {
      this.#deps.chat.presence(this, "online");
    }
  }

  #leave(): void {
    if (!this.identified) return;
    this.#deps.metrics.sessionEnded(this.#state as "guest" | "user");
    if (this.#deps.hub.leave(this)) this.#deps.chat.presence(this, "offline");
    log.info("Left {user} from {remote}", { user: this.#name, remote: this.#remote });
    this.#state = "anonymous";
    this.#account = undefined;
  }

  #requireIdentified(): void {
    if (!this.identified) {
      throw new ProtocolError("not_logged_in", "Log in (or send a message as a guest) first");
    }
  }

  #sendError(
    code: ErrorCode,
    message: string,
    id?: RequestId,
    extra?: Record<string, unknown>,
  ): void {
    this.#deps.metrics.error(code);
    this.#out.send(encodeBytes(errorReply(code, message, { id, extra })));
  }

  #errorFor(err: unknown, id: RequestId | undefined): Record<string, unknown> {
    if (err instanceof ProtocolError) {
      this.#deps.metrics.error(err.code);
      return errorReply(err.code, err.message, { id, extra: err.extra });
    }
    log.error("Request failed for {remote}: {error}", { remote: this.#remote, error: err });
    this.#deps.metrics.error("server_busy");
    return errorReply("server_busy", "Server error, please try again", { id });
  }
}
