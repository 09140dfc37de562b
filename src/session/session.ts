// One connection as the chat sees it: who it is (anonymous, guest or user), its name on the bus,
// and its output, where its replies go in the order docs/protocol.md §12.1 and §4.6 ask.
import { getLogger } from "@logtape/logtape";
import { nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { type CloseReason, type ErrorCode, ProtocolError } from "../errors.ts";
import type { Events, Transport, WriteWatcher } from "../events.ts";
import type { Bus, Member, Output } from "../hub/bus.ts";
import { encodeBytes } from "../protocol/framing.ts";
import { errorReply, statusEvent } from "../protocol/replies.ts";
import type { RequestId } from "../protocol/schema.ts";
import { type Lang, T, type Text } from "../protocol/texts.ts";
import type { Account } from "../store/store.ts";
import type { GuestNames } from "./guest_names.ts";
import { type Inspection, ProtocolHealth, type Recorder } from "./inspection.ts";

const log = getLogger(["classcord", "session"]);

// Offline messages to a session that never said hello go one line at a time, this far apart
// and as far from its other lines (docs/protocol.md, section 4, Offline private messages): some
// clients keep only the last of the lines that arrive together, or read the login reply with one
// reader and then hand the socket to their chat window's.
const PACE_MS = 250;
// Replies to the session's own requests meanwhile push the next offline message back, by at most
// this much after the previous one: a client polling `users` cannot hold them back for good.
const PACE_MAX_MS = 1000;

/** Offline messages being paced out to a legacy session. */
interface Pacing {
  inbox: Inbox;
  /** Index of the next line to send. */
  next: number;
  /** performance.now() of the last line sent: the login reply, then each offline message. */
  lastAt: number;
  timer?: ReturnType<typeof setTimeout>;
}

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
export interface Origin {
  /** The client's IP address. */
  readonly address: string;
  /** How it came: `tcp`, `tls`, `ws`. */
  readonly transport: Transport;
  /** In `--trusted-addresses`: no per-address cap applies (docs/protocol.md §5.10). */
  readonly trusted: boolean;
}

/** What a session may ask of its connection. */
export interface ConnControl {
  /** Ends the connection once what is queued is written (kick, ban). */
  close(reason: CloseReason): void;
  /** A successful `register`: the time allowed to log in starts again (docs/protocol.md §5.6). */
  restartIdentifyTimer(): void;
}

/** A connection that asks nothing: for sessions driven by tests. */
export const NO_CONN_CONTROL: ConnControl = { close() {}, restartIdentifyTimer() {} };

/** Offline messages read at login, delivered after the login reply (docs/protocol.md §4.6). */
export interface Inbox {
  lines: Uint8Array[];
  /** Removes the delivered messages from the inbox (they stay in history). */
  clear(): Promise<void>;
}

/** Where a connection is in its life (docs/protocol.md §3). */
export type SessionState = "anonymous" | "guest" | "user" | "closed";

/** What a client needs from the server. */
export interface SessionDeps {
  bus: Bus;
  clock: Clock;
  events: Events;
  /** Language of the error texts (`--lang`). */
  lang: Lang;
  /** The guest names held, given back here when a guest leaves. */
  guestNames: GuestNames;
  /** The server's connections for the inspector (docs/protocol.md §11.8); none in some tests. */
  inspection?: Inspection;
}

/**
 * A connection's identity and output. Chat, accounts and moderation act on it; the bus queues
 * lines on its output directly.
 */
export class Session implements Member {
  /** Where its lines go: the connection's output, recorded while someone inspects it. */
  out: SessionOutput;
  /** The connection's output itself. */
  readonly rawOut: SessionOutput;
  readonly origin: Origin;
  /** Its number on this server, for the inspector; 0 without one. */
  readonly connId: number;
  /** Ms since the epoch when the connection opened. */
  readonly openedAt: number;
  /** What it sent and what it was answered, counted for the teacher console. */
  readonly health = new ProtocolHealth();
  /** Records its lines while it is inspected, or before it logs in. */
  recorder: Recorder | undefined;
  state: SessionState = "anonymous";
  /** Whether it said hello and so receives extension messages (docs/protocol.md §4.1). */
  helloed = false;
  name = "";
  key = "";
  /** The account a user session logged in to; none for guests and anonymous sessions. */
  account: Account | undefined;
  /** Ms since the epoch when it came online under its name. */
  since = 0;
  readonly #deps: SessionDeps;
  readonly #conn: ConnControl;
  // Offline messages being paced out after the login reply (see finishIdentify).
  #waiting: Pacing | undefined;

  constructor(deps: SessionDeps, out: SessionOutput, origin: Origin, conn: ConnControl) {
    this.#deps = deps;
    this.out = this.rawOut = out;
    this.origin = origin;
    this.#conn = conn;
    this.openedAt = deps.clock.now();
    this.connId = deps.inspection?.add(this) ?? 0;
  }

  /** Records every line written from now on to `recorder`, or stops recording. */
  record(recorder: Recorder | undefined): void {
    this.recorder = recorder;
    this.out = recorder ? new RecordedOutput(this.rawOut, recorder) : this.rawOut;
  }

  get transport(): Transport {
    return this.origin.transport;
  }

  get address(): string {
    return this.origin.address;
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
    this.#deps.inspection?.identified(this);
    log.info(kind === "guest" ? "Guest {user} from {remote}" : "Logged in {user} from {remote}", {
      user: name,
      remote: this.origin.address,
    });
  }

  /** Leaves the bus; the others hear "offline" when it was the name's last session. */
  leave(): void {
    this.#dropWaiting();
    if (!this.identified) return;
    this.#deps.events.emit({ type: "session_ended", kind: this.state as "guest" | "user" });
    if (this.#deps.bus.leave(this)) this.#announce("offline");
    log.info("Left {user} from {remote}", { user: this.name, remote: this.origin.address });
    // Off the bus first: the name is never free while the others still see it online.
    if (this.state === "guest") this.#deps.guestNames.release(this.key);
    this.state = "anonymous";
    this.account = undefined;
  }

  /** A successful `register`: the time allowed to log in starts again. */
  registered(): void {
    if (!this.identified) this.#conn.restartIdentifyTimer();
  }

  /**
   * Sends a reply; while offline messages are paced out, replies go ahead of them and push the
   * next one back.
   */
  reply(value: Record<string, unknown>): void {
    if (this.state === "closed") return;
    const line = encodeBytes(value);
    if (!this.#waiting) return this.out.send(line);
    this.out.pass(line);
    this.#pace(this.#waiting, performance.now());
  }

  /** Sends an error reply in the server's language, and counts it. */
  error(
    code: ErrorCode,
    text: Text,
    id?: RequestId,
    extra?: Readonly<Record<string, unknown>>,
  ): void {
    this.reply(this.errorReply(code, text, id, extra));
  }

  /** An error reply in the server's language, counted; not sent. */
  errorReply(
    code: ErrorCode,
    text: Text,
    id?: RequestId,
    extra?: Readonly<Record<string, unknown>>,
  ): Record<string, unknown> {
    const { events, lang, clock } = this.#deps;
    events.emit({ type: "error", code });
    this.health.answered(code, text[lang], clock.now());
    return errorReply(code, text[lang], { id, extra });
  }

  /** Answers a failed request with {@link errorFor}. */
  failed(err: unknown, id: RequestId | undefined): void {
    this.reply(this.errorFor(err, id));
  }

  /** The error reply to a failed request: the client's fault, or `server_busy` for a bug. */
  errorFor(err: unknown, id: RequestId | undefined): Record<string, unknown> {
    if (err instanceof ProtocolError) return this.errorReply(err.code, err.text, id, err.extra);
    log.error("Request failed for {remote}: {error}", { remote: this.origin.address, error: err });
    return this.errorReply("server_busy", T.serverError(), id);
  }

  /**
   * Sends the reply to register or login, which is always the very next line
   * (docs/protocol.md §12.1), then `notices` for a hello'd session (its running mute), and the
   * offline messages found at login. Sessions that said hello read one stream and get them at once,
   * right after the reply. To a legacy session they go one line at a time, {@link PACE_MS} apart
   * and as far from its other lines, live lines held behind them: a client may keep only the last
   * of the lines that arrive together, or read the reply with one reader and then hand the socket
   * to another, losing what the first had buffered (docs/protocol.md, section 4, Offline private
   * messages).
   */
  async finishIdentify(
    reply: Record<string, unknown>,
    inbox?: Inbox,
    notices: Uint8Array[] = [],
  ): Promise<void> {
    if (this.state === "closed") return;
    const waiting = inbox !== undefined && inbox.lines.length > 0;
    if (this.#waiting) return this.reply(reply);
    if (waiting && !this.helloed) {
      this.out.pass(encodeBytes(reply));
      const pacing: Pacing = { inbox, next: 0, lastAt: performance.now() };
      this.#waiting = pacing;
      this.#pace(pacing, pacing.lastAt);
      return;
    }
    this.out.release(encodeBytes(reply), ...notices, ...inbox?.lines ?? []);
    if (waiting) await this.#cleared(inbox);
  }

  /** Schedules the next paced line {@link PACE_MS} after `now`, within {@link PACE_MAX_MS}. */
  #pace(pacing: Pacing, now: number): void {
    clearTimeout(pacing.timer);
    const due = Math.min(now + PACE_MS, pacing.lastAt + PACE_MAX_MS);
    pacing.timer = setTimeout(() => this.#sendPaced(pacing), Math.max(0, due - performance.now()));
  }

  /**
   * Sends the next offline message alone (the inbox is emptied once the last is sent); once the
   * last has been alone for {@link PACE_MS}, the live lines held behind them follow.
   */
  #sendPaced(pacing: Pacing): void {
    if (this.#waiting !== pacing || this.state === "closed") return;
    const { inbox } = pacing;
    if (pacing.next < inbox.lines.length) {
      this.out.pass(inbox.lines[pacing.next++]);
      pacing.lastAt = performance.now();
      this.#pace(pacing, pacing.lastAt);
      // All sent: delivered once, whatever happens to the connection from now on.
      if (pacing.next === inbox.lines.length) this.#cleared(inbox);
      return;
    }
    this.#waiting = undefined;
    this.out.release();
  }

  /** Sends a last error, leaves and has the connection closed (an admin's kick or ban). */
  disconnect(code: ErrorCode, text: Text, extra?: Readonly<Record<string, unknown>>): void {
    this.error(code, text, undefined, extra);
    this.leave();
    this.state = "closed";
    this.#conn.close("kicked");
  }

  /** Ends the session: its name leaves the bus, and its inspectors are told. */
  close(): void {
    this.leave();
    this.state = "closed";
    this.#deps.inspection?.closed(this);
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
      if (this.state === "guest") this.#deps.guestNames.release(this.key);
    }
    this.state = "closed";
  }

  #announce(state: "online" | "offline"): void {
    this.#deps.bus.deliver({ all: true }, encodeBytes(statusEvent(this.name, state)), this);
  }

  /** Stops pacing offline messages out: they stay in the store for the next login. */
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

/**
 * A session's output while it is inspected: each line is recorded as it is sent, and lines held
 * during a login once they are released, in the order the client gets them.
 */
class RecordedOutput implements SessionOutput {
  readonly #inner: SessionOutput;
  readonly #recorder: Recorder;
  #held: Uint8Array[] | undefined;

  constructor(inner: SessionOutput, recorder: Recorder) {
    this.#inner = inner;
    this.#recorder = recorder;
  }

  send(line: Uint8Array, watcher?: WriteWatcher): void {
    if (this.#held) this.#held.push(line);
    else this.#recorder.out(line);
    this.#inner.send(line, watcher);
  }

  pass(line: Uint8Array): void {
    this.#recorder.out(line);
    this.#inner.pass(line);
  }

  hold(): void {
    this.#held ??= [];
    this.#inner.hold();
  }

  release(...first: Uint8Array[]): void {
    for (const line of [...first, ...this.#held ?? []]) this.#recorder.out(line);
    this.#held = undefined;
    this.#inner.release(...first);
  }
}
