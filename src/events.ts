// What the server's parts report as they work: small typed events. Sessions, the hub, the message
// log and the transports emit them; observers (the metrics module) subscribe. No Prometheus here.
import type { CloseReason, ErrorCode } from "./errors.ts";

/** How a client reached the server. */
export const TRANSPORTS = ["tcp", "tls", "ws"] as const;
/** How a client reached the server. */
export type Transport = typeof TRANSPORTS[number];
/** An identified session's kind. */
export type SessionKind = "user" | "guest";
/** A message's kind: to the default channel, to another channel, or private. */
export type MessageKind = "global" | "channel" | "private";
/** How a login attempt ended: wrong credentials, refused by a limit or a ban, or a server fault. */
export type LoginResult = "ok" | "failed" | "throttled" | "error";
/** How a registration ended. */
export type RegistrationResult = "ok" | "exists" | "invalid" | "throttled" | "error";

/** The limits of docs/protocol.md §5 whose hits are counted. */
export const LIMIT_NAMES = [
  "line_size",
  "send_queue",
  "write_deadline",
  "message_rate",
  "bad_lines",
  "login_failures",
  "registrations",
  "identify_timeout",
  "anonymous_connections",
  "idle_timeout",
  "connections",
  "web_origin",
  "proxy_header",
] as const;
/** A limit of docs/protocol.md §5 that was hit. */
export type LimitName = typeof LIMIT_NAMES[number];

/** One thing that happened. */
export type ServerEvent =
  | { type: "connection_opened"; transport: Transport }
  | { type: "connection_closed"; transport: Transport; reason: CloseReason }
  | { type: "session_started" | "session_ended"; kind: SessionKind }
  | { type: "login"; result: LoginResult }
  | { type: "registration"; result: RegistrationResult }
  | { type: "message"; kind: MessageKind }
  /** Lines queued to recipient sessions by one fan-out, one per recipient. */
  | { type: "delivered"; count: number }
  /** An error reply was sent. */
  | { type: "error"; code: ErrorCode }
  | { type: "limit"; limit: LimitName }
  | { type: "bytes_in" | "bytes_out"; bytes: number }
  /** From a message's receipt to its write to the last recipient (or that one's cut-off). */
  | { type: "fanout_latency"; seconds: number }
  /** One group commit of messages to the store. */
  | { type: "commit"; seconds: number; messages: number };

/** Where a part reports what happened. */
export interface Events {
  emit(event: ServerEvent): void;
}

/** Reports nowhere: for tools and tests that observe nothing. */
export const NO_EVENTS: Events = { emit() {} };

/** Hands every event to each subscriber, in the order they subscribed. */
export class EventStream implements Events {
  #listeners: ((event: ServerEvent) => void)[] = [];

  /** Calls `listener` with every event from now on; the returned function stops it. */
  subscribe(listener: (event: ServerEvent) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => this.#listeners = this.#listeners.filter((l) => l !== listener);
  }

  emit(event: ServerEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}

/** Told when a line it was queued with has been written (for fan-out latency). */
export interface WriteWatcher {
  written(): void;
}

/**
 * Counts the writes of one fan-out and reports its latency when the last recipient's write is
 * done. Armed after the fan-out loop, when the number of recipients is known.
 */
export class FanoutTimer implements WriteWatcher {
  #remaining = 0;
  #armed = false;

  /** `receivedAt`: performance.now() when the message was read. */
  constructor(readonly events: Events, readonly receivedAt: number) {}

  /** Called by an outbox once the line is written. */
  written(): void {
    if (--this.#remaining === 0 && this.#armed) this.#done();
  }

  /** Sets the number of recipients, after the fan-out loop and before any write completes. */
  arm(recipients: number): void {
    this.#armed = true;
    this.#remaining += recipients;
  }

  #done(): void {
    const seconds = (performance.now() - this.receivedAt) / 1000;
    this.events.emit({ type: "fanout_latency", seconds });
  }
}
