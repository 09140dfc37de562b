// Presence, channel membership and fan-out: who is online under which name, in which channels,
// and delivery of encoded lines to them.
import { type Channel, DEFAULT } from "../protocol/channel.ts";
import type { WriteWatcher } from "./outbox.ts";

/** An identified session as the hub sees it. */
export interface Member {
  /** Case-folded name ({@link nameKey}); several sessions of one user share it. */
  readonly key: string;
  /** Display name. */
  readonly name: string;
  /** Queues one encoded line for this session; never blocks. */
  deliver(line: Uint8Array, watcher?: WriteWatcher): void;
}

/** What the hub knows of an online name (PROTOCOL B.6 `details`). */
export interface Presence {
  name: string;
  state: string;
  guest: boolean;
  /** Milliseconds since the epoch when the name's first session came online. */
  since: number;
}

interface Room {
  name: string;
  members: Set<Member>;
}

/**
 * The identified sessions, grouped by name, and the channels they joined; every identified
 * session is in the default channel. Lines are encoded once by the caller and the same bytes are
 * queued on every recipient; the hub never waits for any of them.
 */
export class Hub {
  readonly #byKey = new Map<string, Set<Member>>();
  readonly #presence = new Map<string, Presence>();
  readonly #rooms = new Map<string, Room>();
  readonly #joined = new Map<Member, Set<string>>();

  /** Adds a member; true when it is the first session under its name (announce "online"). */
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

  /** Removes a member from its name and its channels; true when it was the name's last session. */
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

  /** Whether any session is online under this case-folded name. */
  isOnline(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** The display name online under a case-folded name, if any. */
  displayName(key: string): string | undefined {
    return this.#presence.get(key)?.name;
  }

  /** Each online name once, in the order they came online. */
  names(): string[] {
    return [...this.#presence.values()].map((p) => p.name);
  }

  /** Presence of each online name, in the order they came online. */
  presence(): Presence[] {
    return [...this.#presence.values()];
  }

  /** Records the state a name last announced. */
  setState(key: string, state: string): void {
    const p = this.#presence.get(key);
    if (p) p.state = state;
  }

  /** The sessions online under a case-folded name. */
  sessionsOf(key: string): Iterable<Member> {
    return this.#byKey.get(key) ?? [];
  }

  /** Adds a member to a channel (the default channel holds everybody already). */
  joinChannel(member: Member, channel: Channel): void {
    if (channel.key === DEFAULT.key) return;
    let room = this.#rooms.get(channel.key);
    if (!room) this.#rooms.set(channel.key, room = { name: channel.name, members: new Set() });
    room.members.add(member);
    let joined = this.#joined.get(member);
    if (!joined) this.#joined.set(member, joined = new Set());
    joined.add(channel.key);
  }

  /** Removes a member from a channel; a channel nobody is in is forgotten. */
  leaveChannel(member: Member, key: string): void {
    const room = this.#rooms.get(key);
    if (!room) return;
    room.members.delete(member);
    this.#joined.get(member)?.delete(key);
    if (room.members.size === 0) this.#rooms.delete(key);
  }

  /** The distinct names in a channel other than the default, in the order they joined. */
  members(channelKey: string): string[] {
    const room = this.#rooms.get(channelKey);
    return room ? [...new Set([...room.members].map((m) => m.name))] : [];
  }

  /** Channels with their number of distinct names online, the default first. */
  channels(): { name: string; members: number }[] {
    const out = [{ name: DEFAULT.name, members: this.#byKey.size }];
    for (const room of this.#rooms.values()) {
      out.push({ name: room.name, members: new Set([...room.members].map((m) => m.key)).size });
    }
    return out;
  }

  /** Queues `line` on every identified session but `except`; returns the number of deliveries. */
  broadcast(line: Uint8Array, except?: Member, watcher?: WriteWatcher): number {
    let count = 0;
    for (const sessions of this.#byKey.values()) {
      for (const m of sessions) {
        if (m === except) continue;
        m.deliver(line, watcher);
        count++;
      }
    }
    return count;
  }

  /** Queues `line` on every member of a channel but `except`; returns the number of deliveries. */
  publish(
    channelKey: string,
    line: Uint8Array,
    except?: Member,
    watcher?: WriteWatcher,
  ): number {
    if (channelKey === DEFAULT.key) return this.broadcast(line, except, watcher);
    let count = 0;
    for (const m of this.#rooms.get(channelKey)?.members ?? []) {
      if (m === except) continue;
      m.deliver(line, watcher);
      count++;
    }
    return count;
  }

  /** Queues `line` on every session of one name but `except`; returns the number of deliveries. */
  sendTo(key: string, line: Uint8Array, except?: Member, watcher?: WriteWatcher): number {
    const sessions = this.#byKey.get(key);
    if (!sessions) return 0;
    let count = 0;
    for (const m of sessions) {
      if (m === except) continue;
      m.deliver(line, watcher);
      count++;
    }
    return count;
  }
}
