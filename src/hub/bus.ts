// The bus seam: how chat, accounts and moderation reach sessions — fan-out, presence and private
// delivery — without knowing where those sessions are. One in-process implementation (Hub); a
// cluster implementation can take its place without touching sessions.
import type { ErrorCode } from "../errors.ts";
import type { FanoutTimer, WriteWatcher } from "../events.ts";
import type { Channel } from "../protocol/channel.ts";
import type { RequestId } from "../protocol/schema.ts";
import type { Lang, Text } from "../protocol/texts.ts";

/** Where an identified session's lines are queued: its connection's outbox. */
export interface Output {
  /** Queues one encoded line (shared between recipients, never modified); never blocks. */
  send(line: Uint8Array, watcher?: WriteWatcher): void;
}

/** An identified session as the bus sees it. */
export interface Member {
  /** Case-folded name (`nameKey`); several sessions of one user share it. */
  readonly key: string;
  /** Display name. */
  readonly name: string;
  /** The session's output: the bus queues each line there itself. */
  readonly out: Output;
  /** How the session's connection came: `tcp`, `tls`, `ws`. */
  readonly transport: string;
  /** The client's address. */
  readonly address: string;
  /** Ms since the epoch when this session came online. */
  readonly since: number;
  /** Whether it said hello, and so may receive extension lines (docs/protocol.md §4.1). */
  readonly helloed: boolean;
  /** Sends a last error (with `extra` fields), then closes the session (a kick or a ban). */
  disconnect(code: ErrorCode, text: Text, extra?: Readonly<Record<string, unknown>>): void;
}

/** What the bus knows of an online name (docs/protocol.md §3.7 `details`). */
export interface Presence {
  name: string;
  state: string;
  guest: boolean;
  /** Milliseconds since the epoch when the name's first session came online. */
  since: number;
}

/** One identified session, as the teacher console lists it. */
export interface SessionInfo {
  user: string;
  guest: boolean;
  state: string;
  transport: string;
  address: string;
  since: number;
}

/**
 * Who receives a line: every identified session, a channel's members, or one name's sessions
 * (only those that said hello, for an extension line).
 */
export type Audience = { all: true } | { channel: string } | { user: string; helloed?: true };

/** A chat message to number, deliver and store (docs/protocol.md §3.6, §4.3, §4.6). */
export interface Post {
  /** The request's fields, all forwarded (docs/protocol.md §3.6). */
  fields: Record<string, unknown>;
  /** The sender's name. */
  from: string;
  /** When the server received it, in ms since the epoch. */
  ts: number;
  /**
   * Where it goes: a channel, or one name's sessions; `inbox` keeps it for that name, who is
   * offline, until the next login.
   */
  to: { channel: Channel } | { user: string; name: string; inbox: boolean };
  /** The sender's session: no echo, and posting joins a channel (docs/protocol.md §3.3, §4.4). */
  except?: Member;
  /** Told of each recipient's write (fan-out latency), when this message is timed. */
  timer?: FanoutTimer;
  /**
   * The request's id and the sender's language: the sender (`except`) is sent its `ack` once the
   * message is durable, or `server_busy` when it could not be stored (docs/protocol.md §4.3).
   */
  ack?: { id: RequestId; lang: Lang };
}

/** Fan-out, presence and private delivery across every session of the chat. */
export interface Bus {
  /** Adds an identified session; true when it is the first under its name (say "online"). */
  join(member: Member, info: { guest: boolean; now: number }): boolean;
  /** Removes a session from its name and channels; true when it was the name's last. */
  leave(member: Member): boolean;
  /** Records the state a name last announced. */
  setState(key: string, state: string): void;
  /** Whether any session is online under a case-folded name. */
  isOnline(key: string): boolean;
  /** The display name online under a case-folded name, if any. */
  displayName(key: string): string | undefined;
  /** Each online name once (with its presence), in the order they came online. */
  presence(): Presence[];
  /** Every identified session (several per name), by name in the order they came online. */
  sessions(): SessionInfo[];
  /** Adds a session to a channel (the default channel holds everybody already). */
  joinChannel(member: Member, channel: Channel): void;
  /** Removes a session from a channel. */
  leaveChannel(member: Member, key: string): void;
  /** Channels with their number of distinct names online, the default first. */
  channels(): { name: string; members: number }[];
  /** The distinct names in a channel, in the order they came (everybody for the default). */
  members(channelKey: string): string[];
  /**
   * Queues an encoded line on every session of the audience but `except`; returns the number
   * of sessions it was queued on. `watcher` is told of each write (fan-out latency).
   */
  deliver(to: Audience, line: Uint8Array, except?: Member, watcher?: WriteWatcher): number;
  /**
   * Sends a last error (with `extra` fields) to every session of a name and closes them; returns
   * how many.
   */
  disconnect(
    key: string,
    code: ErrorCode,
    text: Text,
    extra?: Readonly<Record<string, unknown>>,
  ): number;
  /**
   * Gives a chat message its seq, queues it on its recipients with `from`, `timestamp` and
   * `seq` set, and stores it; with an `id`, the sender is acknowledged once it is durable (never
   * before). A sender posting to a channel joins it. Nothing here waits.
   */
  post(post: Post): void;
}
