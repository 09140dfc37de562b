// Chat requests of identified sessions: messages (routed, stored, acknowledged), status, users,
// channels, history and offline delivery.
import { isValidName, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { type ErrorCode, ProtocolError } from "../errors.ts";
import type { Hub, Member } from "../hub/hub.ts";
import { getLogger } from "@logtape/logtape";
import { FanoutTimer, type Metrics } from "../metrics.ts";
import { type Channel, DEFAULT, parseChannel } from "../protocol/channel.ts";
import { encodeBytes } from "../protocol/encode.ts";
import {
  ackReply,
  channelOk,
  channelsReply,
  formatTimestamp,
  forwardedMessage,
  historyReply,
  statusEvent,
  usersReply,
  whoReply,
} from "../protocol/replies.ts";
import { isPrivate, type Request, type RequestId } from "../protocol/schema.ts";
import { T, type Text } from "../protocol/texts.ts";
import type { MessageLog } from "../store/message_log.ts";
import type { Account, Conversation, Store, UserRecord } from "../store/store.ts";

const log = getLogger(["classcord", "session"]);

type MessageRequest = Extract<Request, { type: "message" }>;
type HistoryRequest = Extract<Request, { type: "history" }>;

/** A session as chat needs it: a hub member that can be answered later (acks). */
export interface Sender extends Member {
  /** Whether the session said hello and so receives extension replies (PROTOCOL B.1). */
  readonly helloed: boolean;
  /** Sends a reply now, unless the session has closed. */
  reply(value: Record<string, unknown>): void;
  /** Sends an error reply now, in the server's language, unless the session has closed. */
  error(code: ErrorCode, text: Text, id?: RequestId): void;
}

/**
 * Where a message goes, decided (and validated) before anything is sent: a channel, or a private
 * recipient with their account when they were not online (null: no such account).
 */
export type Route =
  | { channel: Channel }
  | { to: string; key: string; account?: UserRecord | null };

/** Offline messages read at login, delivered right after the login reply (PROTOCOL B.6). */
export interface Inbox {
  lines: Uint8Array[];
  /** Removes the delivered messages from the inbox (they stay in history). */
  clear(): Promise<void>;
}

/** Routes chat traffic through the hub; every line is encoded once, whatever the fan-out. */
export class Chat {
  readonly #hub: Hub;
  readonly #clock: Clock;
  readonly #store: Store;
  readonly #log: MessageLog;
  readonly #metrics: Metrics;

  constructor(deps: { hub: Hub; clock: Clock; store: Store; log: MessageLog; metrics: Metrics }) {
    this.#hub = deps.hub;
    this.#clock = deps.clock;
    this.#store = deps.store;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
  }

  /**
   * Decides where a message goes, before an anonymous sender becomes a guest. Only sessions that
   * said hello route by `channel` (B.4): legacy clients add a `channel` field of their own, kept
   * verbatim, and their messages go to the default channel, to everybody, as they always did.
   *
   * @throws {ProtocolError} `bad_request` for an invalid `channel`; `unknown_user` when a
   * private recipient is neither online nor registered and the sender gave an `id` or said hello
   */
  async route(sender: { helloed: boolean }, req: MessageRequest): Promise<Route | undefined> {
    if (!isPrivate(req)) {
      return { channel: sender.helloed ? parseChannel(req.fields.channel) : DEFAULT };
    }
    const to = req.to!;
    const key = nameKey(to);
    if (this.#hub.isOnline(key)) return { to, key };
    const account = await this.#registered(to);
    if (!account && !this.#hub.isOnline(key)) {
      // Legacy senders without an id are not answered, as the old server did (B.6).
      if (req.id === undefined && !sender.helloed) return undefined;
      throw new ProtocolError("unknown_user", T.unknownUser(to));
    }
    return { to, key, account };
  }

  /**
   * Forwards a message with `from`, `timestamp` and `seq` set by the server, no echo (A.2), then
   * queues it for storage; a message with an `id` is acknowledged once stored (B.3). A channel
   * message goes to the channel's members, and posting joins the channel (B.4). A private
   * message to a registered user who is offline waits in their inbox (B.6). Nothing here waits:
   * the seq, the fan-out and the queueing happen in one step.
   */
  message(sender: Sender, req: MessageRequest, route: Route, receivedAt: number): void {
    const ts = this.#clock.now();
    const timestamp = formatTimestamp(ts);
    const seq = this.#log.nextSeq();
    const line = forwardedMessage(req.fields, sender.name, timestamp, seq);
    const done = this.#acker(sender, req.id, seq, timestamp);
    const timer = this.#sampleLatency(receivedAt);
    if ("channel" in route) {
      this.#hub.joinChannel(sender, route.channel);
      const n = this.#hub.publish(route.channel.key, encodeBytes(line), sender, timer);
      timer?.arm(n);
      const kind = route.channel.key === DEFAULT.key ? "global" : "channel";
      this.#metrics.message(kind, n);
      // Metadata only: never the content (STYLE.md).
      log.debug("Message {seq} ({kind}) from {user} to {deliveries} sessions", {
        seq,
        kind,
        user: sender.name,
        deliveries: n,
      });
      this.#log.append({ message: { seq, ts, channel: route.channel.name, line } }, done);
      return;
    }
    const online = this.#hub.displayName(route.key);
    if (online !== undefined) {
      const n = this.#hub.sendTo(route.key, encodeBytes(line), sender, timer);
      timer?.arm(n);
      this.#metrics.message("private", n);
      log.debug("Message {seq} (private) from {user} to {deliveries} sessions", {
        seq,
        user: sender.name,
        deliveries: n,
      });
      this.#log.append({ message: { seq, ts, channel: null, to: online, line } }, done);
    } else if (route.account) {
      this.#metrics.message("private", 0);
      log.debug("Message {seq} (private) from {user} stored for an offline user", {
        seq,
        user: sender.name,
      });
      this.#log.append(
        { message: { seq, ts, channel: null, to: route.account.name, line }, inbox: route.key },
        done,
      );
    } else {
      // Online when routed, gone since, and no account: a guest who left; nobody to keep it for.
      this.#acker(sender, req.id, seq, timestamp)?.(new Error("recipient left"));
    }
  }

  /**
   * An admin's announcement: a global message marked `announce: true`, so legacy clients show it
   * as a message from the teacher and new ones can highlight it; stored like any other.
   */
  announce(sender: Sender, content: string, id: RequestId | undefined, receivedAt: number): void {
    const fields = { type: "message", subtype: "global", announce: true, content };
    this.message(
      sender,
      { type: "message", fields, content, id },
      { channel: DEFAULT },
      receivedAt,
    );
  }

  // At most one timed fan-out per 10 ms: every message at a classroom's pace, 100 samples a
  // second under load, where timing each delivery would cost more than the delivery itself.
  #nextTimedAt = 0;

  #sampleLatency(receivedAt: number): FanoutTimer | undefined {
    if (receivedAt < this.#nextTimedAt) return undefined;
    this.#nextTimedAt = receivedAt + 10;
    return new FanoutTimer(this.#metrics, receivedAt);
  }

  /** Relays a presence state verbatim to every other identified session. */
  status(sender: Member, state: string): void {
    this.#hub.setState(sender.key, state);
    this.#hub.broadcast(encodeBytes(statusEvent(sender.name, state)), sender);
  }

  /** Announces that a name came online or went offline. */
  presence(member: Member, state: "online" | "offline"): void {
    this.#hub.broadcast(encodeBytes(statusEvent(member.name, state)), member);
  }

  /** The `users` reply: each online name once, as plain strings; `details` for hello'd sessions. */
  users(id: RequestId | undefined, helloed: boolean): Record<string, unknown> {
    const details = helloed
      ? this.#hub.presence().map((p) => ({
        user: p.name,
        state: p.state,
        guest: p.guest,
        since: formatTimestamp(p.since),
      }))
      : undefined;
    return usersReply(this.#hub.names(), id, details);
  }

  /**
   * The `who` reply: the names in a channel, each once, in the order they came (the default
   * channel holds everybody); `channel` echoes the request, the default channel without one.
   */
  who(raw: string | undefined, id?: RequestId): Record<string, unknown> {
    const channel = parseChannel(raw);
    const names = channel.key === DEFAULT.key ? this.#hub.names() : this.#hub.members(channel.key);
    return whoReply(raw ?? DEFAULT.name, names, id);
  }

  /** Joins a channel (PROTOCOL B.4). */
  join(member: Member, raw: string, id?: RequestId): Record<string, unknown> {
    const channel = parseChannel(raw);
    this.#hub.joinChannel(member, channel);
    return channelOk("join", channel.name, id);
  }

  /**
   * Leaves a channel.
   *
   * @throws {ProtocolError} `forbidden` for the default channel, which holds every session
   */
  leave(member: Member, raw: string, id?: RequestId): Record<string, unknown> {
    const channel = parseChannel(raw);
    if (channel.key === DEFAULT.key) {
      throw new ProtocolError("forbidden", T.cannotLeaveDefault(DEFAULT.name));
    }
    this.#hub.leaveChannel(member, channel.key);
    return channelOk("leave", channel.name, id);
  }

  /** Channels with their members online. */
  channels(id?: RequestId): Record<string, unknown> {
    return channelsReply(this.#hub.channels(), id);
  }

  /**
   * A page of a channel's history, or of the caller's private conversation `with` someone,
   * oldest first (PROTOCOL B.5). Messages still being committed are waited for. Private history
   * belongs to an account: guests have none, and an account sees nothing from before it was
   * created (a name registered again does not inherit an old conversation).
   *
   * @throws {ProtocolError} `forbidden` for a guest asking for a private conversation
   */
  async history(
    member: Member & { account?: Account },
    req: HistoryRequest,
  ): Promise<Record<string, unknown>> {
    let of: Conversation;
    let since: number | undefined;
    if (req.with !== undefined) {
      if (!member.account) {
        throw new ProtocolError("forbidden", T.privateHistoryNeedsAccount());
      }
      of = { between: [member.key, nameKey(req.with)] };
      since = member.account.createdAt;
    } else {
      of = { channel: parseChannel(req.channel).name };
    }
    await this.#log.flushed();
    const page = await this.#store.history(of, { limit: req.limit, before: req.before, since });
    return historyReply(page.messages.map((m) => m.line), page.more, req.id);
  }

  /**
   * Reads a user's offline messages, after every message queued before the call is stored (a
   * message sent just before the user came online is then either live or in the inbox).
   */
  async inbox(key: string): Promise<Inbox> {
    await this.#log.flushed();
    const messages = await this.#store.inbox(key);
    return {
      lines: messages.map((m) => encodeBytes(m.line)),
      clear: () => this.#store.clearInbox(key, messages.map((m) => m.seq)),
    };
  }

  async #registered(name: string) {
    // A name no account can have is not looked up (and cannot overflow a store key).
    return isValidName(name) ? await this.#store.getUser(name) : null;
  }

  #acker(sender: Sender, id: RequestId | undefined, seq: number, timestamp: string) {
    if (id === undefined) return undefined;
    return (error?: Error) =>
      error
        ? sender.error("server_busy", T.notStored(), id)
        : sender.reply(ackReply(id, seq, timestamp));
  }
}
