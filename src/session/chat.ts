// The chat use cases of a session: posting a message (route, guest, mute, post, ack), status,
// users and who, channels and history.
import { isValidName, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { ProtocolError } from "../errors.ts";
import { type Events, FanoutTimer } from "../events.ts";
import type { Bus, Post } from "../hub/bus.ts";
import { type Channel, DEFAULT, parseChannel } from "../protocol/channel.ts";
import { encodeBytes } from "../protocol/framing.ts";
import {
  channelOk,
  channelsReply,
  conversationsReply,
  directoryReply,
  formatTimestamp,
  historyReply,
  moderationOk,
  readOk,
  statusEvent,
  statusOk,
  usersReply,
  whoReply,
} from "../protocol/replies.ts";
import { isPrivate, isTypedCommand, type Request } from "../protocol/schema.ts";
import { type Lang, T } from "../protocol/texts.ts";
import type {
  Account,
  AccountStore,
  Conversation,
  MessageStore,
  UserRecord,
} from "../store/store.ts";
import type { Accounts } from "./account.ts";
import type { Session } from "./session.ts";
import type { GuestNames } from "./guest_names.ts";
import type { Moderation } from "./moderation.ts";

type MessageRequest = Extract<Request, { type: "message" }>;
type Of<T extends Request["type"]> = Request & { type: T };
/** Where a message goes: a channel, or a name (with its account when it was not online). */
type Route = { channel: Channel } | { key: string; name: string; account?: UserRecord | null };

/** What chat needs from the server. */
export interface ChatDeps {
  bus: Bus;
  clock: Clock;
  /** History, conversations and read marks; of accounts, the directory and private recipients. */
  store: MessageStore & Pick<AccountStore, "getUser" | "findUsers">;
  events: Events;
  accounts: Accounts;
  moderation: Moderation;
  /** Whether an anonymous message makes a guest (`--guests`). */
  guests: boolean;
  /** The guest names held (see {@link Accounts.guestName}). */
  guestNames: GuestNames;
  /** Resolves once every message posted before the call is stored (history reads after it). */
  flushed(): Promise<void>;
  /** Language of the error texts (`--lang`): a message the hub could not store is refused in it. */
  lang: Lang;
}

/** Chat traffic through the bus; every line is encoded once, whatever the fan-out. */
export class Chat {
  readonly #deps: ChatDeps;
  // At most one timed fan-out per 10 ms: every message at a classroom's pace, 100 samples a
  // second under load, where timing each delivery would cost more than the delivery itself.
  #nextTimedAt = 0;

  constructor(deps: ChatDeps) {
    this.#deps = deps;
  }

  /**
   * `message`: routed, sent as a guest by an anonymous connection (docs/protocol.md §3.13),
   * refused while muted, then forwarded with `from`, `timestamp` and `seq` set by the server and
   * no echo (docs/protocol.md §3.3), and acknowledged once stored when it has an `id`
   * (docs/protocol.md §4.3). Posting to a channel joins it (docs/protocol.md §4.4); a private
   * message to a registered user who is offline waits in their inbox (docs/protocol.md §4.6).
   *
   * @throws {ProtocolError} as {@link route} does; `not_logged_in` without guests; the errors
   * of guest names; `forbidden` while muted
   */
  async post(session: Session, req: MessageRequest, receivedAt: number): Promise<void> {
    const { bus, clock, moderation } = this.#deps;
    if (session.state !== "user" && isTypedCommand(req.fields.content)) {
      // A console client that does not know the login request: the line holds a password,
      // about to reach the whole class. Never delivered, stored or logged (docs/protocol.md §3.13).
      throw new ProtocolError("not_logged_in", T.commandAsChat());
    }
    const route = await this.#route(session, req);
    if (!session.identified) await this.#becomeGuest(session, req.fields.from);
    moderation.requireNotMuted(session.key);
    if (!route || session.state === "closed") return;
    let to: Post["to"];
    if ("channel" in route) {
      to = route;
    } else if (bus.isOnline(route.key) || route.account) {
      to = { user: route.key, name: route.name, inbox: !bus.isOnline(route.key) };
    } else {
      // Online when routed, gone since, and no account: a guest who left; nobody to keep it for.
      if (req.id !== undefined) session.error("server_busy", T.notStored(), req.id);
      return;
    }
    // The hub acknowledges it once durable (docs/architecture.md, "The ack rule").
    bus.post({
      fields: req.fields,
      from: session.name,
      ts: clock.now(),
      to,
      except: session,
      timer: this.#timer(receivedAt),
      ack: req.id === undefined ? undefined : { id: req.id, lang: this.#deps.lang },
    });
  }

  /**
   * `announce`, for admins: a global message marked `announce: true`, so legacy clients show it
   * as a message from the teacher and new ones can highlight it; stored like any other.
   */
  announce(session: Session, req: Of<"announce">, receivedAt: number): void {
    this.#deps.moderation.requireAdmin(session.account, "announce");
    this.#deps.moderation.announced(session);
    const fields = { type: "message", subtype: "global", announce: true, content: req.content };
    this.#deps.bus.post({
      fields,
      from: session.name,
      ts: this.#deps.clock.now(),
      to: { channel: DEFAULT },
      except: session,
      timer: this.#timer(receivedAt),
    });
    session.reply(moderationOk("announce", {}, req.id));
  }

  /**
   * `status`: relayed verbatim to every other identified session; a hello'd session's request
   * with an `id` gets a direct reply, a legacy one nothing (docs/protocol.md §3.9, §11.3).
   */
  status(session: Session, req: Of<"status">): void {
    requireIdentified(session);
    this.#deps.moderation.requireNotMuted(session.key);
    this.#deps.bus.setState(session.key, req.state);
    const line = encodeBytes(statusEvent(session.name, req.state));
    this.#deps.bus.deliver({ all: true }, line, session);
    if (session.helloed && req.id !== undefined) session.reply(statusOk(req.state, req.id));
  }

  /**
   * `conversations`: the account's private conversations, the most recent first, each with its
   * last message and the number of messages from the partner not read yet (docs/protocol.md,
   * section 11).
   *
   * @throws {ProtocolError} `forbidden` for a guest: private history belongs to accounts
   */
  async conversations(session: Session, req: Of<"conversations">): Promise<void> {
    const account = requireAccount(session);
    await this.#deps.flushed();
    const list = await this.#deps.store.conversations(session.name, {
      limit: req.limit,
      after: req.after,
      since: account.createdAt,
    });
    session.reply(conversationsReply(
      list.map((c) => ({ with: c.partner, last: c.last.line, unread: c.unread })),
      req.id,
    ));
  }

  /**
   * `read`: the account read its conversation with `with` up to `seq`; its unread count starts
   * after it, on every session and after a reload. Always answered.
   *
   * @throws {ProtocolError} `forbidden` for a guest
   */
  async read(session: Session, req: Of<"read">): Promise<void> {
    requireAccount(session);
    await this.#deps.store.markRead(session.name, req.with, req.seq);
    session.reply(readOk(req.with, req.seq, req.id));
  }

  /** `directory`: registered names starting with `prefix`, for completion. */
  async directory(session: Session, req: Of<"directory">): Promise<void> {
    requireIdentified(session);
    const users = req.prefix.trim() === "" ? [] : await this.#deps.store.findUsers(
      req.prefix,
      req.limit,
    );
    session.reply(directoryReply(req.prefix, users, req.id));
  }

  /** `users`: each online name once, as plain strings; `details` for hello'd sessions. */
  users(session: Session, req: Of<"users">): void {
    const presence = this.#deps.bus.presence();
    const details = session.helloed
      ? presence.map((p) => ({
        user: p.name,
        state: p.state,
        guest: p.guest,
        since: formatTimestamp(p.since),
      }))
      : undefined;
    session.reply(usersReply(presence.map((p) => p.name), req.id, details));
  }

  /**
   * `who`: the names in a channel, each once, in the order they came (the default channel holds
   * everybody); `channel` echoes the request, the default channel without one.
   */
  who(session: Session, req: Of<"who">): void {
    const names = this.#deps.bus.members(parseChannel(req.channel).key);
    session.reply(whoReply(req.channel ?? DEFAULT.name, names, req.id));
  }

  /** `join` a channel (docs/protocol.md §4.4). */
  join(session: Session, req: Of<"join">): void {
    requireIdentified(session);
    const channel = parseChannel(req.channel);
    this.#deps.bus.joinChannel(session, channel);
    session.reply(channelOk("join", channel.name, req.id));
  }

  /**
   * `leave` a channel.
   *
   * @throws {ProtocolError} `forbidden` for the default channel, which holds every session
   */
  leave(session: Session, req: Of<"leave">): void {
    requireIdentified(session);
    const channel = parseChannel(req.channel);
    if (channel.key === DEFAULT.key) {
      throw new ProtocolError("forbidden", T.cannotLeaveDefault(DEFAULT.name));
    }
    this.#deps.bus.leaveChannel(session, channel.key);
    session.reply(channelOk("leave", channel.name, req.id));
  }

  /** `channels`, with their members online. */
  channels(session: Session, req: Of<"channels">): void {
    session.reply(channelsReply(this.#deps.bus.channels(), req.id));
  }

  /**
   * `history`: a page of a channel, or of the caller's private conversation `with` someone,
   * oldest first (docs/protocol.md §4.5). Messages still being stored are waited for. Private
   * history belongs to an account: guests have none, and an account sees nothing from before it
   * was created (a name registered again does not inherit an old conversation).
   *
   * @throws {ProtocolError} `forbidden` for a guest asking for a private conversation
   */
  async history(session: Session, req: Of<"history">): Promise<void> {
    requireIdentified(session);
    let of: Conversation;
    let since: number | undefined;
    if (req.with !== undefined) {
      if (!session.account) throw new ProtocolError("forbidden", T.privateHistoryNeedsAccount());
      of = { between: [session.name, req.with] };
      since = session.account.createdAt;
    } else {
      of = { channel: parseChannel(req.channel).name };
    }
    await this.#deps.flushed();
    const page = await this.#deps.store.history(of, {
      limit: req.limit,
      before: req.before,
      after: req.after,
      since,
    });
    session.reply(historyReply(page.messages.map((m) => m.line), page.more, req.id));
  }

  /**
   * Where a message goes, decided (and validated) before an anonymous sender becomes a guest.
   * Only sessions that said hello route by `channel` (docs/protocol.md §4.4): legacy clients add a
   * `channel` field of their own, kept verbatim, and their messages go to the default channel, to
   * everybody, as they always did.
   *
   * @throws {ProtocolError} `bad_request` for an invalid `channel`; `unknown_user` when a
   * private recipient is neither online nor registered and the sender gave an `id` or said hello
   */
  async #route(session: Session, req: MessageRequest): Promise<Route | undefined> {
    if (!isPrivate(req)) {
      return { channel: session.helloed ? parseChannel(req.fields.channel) : DEFAULT };
    }
    const name = req.to!;
    const key = nameKey(name);
    if (this.#deps.bus.isOnline(key)) return { key, name };
    // A name no account can have is not looked up (and cannot overflow a store key).
    const account = isValidName(name) ? await this.#deps.store.getUser(name) : null;
    if (!account && !this.#deps.bus.isOnline(key)) {
      // Legacy senders without an id are not answered, as the old server did
      // (docs/protocol.md §3.4).
      if (req.id === undefined && !session.helloed) return undefined;
      throw new ProtocolError("unknown_user", T.unknownUser(name));
    }
    return { key, name: account?.name ?? name, account };
  }

  /**
   * An anonymous connection's first message makes it a guest, named by its `from`
   * (docs/protocol.md §3.13), or the next free suffix of it when it is taken (`Pseudo2`).
   */
  async #becomeGuest(session: Session, from: unknown): Promise<void> {
    const { accounts, moderation, bus, guestNames } = this.#deps;
    if (!this.#deps.guests) throw new ProtocolError("not_logged_in", T.guestsOff());
    const base = accounts.guestBase(from);
    // A banned or muted name does not come back under a suffix of itself.
    await moderation.requireNotBanned(base);
    moderation.requireNotMuted(nameKey(base));
    for (;;) {
      const name = await accounts.guestName(base);
      const key = nameKey(name);
      // Claimed by this session from here: given back unless it joins under it.
      let joined = false;
      try {
        if (name !== base) {
          await moderation.requireNotBanned(name);
          moderation.requireNotMuted(key);
        }
        if (session.state === "closed") return;
        // Checked again now: a user may have logged in under the name while the store was read.
        if (bus.isOnline(key)) continue;
        session.join(name, "guest");
        joined = true;
        return;
      } finally {
        if (!joined) guestNames.release(key);
      }
    }
  }

  #timer(receivedAt: number): FanoutTimer | undefined {
    if (receivedAt < this.#nextTimedAt) return undefined;
    this.#nextTimedAt = receivedAt + 10;
    return new FanoutTimer(this.#deps.events, receivedAt);
  }
}

/**
 * The account of a logged-in user.
 *
 * @throws {ProtocolError} `not_logged_in` for an anonymous connection, `forbidden` for a guest
 */
function requireAccount(session: Session): Account {
  requireIdentified(session);
  if (!session.account) throw new ProtocolError("forbidden", T.privateHistoryNeedsAccount());
  return session.account;
}

/** @throws {ProtocolError} `not_logged_in` for a connection that is neither guest nor user */
export function requireIdentified(session: Session): void {
  if (!session.identified) throw new ProtocolError("not_logged_in", T.notLoggedIn());
}
