// Presence across nodes (docs/cluster.md §6): each node owns one key of the `cc_presence` bucket, a
// snapshot of who is online on it and in which channels, put on every change (coalesced) and
// every 2 s as a heartbeat. Every node watches the bucket; a peer whose key stopped changing for
// 3 beats is dead, and its key is deleted (compare-and-set: one deleter wins, a fresh beat makes
// it fail). Keys and writes grow with nodes, not with clients.
import { getLogger } from "@logtape/logtape";
import type { KV, KvEntry } from "@nats-io/kv";

const log = getLogger(["classcord", "cluster"]);

/** One session, as the teacher console lists it. */
export interface SessionSnapshot {
  transport: string;
  address: string;
  since: number;
}

/** One online name on a node. */
export interface UserSnapshot {
  name: string;
  guest: boolean;
  state: string;
  since: number;
  sessions: SessionSnapshot[];
}

/** Who is online on one node, and in which channels (by channel key: display name, names). */
export interface NodeSnapshot {
  boot: string;
  users: Record<string, UserSnapshot>;
  channels: Record<string, { name: string; members: string[] }>;
}

/** Timing of the heartbeats (docs/cluster.md §6). */
export interface PresenceTiming {
  /** A node puts its snapshot this often even when nothing changed. */
  beatMs: number;
  /** A peer silent this long is dead. */
  deadMs: number;
  /** Changes are put at most this often. */
  coalesceMs: number;
}

export const PRESENCE_TIMING: PresenceTiming = { beatMs: 2000, deadMs: 6000, coalesceMs: 200 };

/** Options of {@link ClusterPresence}. */
export interface ClusterPresenceOptions {
  kv: KV;
  node: string;
  /** This run of the node (a restart is another boot). */
  boot: string;
  /** This node's snapshot, now. */
  snapshot(): NodeSnapshot;
  /** Called after the peers' snapshots changed (a peer's change, a peer dead or gone). */
  changed(before: ReadonlyMap<string, NodeSnapshot>): void;
  timing?: PresenceTiming;
  /** Monotonic ms (tests move it). */
  now?: () => number;
}

const monotonic = () => performance.now();

/** This node's presence key and its view of every peer's. */
export class ClusterPresence {
  readonly #o: ClusterPresenceOptions;
  readonly #timing: PresenceTiming;
  readonly #now: () => number;
  readonly #key: string;
  /** Peers' snapshots, their revision, and when their key last changed (local clock). */
  readonly #peers = new Map<string, { revision: number; seen: number }>();
  /** The peers' snapshots, read on every presence question (kept, not rebuilt per call). */
  readonly #snaps = new Map<string, NodeSnapshot>();
  /** The last revision of each peer buried or gone: older news of it is ignored. */
  readonly #gone = new Map<string, number>();
  #watch: { stop(): void } | undefined;
  #beat: ReturnType<typeof setInterval> | undefined;
  #pending: ReturnType<typeof setTimeout> | undefined;
  #lastBeatOk = 0;
  #putting: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: ClusterPresenceOptions) {
    this.#o = options;
    this.#timing = options.timing ?? PRESENCE_TIMING;
    this.#now = options.now ?? monotonic;
    this.#key = `n.${options.node}`;
  }

  /** The peers' snapshots by node name (not this node's). */
  get peers(): ReadonlyMap<string, NodeSnapshot> {
    return this.#snaps;
  }

  /** Whether this node's last heartbeat reached the bucket lately. */
  get beating(): boolean {
    return this.#now() - this.#lastBeatOk < this.#timing.deadMs;
  }

  /**
   * Refuses a node name another running node uses, puts this node's snapshot, reads every
   * peer's and starts watching and beating.
   *
   * @throws {Error} when another node with this name beat less than 3 beats ago
   */
  async start(): Promise<void> {
    const { kv, node, boot } = this.#o;
    const mine = await kv.get(this.#key);
    if (mine?.operation === "PUT") {
      const other = mine.json<NodeSnapshot>();
      const age = Date.now() - mine.created.getTime();
      if (other.boot !== boot && age < this.#timing.deadMs) {
        throw new Error(
          `Another node named "${node}" is running (it beat ${Math.round(age)} ms ago): ` +
            "give each node its own --node-name",
        );
      }
    }
    try {
      // Updates first, then the current values: nothing is missed in between (older revisions
      // are ignored).
      const updates = await kv.watch({ key: "n.>", include: "updates" });
      this.#watch = updates;
      (async () => {
        for await (const entry of updates) this.#apply(entry);
      })().catch((error) => {
        if (!this.#stopped) log.error("Presence watch ended: {error}", { error });
      });
      await this.#put();
      for await (const key of await kv.keys("n.>")) {
        if (key === this.#key) continue;
        const entry = await kv.get(key);
        if (entry) this.#apply(entry);
      }
      this.#beat = setInterval(() => this.#heartbeat(), this.#timing.beatMs);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** This node's presence changed: put it soon (coalesced). */
  changed(): void {
    if (this.#pending !== undefined || this.#stopped) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      this.#put();
    }, this.#timing.coalesceMs);
  }

  /** Stops beating and watching; deletes this node's key (a clean shutdown: not dead, gone). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#beat);
    clearTimeout(this.#pending);
    this.#watch?.stop();
    await this.#putting;
    await this.#o.kv.delete(this.#key).catch(() => {});
  }

  #heartbeat(): void {
    this.#put();
    if (!this.beating) return; // our own beats fail: judge nobody (an election, a partition)
    const now = this.#now();
    for (const [node, peer] of this.#peers) {
      if (now - peer.seen < this.#timing.deadMs) continue;
      log.warning("Node {node} stopped beating: its sessions are gone", { node });
      this.#o.kv.delete(`n.${node}`, { previousSeq: peer.revision }).catch(() => {
        // Another node buried it first, or it beat again: the watch tells which.
      });
      // Buried here at once; the watch agrees shortly (or brings it back if it beat).
      this.#gone.set(node, peer.revision);
      this.#forget(node);
    }
  }

  #put(): Promise<void> {
    this.#putting = this.#putting.then(async () => {
      if (this.#stopped) return;
      try {
        await this.#o.kv.put(this.#key, JSON.stringify(this.#o.snapshot()));
        this.#lastBeatOk = this.#now();
      } catch (error) {
        log.warning("Cannot put this node's presence: {error}", { error });
      }
    });
    return this.#putting;
  }

  #apply(entry: KvEntry): void {
    const node = entry.key.slice(2);
    if (entry.key === this.#key) {
      // Buried by a peer while this node could not beat: it is alive, say so at once.
      if (entry.operation !== "PUT" && !this.#stopped) this.#put();
      return;
    }
    const known = this.#peers.get(node);
    if (known && known.revision >= entry.revision) return;
    if ((this.#gone.get(node) ?? 0) >= entry.revision) return;
    if (entry.operation !== "PUT") {
      this.#gone.set(node, entry.revision);
      return this.#forget(node);
    }
    const before = new Map(this.#snaps);
    this.#peers.set(node, { revision: entry.revision, seen: this.#now() });
    this.#snaps.set(node, entry.json<NodeSnapshot>());
    this.#o.changed(before);
  }

  #forget(node: string): void {
    if (!this.#peers.has(node)) return;
    const before = new Map(this.#snaps);
    this.#peers.delete(node);
    this.#snaps.delete(node);
    this.#o.changed(before);
  }
}
