// The in-process bus: the identified sessions of this server by name, the channels they joined,
// delivery of encoded lines to their outputs, and chat messages handed to the message log, then
// formatted, fanned out and acknowledged here whichever log numbers and stores them.
import { getLogger } from "@logtape/logtape";
import type { ErrorCode } from "../errors.ts";
import type { Events, MessageKind, WriteWatcher } from "../events.ts";
import { type Channel, DEFAULT } from "../protocol/channel.ts";
import { encodeBytes } from "../protocol/framing.ts";
import { ackReply, errorReply, formatTimestamp, forwardedMessage } from "../protocol/replies.ts";
import { T, type Text } from "../protocol/texts.ts";
import type { Append } from "../store/store.ts";
import type { Audience, Bus, Member, Post, Presence, SessionInfo } from "./bus.ts";
import type { Draft, Local, LogReader, MessageLog } from "./message_log.ts";

const log = getLogger(["classcord", "session"]);

interface Room {
  name: string;
  members: Set<Member>;
}

/**
 * A name's sessions here: the one session alone, as nearly every name has, or a Set once it has
 * several; a Set per name cost ~0.17 KB per logged-in connection (docs/benchmarks.md, "Memory").
 */
type Sessions = Member | Set<Member>;

/** The sessions of `sessions` (none when undefined), to iterate off the fan-out path. */
function each(sessions: Sessions | undefined): Iterable<Member> {
  return sessions === undefined ? [] : sessions instanceof Set ? sessions : [sessions];
}

/**
 * Every identified session of this process, grouped by name, and the channels they joined;
 * every identified session is in the default channel. Lines are encoded once by the caller and
 * the same bytes are queued on every recipient's output; the hub never waits for any of them.
 */
export class Hub implements Bus, LogReader {
  readonly #byKey = new Map<string, Sessions>();
  readonly #presence = new Map<string, Presence>();
  readonly #rooms = new Map<string, Room>();
  readonly #joined = new Map<Member, Set<string>>();
  readonly #log: MessageLog;
  readonly #events: Events;

  /** `log` numbers and stores the chat messages; this hub formats and fans out what it numbers. */
  constructor(deps: { log: MessageLog; events: Events }) {
    this.#log = deps.log;
    this.#events = deps.events;
    deps.log.attach(this);
  }

  join(member: Member, info: { guest: boolean; now: number }): boolean {
    const sessions = this.#byKey.get(member.key);
    if (sessions === undefined) {
      this.#byKey.set(member.key, member);
      this.#presence.set(member.key, {
        name: member.name,
        state: "online",
        guest: info.guest,
        since: info.now,
      });
      return true;
    }
    if (sessions instanceof Set) sessions.add(member);
    else if (sessions !== member) this.#byKey.set(member.key, new Set([sessions, member]));
    return false;
  }

  leave(member: Member): boolean {
    for (const key of this.#joined.get(member) ?? []) this.leaveChannel(member, key);
    this.#joined.delete(member);
    const sessions = this.#byKey.get(member.key);
    if (sessions === member) {
      this.#byKey.delete(member.key);
      this.#presence.delete(member.key);
      return true;
    }
    if (!(sessions instanceof Set) || !sessions.delete(member)) return false;
    // Back to the one session alone.
    if (sessions.size === 1) this.#byKey.set(member.key, sessions.values().next().value!);
    return false;
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
      for (const m of each(members)) {
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

  /** Adds a session to a channel; true when it was not in it yet. */
  joinChannel(member: Member, channel: Channel): boolean {
    if (channel.key === DEFAULT.key) return false;
    let room = this.#rooms.get(channel.key);
    if (!room) this.#rooms.set(channel.key, room = { name: channel.name, members: new Set() });
    if (room.members.has(member)) return false;
    room.members.add(member);
    let joined = this.#joined.get(member);
    if (!joined) this.#joined.set(member, joined = new Set());
    joined.add(channel.key);
    return true;
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
      for (const m of each(this.#byKey.get(to.user))) {
        if (m !== except && (!to.helloed || m.helloed)) m.out.send(line, watcher), count++;
      }
    } else if ("channel" in to && to.channel !== DEFAULT.key) {
      for (const m of this.#rooms.get(to.channel)?.members ?? []) {
        if (m !== except) m.out.send(line, watcher), count++;
      }
    } else {
      for (const sessions of this.#byKey.values()) {
        if (!(sessions instanceof Set)) {
          if (sessions !== except) sessions.out.send(line, watcher), count++;
          continue;
        }
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
    const sessions = [...each(this.#byKey.get(key))];
    for (const m of sessions) m.disconnect(code, text, extra);
    return sessions.length;
  }

  post(post: Post): void {
    const { to, ts, except, timer, ack } = post;
    const kind: MessageKind = "user" in to
      ? "private"
      : to.channel.key === DEFAULT.key
      ? "global"
      : "channel";
    // The name as its sessions show it, known here when one is on this node.
    const draft: Draft = {
      fields: post.fields,
      from: post.from,
      ts,
      to: "channel" in to ? to : { ...to, name: this.displayName(to.user) ?? to.name },
    };
    if ("channel" in to && except) this.joinChannel(except, to.channel);
    this.#events.emit({ type: "message", kind });
    // The ack rule, for both logs: an ack once the message is durable, never before, queued
    // here on the sender's output like any line of the hub (docs/protocol.md §4.3).
    this.#log.append(
      draft,
      { except, timer },
      ack && except && ((seq, error) => {
        if (error) this.#events.emit({ type: "error", code: "server_busy" });
        const reply = error
          ? errorReply("server_busy", T.notStored()[ack.lang], { id: ack.id })
          : ackReply(ack.id, seq, formatTimestamp(ts));
        except.out.send(encodeBytes(reply));
      }),
    );
  }

  numbered(seq: number, draft: Draft): Append {
    const { to, ts } = draft;
    const line = forwardedMessage(draft.fields, draft.from, formatTimestamp(ts), seq);
    if ("channel" in to) return { message: { seq, ts, channel: to.channel.name, line } };
    const message = { seq, ts, channel: null, to: to.name, line };
    return to.inbox ? { message, inbox: to.user } : { message };
  }

  fanOut(item: Append, draft: Draft, local?: Local): number {
    const { to } = draft;
    const except = local?.except;
    const { seq, line } = item.message;
    let kind: MessageKind = "private";
    let deliveries = 0;
    if ("channel" in to) {
      kind = to.channel.key === DEFAULT.key ? "global" : "channel";
      deliveries = this.deliver(
        { channel: to.channel.key },
        encodeBytes(line),
        except,
        local?.timer,
      );
    } else if (!to.inbox) {
      deliveries = this.deliver({ user: to.user }, encodeBytes(line), except, local?.timer);
    }
    local?.timer?.arm(deliveries);
    if (deliveries > 0) this.#events.emit({ type: "delivered", count: deliveries });
    // Metadata only: never the content (docs/protocol.md §5.13).
    log.debug("Message {seq} ({kind}) from {user} to {deliveries} sessions", {
      seq,
      kind,
      user: draft.from,
      deliveries,
    });
    return deliveries;
  }
}
