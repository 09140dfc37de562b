// The bus of a cluster node: this node's sessions in an in-process Hub (local delivery, channel
// membership), every other node's in the shared presence, and every chat message through the
// stream: published with an id (retried with the same id through an election), acknowledged
// once JetStream stored it on a quorum, and fanned out by every node, the sender's too, from its
// own reading of the stream (CLUSTER.md §2). Sessions see only the Bus interface.
import { getLogger } from "@logtape/logtape";
import type { JetStreamPublishOptions, PubAck } from "@nats-io/jetstream";
import { nameKey } from "../auth/names.ts";
import type { ErrorCode } from "../errors.ts";
import type { Events, MessageKind } from "../events.ts";
import type { Audience, Bus, Member, Post, Presence, SessionInfo, Stored } from "../hub/bus.ts";
import { Hub } from "../hub/hub.ts";
import type { WriteWatcher } from "../hub/outbox.ts";
import { type Channel, DEFAULT, parseChannel } from "../protocol/channel.ts";
import { encodeBytes } from "../protocol/encode.ts";
import { formatTimestamp, statusEvent } from "../protocol/replies.ts";
import type { Text } from "../protocol/texts.ts";
import type { Applied } from "./feed.ts";
import type { ClusterLink } from "./link.ts";
import type { NodeSnapshot, UserSnapshot } from "./presence.ts";
import { type StreamRecord, subjectOf } from "./records.ts";
import type { InboxCursors } from "./store.ts";

const log = getLogger(["classcord", "cluster"]);

// Each attempt waits 2 s; attempts with the same id go on for 12 s, through a leader election
// (4-9 s on NATS 2.9), before the message is given up (CLUSTER.md §2).
const PUBLISH_ATTEMPT_MS = 2_000;
const PUBLISH_GIVE_UP_MS = 12_000;

/** What a {@link ClusterBus} needs. */
export interface ClusterBusOptions {
  link: ClusterLink;
  node: string;
  /** This run of the node: message ids stay unique across restarts. */
  boot: string;
  events: Events;
  cursors: InboxCursors;
  /** Tells the presence this node's sessions changed. */
  presenceChanged(): void;
  /** The other nodes' presence snapshots. */
  peers(): ReadonlyMap<string, NodeSnapshot>;
}

/** {@link Bus} of a cluster node. */
export class ClusterBus implements Bus {
  readonly #o: ClusterBusOptions;
  readonly #local: Hub;
  readonly #ids = new WeakMap<Member, number>();
  readonly #byId = new Map<number, Member>();
  #nextId = 1;
  #nextMessage = 1;
  #highestAcked = 0;

  constructor(options: ClusterBusOptions) {
    this.#o = options;
    this.#local = new Hub({
      events: options.events,
      journal: {
        nextSeq: () => {
          throw new Error("A cluster node numbers messages through the stream");
        },
        append: () => {
          throw new Error("A cluster node stores messages through the stream");
        },
      },
    });
  }

  /** The highest seq this node acknowledged: what its history must hold before it is read. */
  get highestAcked(): number {
    return this.#highestAcked;
  }

  join(member: Member, info: { guest: boolean; now: number }): boolean {
    const id = this.#nextId++;
    this.#ids.set(member, id);
    this.#byId.set(id, member);
    const first = this.#local.join(member, info);
    this.#o.presenceChanged();
    // Online once, whichever nodes the name has sessions on.
    return first && !this.#remoteUser(member.key);
  }

  leave(member: Member): boolean {
    const id = this.#ids.get(member);
    if (id !== undefined) this.#byId.delete(id);
    const last = this.#local.leave(member);
    this.#o.presenceChanged();
    return last && !this.#remoteUser(member.key);
  }

  setState(key: string, state: string): void {
    this.#local.setState(key, state);
    this.#o.presenceChanged();
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
    for (const snap of this.#o.peers().values()) {
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
    for (const snap of this.#o.peers().values()) {
      for (const u of Object.values(snap.users)) {
        for (const s of u.sessions) {
          out.push({ user: u.name, guest: u.guest, state: u.state, ...s });
        }
      }
    }
    return out.sort((a, b) => a.since - b.since);
  }

  joinChannel(member: Member, channel: Channel): void {
    this.#local.joinChannel(member, channel);
    this.#o.presenceChanged();
  }

  leaveChannel(member: Member, key: string): void {
    this.#local.leaveChannel(member, key);
    this.#o.presenceChanged();
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
    this.#publish(extra ? { ...record, extra: { ...extra } } : record)
      .catch((error) =>
        log.error("Cannot tell the other nodes to disconnect {user}: {error}", {
          user: key,
          error,
        })
      );
    return local + remote;
  }

  post(post: Post, stored?: Stored): void {
    const { to, ts, except } = post;
    const kind: MessageKind = "user" in to
      ? "private"
      : to.channel.key === DEFAULT.key
      ? "global"
      : "channel";
    if ("channel" in to && except) this.joinChannel(except, to.channel);
    const origin = { node: this.#o.node, member: except ? this.#ids.get(except) : undefined };
    const record: StreamRecord = {
      kind: "msg",
      fields: post.fields,
      from: post.from,
      ts,
      to: "channel" in to ? { channel: to.channel.name } : { user: to.user, name: to.name },
      origin,
    };
    this.#o.events.emit({ type: "message", kind });
    post.timer?.arm(0);
    this.#publish(record).then(
      (ack) => {
        this.#highestAcked = Math.max(this.#highestAcked, ack.seq);
        stored?.(ack.seq, formatTimestamp(ts));
      },
      (error) => stored?.(0, formatTimestamp(ts), error as Error),
    );
  }

  /** A record read back from the stream and stored: fanned out to this node's sessions. */
  apply({ seq, record, line }: Applied): void {
    if (!record) return;
    if (record.kind === "disconnect") {
      if (record.origin.node !== this.#o.node) {
        this.#local.disconnect(record.key, record.code, record.text, record.extra);
      }
      return;
    }
    const except = record.origin.node === this.#o.node && record.origin.member !== undefined
      ? this.#byId.get(record.origin.member)
      : undefined;
    const bytes = encodeBytes(line!);
    const { to } = record;
    let count: number;
    if ("channel" in to) {
      count = this.#local.deliver({ channel: parseChannel(to.channel).key }, bytes, except);
    } else {
      count = this.#local.deliver({ user: to.user }, bytes, except);
      if (count > 0 || (except && except.key === to.user)) this.#o.cursors.delivered(to.user, seq);
    }
    if (count > 0) this.#o.events.emit({ type: "delivered", count });
  }

  /**
   * The other nodes changed (a login, a logout, a state, a node gone): this node's sessions
   * hear of names that came online, went offline or changed state anywhere but here.
   */
  peersChanged(before: ReadonlyMap<string, NodeSnapshot>): void {
    const was = users(before);
    const now = users(this.#o.peers());
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
    for (const snap of this.#o.peers().values()) {
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
      ...Array.from(this.#o.peers().values(), (p) => p.channels),
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

  /**
   * Publishes a record with an id made once, retried with the same id until JetStream stores
   * it (a duplicate within 2 min is stored once) or 12 s have passed.
   *
   * @throws {Error} the last failure once the time is over
   */
  async #publish(record: StreamRecord): Promise<PubAck> {
    const msgID = `${this.#o.node}:${this.#o.boot}:${this.#nextMessage++}`;
    const subject = subjectOf(record, (name) => parseChannel(name).key);
    const data = JSON.stringify(record);
    const options: Partial<JetStreamPublishOptions> = { msgID, timeout: PUBLISH_ATTEMPT_MS };
    const deadline = performance.now() + PUBLISH_GIVE_UP_MS;
    for (;;) {
      try {
        return await this.#o.link.js.publish(subject, data, options);
      } catch (error) {
        if (performance.now() + PUBLISH_ATTEMPT_MS > deadline) throw error;
        log.warning("Publish of {id} failed, trying again: {error}", { id: msgID, error });
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
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
