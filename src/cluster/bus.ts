// The bus of a cluster node: this node's sessions in an in-process Hub (local delivery, channel
// membership, and chat messages through the hub's message log, here the stream log), every
// other node's in the shared presence, and disconnections through the stream in order with the
// chat (docs/cluster.md §3). Sessions see only the Bus interface.
import { getLogger } from "@logtape/logtape";
import { nameKey } from "../auth/names.ts";
import type { ErrorCode } from "../errors.ts";
import type { Events, WriteWatcher } from "../events.ts";
import type { Audience, Bus, Member, Post, Presence, SessionInfo } from "../hub/bus.ts";
import { Hub } from "../hub/hub.ts";
import { type Channel, DEFAULT, parseChannel } from "../protocol/channel.ts";
import { encodeBytes } from "../protocol/framing.ts";
import { statusEvent } from "../protocol/replies.ts";
import type { Text } from "../protocol/texts.ts";
import type { ClusterPresence, NodeSnapshot, UserSnapshot } from "./presence.ts";
import type { DisconnectRecord } from "./records.ts";
import type { StreamLog } from "./stream_log.ts";

const log = getLogger(["classcord", "cluster"]);

/** What a {@link ClusterBus} needs. */
export interface ClusterBusOptions {
  node: string;
  events: Events;
  /** Where this node's hub hands its chat messages (and this bus its disconnections). */
  log: StreamLog;
  /**
   * This node's presence: told when this node's sessions or channels changed (it puts them
   * soon), and holding the other nodes' snapshots.
   */
  presence: Pick<ClusterPresence, "changed" | "peers">;
}

/** {@link Bus} of a cluster node. */
export class ClusterBus implements Bus {
  readonly #o: ClusterBusOptions;
  readonly #local: Hub;

  constructor(options: ClusterBusOptions) {
    this.#o = options;
    this.#local = new Hub({ events: options.events, log: options.log });
  }

  join(member: Member, info: { guest: boolean; now: number }): boolean {
    const first = this.#local.join(member, info);
    this.#o.presence.changed();
    // Online once, whichever nodes the name has sessions on.
    return first && !this.#remoteUser(member.key);
  }

  leave(member: Member): boolean {
    const last = this.#local.leave(member);
    this.#o.presence.changed();
    return last && !this.#remoteUser(member.key);
  }

  setState(key: string, state: string): void {
    this.#local.setState(key, state);
    this.#o.presence.changed();
  }

  isOnline(key: string): boolean {
    return this.#local.isOnline(key) || this.#remoteUser(key) !== undefined;
  }

  displayName(key: string): string | undefined {
    return this.#local.displayName(key) ?? this.#remoteUser(key)?.name;
  }

  presence(): Presence[] {
    const merged = new Map<string, Presence>();
    for (const p of this.#local.presence()) merged.set(nameKey(p.name), p);
    for (const snap of this.#o.presence.peers.values()) {
      for (const [key, u] of Object.entries(snap.users)) {
        const known = merged.get(key);
        if (!known) {
          merged.set(key, { name: u.name, state: u.state, guest: u.guest, since: u.since });
        } else if (u.since < known.since) merged.set(key, { ...known, since: u.since });
      }
    }
    return [...merged.values()].sort((a, b) => a.since - b.since);
  }

  sessions(): SessionInfo[] {
    const out = this.#local.sessions();
    for (const snap of this.#o.presence.peers.values()) {
      for (const u of Object.values(snap.users)) {
        for (const s of u.sessions) {
          out.push({ user: u.name, guest: u.guest, state: u.state, ...s });
        }
      }
    }
    return out.sort((a, b) => a.since - b.since);
  }

  joinChannel(member: Member, channel: Channel): void {
    // The others hear of a session that joined, not of one that posts where it already is.
    if (this.#local.joinChannel(member, channel)) this.#o.presence.changed();
  }

  leaveChannel(member: Member, key: string): void {
    this.#local.leaveChannel(member, key);
    this.#o.presence.changed();
  }

  channels(): { name: string; members: number }[] {
    const rooms = this.#rooms();
    const out = [{ name: DEFAULT.name, members: this.presence().length }];
    for (const room of rooms.values()) out.push({ name: room.name, members: room.keys.size });
    return out;
  }

  members(channelKey: string): string[] {
    if (channelKey === DEFAULT.key) return this.presence().map((p) => p.name);
    const room = this.#rooms().get(channelKey);
    if (!room) return [];
    return [...room.keys].map((k) => this.displayName(k) ?? k);
  }

  /**
   * This node's sessions only: presence lines (the only lines sent this way) reach the other
   * nodes' sessions from their own view of the shared presence.
   */
  deliver(to: Audience, line: Uint8Array, except?: Member, watcher?: WriteWatcher): number {
    return this.#local.deliver(to, line, except, watcher);
  }

  /** Every node ends the name's sessions, in order with the chat; returns how many there were. */
  disconnect(
    key: string,
    code: ErrorCode,
    text: Text,
    extra?: Readonly<Record<string, unknown>>,
  ): number {
    const remote = this.#remoteUser(key)?.sessions.length ?? 0;
    const local = this.#local.disconnect(key, code, text, extra);
    const record = { kind: "disconnect" as const, key, code, text, origin: { node: this.#o.node } };
    this.#o.log.publish(extra ? { ...record, extra: { ...extra } } : record)
      .catch((error) =>
        log.error("Cannot tell the other nodes to disconnect {user}: {error}", {
          user: key,
          error,
        })
      );
    return local + remote;
  }

  /** Through this node's hub and the stream log: numbered by the stream, fanned out by every node. */
  post(post: Post): void {
    const { to, except } = post;
    if ("channel" in to && except) this.joinChannel(except, to.channel); // the others hear of a join
    this.#local.post(post);
  }

  /** A name's sessions to end, told by another node through the stream. */
  disconnected(record: DisconnectRecord): void {
    this.#local.disconnect(record.key, record.code, record.text, record.extra);
  }

  /**
   * The other nodes changed (a login, a logout, a state, a node gone): this node's sessions
   * hear of names that came online, went offline or changed state anywhere but here.
   */
  peersChanged(before: ReadonlyMap<string, NodeSnapshot>): void {
    const was = users(before);
    const now = users(this.#o.presence.peers);
    for (const key of new Set([...was.keys(), ...now.keys()])) {
      const a = was.get(key);
      const b = now.get(key);
      let line: Record<string, unknown> | undefined;
      if (a && b && a.state !== b.state) {
        const here = this.#local.stateOf(key);
        if (here === b.state) continue; // set here: said here already
        // A state set on another node is this name's state here too.
        if (here !== undefined) this.#local.setState(key, b.state);
        line = statusEvent(b.name, b.state);
      } else if (this.#local.isOnline(key)) {
        continue; // online here anyway: its sessions elsewhere change nothing
      } else if (!a && b) line = statusEvent(b.name, "online");
      else if (a && !b) line = statusEvent(a.name, "offline");
      if (line) this.#local.deliver({ all: true }, encodeBytes(line));
    }
  }

  /** This node's presence as the other nodes see it. */
  snapshot(boot: string): NodeSnapshot {
    const users: Record<string, UserSnapshot> = {};
    for (const s of this.#local.sessions()) {
      const key = nameKey(s.user);
      const u = users[key] ??= {
        name: s.user,
        guest: s.guest,
        state: s.state,
        since: s.since,
        sessions: [],
      };
      u.sessions.push({ transport: s.transport, address: s.address, since: s.since });
      u.since = Math.min(u.since, s.since);
    }
    return { boot, users, channels: this.#localChannels() };
  }

  /** This node's channels other than the default, with the case-folded names in each. */
  #localChannels(): NodeSnapshot["channels"] {
    const channels: NodeSnapshot["channels"] = {};
    for (const c of this.#local.channels().slice(1)) {
      const key = parseChannel(c.name).key;
      channels[key] = { name: c.name, members: this.#local.members(key).map(nameKey) };
    }
    return channels;
  }

  #remoteUser(key: string): UserSnapshot | undefined {
    for (const snap of this.#o.presence.peers.values()) {
      const u = snap.users[key];
      if (u) return u;
    }
    return undefined;
  }

  /** Channels other than the default, with the names in each across the cluster. */
  #rooms(): Map<string, { name: string; keys: Set<string> }> {
    const rooms = new Map<string, { name: string; keys: Set<string> }>();
    const nodes = [
      this.#localChannels(),
      ...Array.from(this.#o.presence.peers.values(), (p) => p.channels),
    ];
    for (const channels of nodes) {
      for (const [key, c] of Object.entries(channels)) {
        let room = rooms.get(key);
        if (!room) rooms.set(key, room = { name: c.name, keys: new Set() });
        for (const m of c.members) room.keys.add(m);
      }
    }
    return rooms;
  }
}

/** Every name online on the given nodes, with its state (the first node's that has it). */
function users(peers: ReadonlyMap<string, NodeSnapshot>): Map<string, UserSnapshot> {
  const out = new Map<string, UserSnapshot>();
  for (const snap of peers.values()) {
    for (const [key, u] of Object.entries(snap.users)) if (!out.has(key)) out.set(key, u);
  }
  return out;
}
