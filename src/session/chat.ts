// Chat requests of identified sessions: messages (routed, stored, acknowledged), status, users,
// channels, history and offline delivery.
import { checkName, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { ProtocolError } from "../errors.ts";
import type { Hub, Member } from "../hub/hub.ts";
import { type Channel, DEFAULT, parseChannel } from "../protocol/channel.ts";
import { encodeBytes } from "../protocol/encode.ts";
import {
  ackReply,
  channelOk,
  channelsReply,
  errorReply,
  formatTimestamp,
  forwardedMessage,
  historyReply,
  statusEvent,
  usersReply,
} from "../protocol/replies.ts";
import { isPrivate, type Request, type RequestId } from "../protocol/schema.ts";
import type { MessageLog } from "../store/message_log.ts";
import type { Store } from "../store/store.ts";

type MessageRequest = Extract<Request, { type: "message" }>;
type HistoryRequest = Extract<Request, { type: "history" }>;

/** A session as chat needs it: a hub member that can be answered later (acks). */
export interface Sender extends Member {
  /** Whether the session said hello and so receives extension replies (PROTOCOL B.1). */
  readonly helloed: boolean;
  /** Sends a reply now, unless the session has closed. */
  reply(value: Record<string, unknown>): void;
}

/** Where a message goes, decided (and validated) before anything is sent. */
export type Route = { to: string } | { channel: Channel };

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

  constructor(deps: { hub: Hub; clock: Clock; store: Store; log: MessageLog }) {
    this.#hub = deps.hub;
    this.#clock = deps.clock;
    this.#store = deps.store;
    this.#log = deps.log;
  }

  /**
   * Validates where a message goes, before an anonymous sender becomes a guest.
   *
   * @throws {ProtocolError} `bad_request` for an invalid `channel`
   */
  route(req: MessageRequest): Route {
    if (isPrivate(req)) return { to: req.to! };
    return { channel: parseChannel(req.fields.channel) };
  }

  /**
   * Forwards a message with `from`, `timestamp` and `seq` set by the server, no echo (A.2), then
   * stores it; a message with an `id` is acknowledged once stored (B.3). A channel message goes
   * to the channel's members, and posting joins the channel (B.4). A private message to a
   * registered user who is offline waits in their inbox (B.6).
   *
   * @throws {ProtocolError} `unknown_user` when a private recipient is neither online nor
   * registered and the sender gave an `id` or said hello (legacy senders are not answered)
   */
  async message(sender: Sender, req: MessageRequest, route: Route): Promise<void> {
    const ts = this.#clock.now();
    const timestamp = formatTimestamp(ts);
    if ("to" in route) {
      const toKey = nameKey(route.to);
      let to = this.#hub.displayName(toKey);
      let inbox: string | undefined;
      if (to === undefined) {
        const user = await this.#registered(route.to);
        to = this.#hub.displayName(toKey); // online meanwhile: deliver live
        if (to === undefined) {
          if (!user) {
            if (req.id === undefined && !sender.helloed) return;
            throw new ProtocolError("unknown_user", `User "${route.to}" does not exist`);
          }
          to = user.name;
          inbox = toKey;
        }
      }
      // From here on nothing awaits: the seq, the fan-out and the queueing happen together.
      const seq = this.#log.nextSeq();
      const line = forwardedMessage(req.fields, sender.name, timestamp, seq);
      if (inbox === undefined) this.#hub.sendTo(toKey, encodeBytes(line), sender);
      this.#log.append(
        { message: { seq, ts, channel: null, to, line }, inbox },
        this.#acker(sender, req.id, seq, timestamp),
      );
      return;
    }
    const { channel } = route;
    this.#hub.joinChannel(sender, channel);
    const seq = this.#log.nextSeq();
    const line = forwardedMessage(req.fields, sender.name, timestamp, seq);
    this.#hub.publish(channel.key, encodeBytes(line), sender);
    this.#log.append(
      { message: { seq, ts, channel: channel.name, line } },
      this.#acker(sender, req.id, seq, timestamp),
    );
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
      throw new ProtocolError(
        "forbidden",
        `Cannot leave "${DEFAULT.name}": every session is in it`,
      );
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
   * oldest first (PROTOCOL B.5). Messages still being committed are waited for.
   */
  async history(member: Member, req: HistoryRequest): Promise<Record<string, unknown>> {
    const of = req.with !== undefined
      ? { between: [member.key, nameKey(req.with)] as [string, string] }
      : { channel: parseChannel(req.channel).name };
    await this.#log.flushed();
    const page = await this.#store.history(of, { limit: req.limit, before: req.before });
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
    try {
      checkName(name);
    } catch {
      return null; // a name no account can have
    }
    return await this.#store.getUser(name);
  }

  #acker(sender: Sender, id: RequestId | undefined, seq: number, timestamp: string) {
    if (id === undefined) return undefined;
    return (error?: Error) =>
      sender.reply(
        error
          ? errorReply("server_busy", "Message could not be stored, send it again", { id })
          : ackReply(id, seq, timestamp),
      );
  }
}
