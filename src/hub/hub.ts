// The in-process bus: the identified sessions of this server by name, the channels they joined,
// delivery of encoded lines to their outputs, and chat messages numbered, fanned out and queued
// for storage in one step.
import { getLogger } from "@logtape/logtape";
import type { ErrorCode } from "../errors.ts";
import type { Events, MessageKind } from "../events.ts";
import { type Channel, DEFAULT } from "../protocol/channel.ts";
import { encodeBytes } from "../protocol/encode.ts";
import { formatTimestamp, forwardedMessage } from "../protocol/replies.ts";
import type { Text } from "../protocol/texts.ts";
import type { Append } from "../store/store.ts";
import type { Audience, Bus, Member, Post, Presence, SessionInfo, Stored } from "./bus.ts";
import type { WriteWatcher } from "./outbox.ts";

const log = getLogger(["classcord", "session"]);

/** Where the in-process bus numbers messages and has them stored (the store's message log). */
export interface Journal {
  /** Reserves the next seq; seqs are handed out in order and never reused. */
  nextSeq(): number;
  /** Queues a numbered message for storage; `done` runs after its commit. */
  append(item: Append, done?: (error?: Error) => void): void;
}

interface Room {
  name: string;
  members: Set<Member>;
}

/**
 * Every identified session of this process, grouped by name, and the channels they joined;
 * every identified session is in the default channel. Lines are encoded once by the caller and
 * the same bytes are queued on every recipient's output; the hub never waits for any of them.
 */
export class Hub implements Bus {
  readonly #byKey = new Map<string, Set<Member>>();
  readonly #presence = new Map<string, Presence>();
  readonly #rooms = new Map<string, Room>();
  readonly #joined = new Map<Member, Set<string>>();
  readonly #journal: Journal;
  readonly #events: Events;

  constructor(deps: { journal: Journal; events: Events }) {
    this.#journal = deps.journal;
    this.#events = deps.events;
  }

  join(member: Member, info: { guest: boolean; now: number }): boolean {
    let sessions = this.#byKey.get(member.key);
    const first = sessions === undefined;
    if (!sessions) {
      this.#byKey.set(member.key, sessions = new Set());
      this.#presence.set(member.key, {
        name: member.name,
        state: "online",
        guest: info.guest,
        since: info.now,
      });
    }
    sessions.add(member);
    return first;
  }

  leave(member: Member): boolean {
    for (const key of this.#joined.get(member) ?? []) this.leaveChannel(member, key);
    this.#joined.delete(member);
    const sessions = this.#byKey.get(member.key);
    if (!sessions?.delete(member)) return false;
    if (sessions.size > 0) return false;
    this.#byKey.delete(member.key);
    this.#presence.delete(member.key);
    return true;
  }

  setState(key: string, state: string): void {
    const p = this.#presence.get(key);
    if (p) p.state = state;
  }

  /** The state a name last announced, if it is online here. */
  stateOf(key: string): string | undefined {
    return this.#presence.get(key)?.state;
  }

  isOnline(key: string): boolean {
    return this.#byKey.has(key);
  }

  displayName(key: string): string | undefined {
    return this.#presence.get(key)?.name;
  }

  presence(): Presence[] {
    return [...this.#presence.values()];
  }

  sessions(): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const [key, members] of this.#byKey) {
      const { name, guest, state } = this.#presence.get(key)!;
      for (const m of members) {
        out.push({
          user: name,
          guest,
          state,
          transport: m.transport,
          address: m.address,
          since: m.since,
        });
      }
    }
    return out;
  }

  joinChannel(member: Member, channel: Channel): void {
    if (channel.key === DEFAULT.key) return;
    let room = this.#rooms.get(channel.key);
    if (!room) this.#rooms.set(channel.key, room = { name: channel.name, members: new Set() });
    room.members.add(member);
    let joined = this.#joined.get(member);
    if (!joined) this.#joined.set(member, joined = new Set());
    joined.add(channel.key);
  }

  leaveChannel(member: Member, key: string): void {
    const room = this.#rooms.get(key);
    if (!room) return;
    room.members.delete(member);
    this.#joined.get(member)?.delete(key);
    if (room.members.size === 0) this.#rooms.delete(key);
  }

  channels(): { name: string; members: number }[] {
    const out = [{ name: DEFAULT.name, members: this.#byKey.size }];
    for (const room of this.#rooms.values()) {
      out.push({ name: room.name, members: new Set([...room.members].map((m) => m.key)).size });
    }
    return out;
  }

  members(channelKey: string): string[] {
    if (channelKey === DEFAULT.key) return [...this.#presence.values()].map((p) => p.name);
    const room = this.#rooms.get(channelKey);
    return room ? [...new Set([...room.members].map((m) => m.name))] : [];
  }

  deliver(to: Audience, line: Uint8Array, except?: Member, watcher?: WriteWatcher): number {
    let count = 0;
    if ("user" in to) {
      for (const m of this.#byKey.get(to.user) ?? []) {
        if (m !== except && (!to.helloed || m.helloed)) m.out.send(line, watcher), count++;
      }
    } else if ("channel" in to && to.channel !== DEFAULT.key) {
      for (const m of this.#rooms.get(to.channel)?.members ?? []) {
        if (m !== except) m.out.send(line, watcher), count++;
      }
    } else {
      for (const sessions of this.#byKey.values()) {
        for (const m of sessions) {
          if (m !== except) m.out.send(line, watcher), count++;
        }
      }
    }
    return count;
  }

  disconnect(
    key: string,
    code: ErrorCode,
    text: Text,
    extra?: Readonly<Record<string, unknown>>,
  ): number {
    const sessions = [...this.#byKey.get(key) ?? []];
    for (const m of sessions) m.disconnect(code, text, extra);
    return sessions.length;
  }

  post(post: Post, stored?: Stored): void {
    const { to, ts, except, timer } = post;
    const seq = this.#journal.nextSeq();
    const timestamp = formatTimestamp(ts);
    const line = forwardedMessage(post.fields, post.from, timestamp, seq);
    let kind: MessageKind = "private";
    let deliveries = 0;
    let item: Append;
    if ("channel" in to) {
      kind = to.channel.key === DEFAULT.key ? "global" : "channel";
      if (except) this.joinChannel(except, to.channel);
      deliveries = this.deliver({ channel: to.channel.key }, encodeBytes(line), except, timer);
      item = { message: { seq, ts, channel: to.channel.name, line } };
    } else if (to.inbox) {
      item = { message: { seq, ts, channel: null, to: to.name, line }, inbox: to.user };
    } else {
      deliveries = this.deliver(to, encodeBytes(line), except, timer);
      item = {
        message: { seq, ts, channel: null, to: this.displayName(to.user) ?? to.name, line },
      };
    }
    timer?.arm(deliveries);
    this.#events.emit({ type: "message", kind });
    if (deliveries > 0) this.#events.emit({ type: "delivered", count: deliveries });
    // Metadata only: never the content (STYLE.md).
    log.debug("Message {seq} ({kind}) from {user} to {deliveries} sessions", {
      seq,
      kind,
      user: post.from,
      deliveries,
    });
    this.#journal.append(item, stored && ((error) => stored(seq, timestamp, error)));
  }
}
