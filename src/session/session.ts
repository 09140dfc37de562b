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
import { type Lang, T, type Text } from "../protocol/texts.ts";
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
  /** Sends a line now, ahead of the lines held back, which stay held. */
  pass(line: Uint8Array): void;
  /** Sends `first` lines, then the lines held back. */
  release(...first: Uint8Array[]): void;
}

/** Who is at the other end of a connection, as the transport saw it. */
export interface Peer {
  /** The client's IP address. */
  readonly address: string;
  /** Whether the address is in `--trusted-addresses`: no per-address caps (PROTOCOL B.7). */
  readonly trusted: boolean;
}

/** What a session may ask of its connection. */
export interface Connection {
  /** Ends the connection once what is queued is written (kick, ban). */
  close(reason: CloseReason): void;
  /** A successful `register`: the time allowed to log in starts again (PROTOCOL B.7). */
  restartIdentifyTimer(): void;
}

const NO_CONNECTION: Connection = { close() {}, restartIdentifyTimer() {} };

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
  /** Language of the error texts (`--lang`). */
  lang: Lang;
}

// Requests that cost the server work count against the session's rate; a `users` or `who` poll,
// `ping` and `hello` never do (B.7: "a users poll every 3 s must always pass"), and
// register/login have limits of their own.
const UNCOUNTED = new Set(["users", "who", "ping", "hello", "register", "login"]);
// Faults of the client's own making, counted against the bad-line budget.
const BAD_INPUT = new Set<ErrorCode>(["bad_json", "bad_request", "unknown_type"]);
// The windows of PROTOCOL B.7.
const TEN_SECONDS = 10_000;
const ONE_MINUTE = 60_000;
// How long offline messages wait for a legacy session's next request before they are sent
// anyway (PROTOCOL B.6): time for a client to hand the socket to its chat window's reader.
const INBOX_DELAY_MS = 1000;

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
  readonly #peer: Peer;
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
  readonly #conn: Connection;
  // Offline messages kept back until the next request or INBOX_DELAY_MS (see #identify).
  #waiting: { inbox: Inbox; timer: ReturnType<typeof setTimeout> } | undefined;

  constructor(deps: SessionDeps, out: SessionOutput, peer: Peer, conn = NO_CONNECTION) {
    this.#deps = deps;
    this.#out = out;
    this.#peer = peer;
    this.#remote = peer.address;
    this.#conn = conn;
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
    if (this.#state !== "closed") this.#send(encodeBytes(value));
  }

  error(code: ErrorCode, text: Text, id?: RequestId): void {
    if (this.#state !== "closed") this.#sendError(code, text, id);
  }

  /**
   * Handles one decoded line; never throws. Resolves with a close reason when the connection
   * must now be closed (its last line, an error, is already queued).
   */
  async handleLine(text: string): Promise<CloseReason | undefined> {
    if (this.#state === "closed" || text.trim() === "") return;
    const receivedAt = performance.now();
    let id: RequestId | undefined;
    // Offline messages kept back at login go out after this request's reply.
    const waiting = this.#waiting;
    try {
      const envelope = readEnvelope(text);
      id = envelope.id;
      const req = parseRequest(envelope);
      if (!UNCOUNTED.has(req.type) && !this.#bucket.take()) return this.#rateLimited(req.id);
      await this.#dispatch(req, receivedAt);
    } catch (err) {
      this.#send(encodeBytes(this.#errorFor(err, id)));
      if (err instanceof ProtocolError && BAD_INPUT.has(err.code) && this.#bad.add()) {
        this.#sendError("bad_request", T.badLinesClosing());
        return "bad_input";
      }
    } finally {
      if (waiting && waiting === this.#waiting) this.#deliverWaiting();
    }
  }

  /** A request over the rate: `rate_limited`, and the connection closes if it keeps on. */
  #rateLimited(id: RequestId | undefined): CloseReason | undefined {
    const { metrics } = this.#deps;
    metrics.limitHit("message_rate");
    const retry = this.#bucket.retryAfterMs();
    this.#sendError("rate_limited", T.rateWait(retry), id, { retry_after_ms: retry });
    if (this.#dropped.add()) {
      this.#sendError("rate_limited", T.rateClosing());
      return "flood";
    }
  }

  /**
   * Answers a line that was over the size cap (its bytes were discarded unread); too many of them
   * close the connection.
   */
  tooLarge(maxBytes: number): CloseReason | undefined {
    this.#deps.metrics.limitHit("line_size");
    this.#sendError("too_large", T.lineTooLong(maxBytes));
    if (this.#oversized.add()) {
      this.#sendError("too_large", T.oversizedClosing());
      return "too_large";
    }
  }

  /** Answers a stream that never ends its line: a final error, then the connection closes. */
  unterminated(maxBytes: number): CloseReason {
    this.#deps.metrics.limitHit("line_size");
    this.#sendError("too_large", T.noLineEnd(maxBytes));
    return "too_large";
  }

  /** Sends a last error and has the connection closed (an admin's kick or ban). */
  disconnect(code: ErrorCode, text: Text): void {
    this.#sendError(code, text);
    this.#leave();
    this.#state = "closed";
    this.#conn.close("kicked");
  }

  /** A last error before the server closes the connection (timeouts), whatever the state. */
  finalError(code: ErrorCode, text: Text): void {
    if (this.#state !== "closed") this.#sendError(code, text);
  }

  /**
   * The server is stopping: an identified session gets a last `shutting_down` error and leaves
   * without an "offline" broadcast, so the error stays the last line every client receives.
   */
  shutdown(): void {
    if (this.identified) {
      this.#sendError("shutting_down", T.shuttingDown());
      this.#deps.hub.leave(this);
      this.#deps.metrics.sessionEnded(this.#state as "guest" | "user");
    }
    this.#dropWaiting();
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
            throw new ProtocolError("not_logged_in", T.guestsOff());
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
      case "who":
        return this.reply(chat.who(req.channel, req.id));
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
        const created = await accounts.register(req.username, req.password, this.#peer);
        log.info("Registered {user} from {remote}", { user: created.name, remote: this.#remote });
        this.#deps.metrics.registration("ok");
        // The student now reads the screen, then logs in: the time allowed starts again.
        if (!this.identified) this.#conn.restartIdentifyTimer();
        reply = registerOk(req.id);
      } else {
        const found = await accounts.login(req.username, req.password, this.#peer);
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
    if (this.#waiting || (inbox?.lines.length && !this.#helloed)) {
      // A legacy client may read this reply with one reader, then hand the socket to its chat
      // window's reader: lines read along with the reply would be lost with the first one. The
      // reply goes alone; the offline messages (and what comes live meanwhile) wait for the
      // next request's reply, or INBOX_DELAY_MS (PROTOCOL B.6). Sessions that said hello read
      // one stream and get them at once.
      this.#out.pass(encodeBytes(reply));
      if (inbox?.lines.length) this.#keepWaiting(inbox);
      return;
    }
    this.#out.release(encodeBytes(reply), ...inbox?.lines ?? []);
    if (inbox?.lines.length) await this.#cleared(inbox);
  }

  #keepWaiting(inbox: Inbox): void {
    const timer = setTimeout(() => this.#deliverWaiting(), INBOX_DELAY_MS);
    this.#waiting = { inbox, timer };
  }

  /** Sends the offline messages kept back at login, then the lines held behind them. */
  #deliverWaiting(): void {
    const waiting = this.#waiting;
    if (!waiting) return;
    this.#dropWaiting();
    if (this.#state === "closed") return;
    this.#out.release(...waiting.inbox.lines);
    this.#cleared(waiting.inbox);
  }

  /** Forgets offline messages kept back: they stay in the store for the next login. */
  #dropWaiting(): void {
    if (!this.#waiting) return;
    clearTimeout(this.#waiting.timer);
    this.#waiting = undefined;
  }

  /** Removes delivered offline messages from the store (they stay in history). */
  async #cleared(inbox: Inbox): Promise<void> {
    if (this.#state === "closed") return;
    await inbox.clear().catch((error) =>
      log.error("Cannot clear the inbox of {user}: {error}", { user: this.#name, error })
    );
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
      throw new ProtocolError("name_taken", T.nameTaken(name));
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
    this.#dropWaiting();
    if (!this.identified) return;
    this.#deps.metrics.sessionEnded(this.#state as "guest" | "user");
    if (this.#deps.hub.leave(this)) this.#deps.chat.presence(this, "offline");
    log.info("Left {user} from {remote}", { user: this.#name, remote: this.#remote });
    this.#state = "anonymous";
    this.#account = undefined;
  }

  #requireIdentified(): void {
    if (!this.identified) {
      throw new ProtocolError("not_logged_in", T.notLoggedIn());
    }
  }

  /** Queues a line; while offline messages wait, replies go ahead of them. */
  #send(line: Uint8Array): void {
    if (this.#waiting) this.#out.pass(line);
    else this.#out.send(line);
  }

  #sendError(
    code: ErrorCode,
    text: Text,
    id?: RequestId,
    extra?: Record<string, unknown>,
  ): void {
    this.#deps.metrics.error(code);
    this.#send(encodeBytes(errorReply(code, text[this.#deps.lang], { id, extra })));
  }

  #errorFor(err: unknown, id: RequestId | undefined): Record<string, unknown> {
    const { lang, metrics } = this.#deps;
    if (err instanceof ProtocolError) {
      metrics.error(err.code);
      return errorReply(err.code, err.text[lang], { id, extra: err.extra });
    }
    log.error("Request failed for {remote}: {error}", { remote: this.#remote, error: err });
    metrics.error("server_busy");
    return errorReply("server_busy", T.serverError()[lang], { id });
  }
}
