// One connection as the chat sees it: who it is (anonymous, guest or user), its name on the bus,
// and its output, where its replies go in the order PROTOCOL A.3 and B.6 ask.
import { getLogger } from "@logtape/logtape";
import { nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { type CloseReason, type ErrorCode, ProtocolError } from "../errors.ts";
import type { Events, Transport } from "../events.ts";
import type { Bus, Member, Output } from "../hub/bus.ts";
import { encodeBytes } from "../protocol/encode.ts";
import { errorReply, statusEvent } from "../protocol/replies.ts";
import type { RequestId } from "../protocol/schema.ts";
import { type Lang, T, type Text } from "../protocol/texts.ts";
import type { Account } from "../store/store.ts";

const log = getLogger(["classcord", "session"]);

// How long offline messages wait for a legacy session's next request before they are sent
// anyway (PROTOCOL B.6): time for a client to hand the socket to its chat window's reader.
const INBOX_DELAY_MS = 1000;

/** Where a session's lines go: the connection's outbox, or a plain object in tests. */
export interface SessionOutput extends Output {
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
  /** How it came: `tcp`, `tls`, `ws`. */
  readonly transport: Transport;
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

/** A connection that asks nothing: for sessions driven by tests. */
export const NO_CONNECTION: Connection = { close() {}, restartIdentifyTimer() {} };

/** Offline messages read at login, delivered after the login reply (PROTOCOL B.6). */
export interface Inbox {
  lines: Uint8Array[];
  /** Removes the delivered messages from the inbox (they stay in history). */
  clear(): Promise<void>;
}

/** Where a connection is in its life (PROTOCOL A.3). */
export type SessionState = "anonymous" | "guest" | "user" | "closed";

/** What a client needs from the server. */
export interface ClientDeps {
  bus: Bus;
  clock: Clock;
  events: Events;
  /** Language of the error texts (`--lang`). */
  lang: Lang;
}

/**
 * A connection's identity and output. Chat, accounts and moderation act on it; the bus queues
 * lines on its output directly.
 */
export class Client implements Member {
  readonly out: SessionOutput;
  readonly peer: Peer;
  state: SessionState = "anonymous";
  /** Whether it said hello and so receives extension messages (PROTOCOL B.1). */
  helloed = false;
  name = "";
  key = "";
  /** The account a user session logged in to; none for guests and anonymous sessions. */
  account: Account | undefined;
  /** Ms since the epoch when it came online under its name. */
  since = 0;
  readonly #deps: ClientDeps;
  readonly #conn: Connection;
  // Offline messages kept back until the next request or INBOX_DELAY_MS (see finishIdentify).
  #waiting: { inbox: Inbox; timer: ReturnType<typeof setTimeout> } | undefined;
  // Replies that come after their request was handled (an ack, after its commit), and who waits
  // for the last of them.
  #owed = 0;
  #whenPaid: (() => void)[] = [];

  constructor(deps: ClientDeps, out: SessionOutput, peer: Peer, conn: Connection) {
    this.#deps = deps;
    this.out = out;
    this.peer = peer;
    this.#conn = conn;
  }

  get transport(): Transport {
    return this.peer.transport;
  }

  get address(): string {
    return this.peer.address;
  }

  /** Whether it has a name (guest or user) and so receives broadcasts. */
  get identified(): boolean {
    return this.state === "guest" || this.state === "user";
  }

  /** Comes online under `name`; the others hear "online" when it is the name's first session. */
  join(name: string, kind: "guest" | "user", account?: Account): void {
    const { bus, clock, events } = this.#deps;
    this.name = name;
    this.key = nameKey(name);
    this.state = kind;
    this.account = account;
    this.since = clock.now();
    events.emit({ type: "session_started", kind });
    if (bus.join(this, { guest: kind === "guest", now: clock.now() })) this.#announce("online");
    log.info(kind === "guest" ? "Guest {user} from {remote}" : "Logged in {user} from {remote}", {
      user: name,
      remote: this.peer.address,
    });
  }

  /** Leaves the bus; the others hear "offline" when it was the name's last session. */
  leave(): void {
    this.#dropWaiting();
    if (!this.identified) return;
    this.#deps.events.emit({ type: "session_ended", kind: this.state as "guest" | "user" });
    if (this.#deps.bus.leave(this)) this.#announce("offline");
    log.info("Left {user} from {remote}", { user: this.name, remote: this.peer.address });
    this.state = "anonymous";
    this.account = undefined;
  }

  /** A successful `register`: the time allowed to log in starts again. */
  registered(): void {
    if (!this.identified) this.#conn.restartIdentifyTimer();
  }

  /** Sends a reply; while offline messages wait, replies go ahead of them. */
  reply(value: Record<string, unknown>): void {
    if (this.state === "closed") return;
    const line = encodeBytes(value);
    if (this.#waiting) this.out.pass(line);
    else this.out.send(line);
  }

  /**
   * A reply that will be sent after its request is handled (an `ack`); the function returned is
   * called once it is queued (once; later calls do nothing).
   */
  owe(): () => void {
    this.#owed++;
    let paid = false;
    return () => {
      if (paid) return;
      paid = true;
      if (--this.#owed > 0) return;
      const waiters = this.#whenPaid;
      this.#whenPaid = [];
      for (const wake of waiters) wake();
    };
  }

  /** Resolves once no reply is owed (see {@link owe}). */
  settled(): Promise<void> {
    if (this.#owed === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenPaid.push(resolve));
  }

  /** Sends an error reply in the server's language, and counts it. */
  error(code: ErrorCode, text: Text, id?: RequestId, extra?: Record<string, unknown>): void {
    this.reply(this.errorReply(code, text, id, extra));
  }

  /** An error reply in the server's language, counted; not sent. */
  errorReply(
    code: ErrorCode,
    text: Text,
    id?: RequestId,
    extra?: Readonly<Record<string, unknown>>,
  ): Record<string, unknown> {
    this.#deps.events.emit({ type: "error", code });
    return errorReply(code, text[this.#deps.lang], { id, extra });
  }

  /** Answers a failed request with {@link errorFor}. */
  failed(err: unknown, id: RequestId | undefined): void {
    this.reply(this.errorFor(err, id));
  }

  /** The error reply to a failed request: the client's fault, or `server_busy` for a bug. */
  errorFor(err: unknown, id: RequestId | undefined): Record<string, unknown> {
    if (err instanceof ProtocolError) return this.errorReply(err.code, err.text, id, err.extra);
    log.error("Request failed for {remote}: {error}", { remote: this.peer.address, error: err });
    return this.errorReply("server_busy", T.serverError(), id);
  }

  /**
   * Sends the reply to register or login, which is always the very next line (PROTOCOL A.3),
   * and the offline messages found at login. A legacy client may read that reply with one reader,
   * then hand the socket to its chat window's reader: lines read along with the reply would be
   * lost with the first. So the reply goes alone, and the offline messages (and what comes live
   * meanwhile) wait for the next request's reply, or INBOX_DELAY_MS (PROTOCOL B.6). Sessions that
   * said hello read one stream and get them at once.
   */
  async finishIdentify(reply: Record<string, unknown>, inbox?: Inbox): Promise<void> {
    if (this.state === "closed") return;
    const waiting = inbox !== undefined && inbox.lines.length > 0;
    if (this.#waiting || (waiting && !this.helloed)) {
      this.out.pass(encodeBytes(reply));
      if (waiting) {
        this.#waiting = { inbox, timer: setTimeout(() => this.#deliverWaiting(), INBOX_DELAY_MS) };
      }
      return;
    }
    this.out.release(encodeBytes(reply), ...inbox?.lines ?? []);
    if (waiting) await this.#cleared(inbox);
  }

  /** Offline messages kept back at login, if any (see {@link answered}). */
  get waiting(): object | undefined {
    return this.#waiting;
  }

  /**
   * A request was answered: the offline messages that were kept back when it came (`waiting`,
   * read before it) go out now, after its reply.
   */
  answered(waiting: object | undefined): void {
    if (waiting !== undefined && waiting === this.#waiting) this.#deliverWaiting();
  }

  /** Sends a last error, leaves and has the connection closed (an admin's kick or ban). */
  disconnect(code: ErrorCode, text: Text): void {
    this.error(code, text);
    this.leave();
    this.state = "closed";
    this.#conn.close("kicked");
  }

  /** Ends the session: its name leaves the bus. */
  close(): void {
    this.leave();
    this.state = "closed";
  }

  /**
   * The server is stopping: an identified session gets a last `shutting_down` error and leaves
   * without an "offline" broadcast, so the error stays the last line every client receives.
   */
  shutdown(): void {
    this.#dropWaiting();
    if (this.identified) {
      this.error("shutting_down", T.shuttingDown());
      this.#deps.bus.leave(this);
      this.#deps.events.emit({ type: "session_ended", kind: this.state as "guest" | "user" });
    }
    this.state = "closed";
  }

  #announce(state: "online" | "offline"): void {
    this.#deps.bus.deliver({ all: true }, encodeBytes(statusEvent(this.name, state)), this);
  }

  /** Sends the offline messages kept back at login, then the lines held behind them. */
  #deliverWaiting(): void {
    const waiting = this.#waiting;
    if (!waiting) return;
    this.#dropWaiting();
    if (this.state === "closed") return;
    this.out.release(...waiting.inbox.lines);
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
    if (this.state === "closed") return;
    await inbox.clear().catch((error) =>
      log.error("Cannot clear the inbox of {user}: {error}", { user: this.name, error })
    );
  }
}
