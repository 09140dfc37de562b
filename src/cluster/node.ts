// One node of a cluster, put together: the NATS link, the store over the shared buckets and the
// local read model, the stream log and the feed that fills the read model and hands it what it
// read, the bus, presence, guest names, shared mutes and login outcomes. Started before the
// listeners open: by then the history has caught up with the stream and the peers' presence is
// known, so no replayed message meets a session.
import { getLogger } from "@logtape/logtape";
import type { Backend } from "../backend.ts";
import type { Events } from "../events.ts";
import type { MuteTable } from "../session/moderation.ts";
import type { KvStore } from "../store/kv_store.ts";
import { ClusterBus } from "./bus.ts";
import { Feed } from "./feed.ts";
import { ClusterGuestNames } from "./guest_names.ts";
import { ClusterLink } from "./link.ts";
import { ClusterPresence, PRESENCE_TIMING, type PresenceTiming } from "./presence.ts";
import { SharedLogins, SharedMutes } from "./shared.ts";
import { ClusterStore, InboxCursors } from "./store.ts";
import { StreamLog } from "./stream_log.ts";

const log = getLogger(["classcord", "cluster"]);

/** Options of {@link ClusterNode.start}. */
export interface ClusterNodeOptions {
  servers: string[];
  node: string;
  /** The node's own Deno KV: its read model of the stream. */
  local: KvStore;
  events: Events;
  retentionDays: number;
  /** The login throttle's window: how far back a restarted node reads login outcomes. */
  loginWindowMs: number;
  timing?: PresenceTiming;
}

/** A started cluster node, the {@link Backend} of a server in a cluster; `stop()` leaves cleanly. */
export class ClusterNode implements Backend {
  private constructor(
    readonly link: ClusterLink,
    readonly store: ClusterStore,
    readonly bus: ClusterBus,
    readonly sharedMutes: SharedMutes,
    readonly logins: SharedLogins,
    readonly log: StreamLog,
    readonly feed: Feed,
    readonly presence: ClusterPresence,
    readonly cursors: InboxCursors,
    readonly guestNames: ClusterGuestNames,
  ) {}

  /**
   * Joins the cluster: connects, catches up with the stream, reads the peers' presence.
   *
   * @throws {Error} when NATS cannot be reached or the node's name is taken
   */
  static async start(o: ClusterNodeOptions): Promise<ClusterNode> {
    const link = await ClusterLink.open({
      servers: o.servers,
      node: o.node,
      retentionDays: o.retentionDays,
      loginWindowMs: o.loginWindowMs,
    });
    // What was started, to stop again if a later step fails.
    const started: { stop(): unknown }[] = [];
    try {
      const boot = crypto.randomUUID().slice(0, 8);
      const cursors = new InboxCursors(link.cursors);
      started.push({ stop: () => cursors.close() });
      const store = new ClusterStore(o.local, link, cursors);
      // The bus tells the presence of this node's changes; the presence asks the bus for this
      // node's snapshot and tells it of the others' changes, only once started (the bus is
      // made by then). The stream log hands the bus the disconnections read back.
      const late: { bus?: ClusterBus } = {};
      const presence: ClusterPresence = new ClusterPresence({
        kv: link.presence,
        node: o.node,
        boot,
        snapshot: () => late.bus!.snapshot(boot),
        changed: (before) => {
          late.bus!.peersChanged(before);
          // A peer gone (stopped, or buried): the names its guests held are free again.
          for (const node of before.keys()) {
            if (!presence.peers.has(node)) return void guestNames.sweep();
          }
        },
        timing: o.timing,
      });
      const guestNames = new ClusterGuestNames({
        kv: link.guests,
        jsm: link.jsm,
        node: o.node,
        boot,
        peers: () => presence.peers,
        graceMs: (o.timing ?? PRESENCE_TIMING).deadMs,
      });
      const messages = new StreamLog({
        link,
        node: o.node,
        boot,
        cursors,
        disconnect: (record) => late.bus?.disconnected(record),
      });
      const bus = late.bus = new ClusterBus({
        node: o.node,
        events: o.events,
        log: messages,
        presence,
      });
      const feed = new Feed(link, o.local, messages, o.events);
      started.push(feed);
      await feed.start();
      // After the catch-up, which may have emptied the store: the tools must see a node's copy.
      await o.local.markClusterNode(o.node);
      // A refused name leaves nothing to stop (and the other node's key alone).
      await presence.start();
      started.push(presence);
      // Claims of nodes that died while this one was away (an earlier run of it included).
      started.push(guestNames);
      await guestNames.sweep();
      const mutes = new SharedMutes(link.users);
      started.push(mutes);
      await mutes.start();
      const logins = new SharedLogins(link, o.node, o.loginWindowMs);
      started.push(logins);
      logins.start();
      log.info("Node {node} ready: history at {seq}, {peers} other nodes", {
        node: o.node,
        seq: feed.applied,
        peers: presence.peers.size,
      });
      return new ClusterNode(
        link,
        store,
        bus,
        mutes,
        logins,
        messages,
        feed,
        presence,
        cursors,
        guestNames,
      );
    } catch (err) {
      for (const part of started.reverse()) await part.stop();
      await link.close();
      throw err;
    }
  }

  /** The mutes as this node's moderation reads them: in memory, kept in step with the others. */
  get mutes(): MuteTable {
    return this.sharedMutes.table;
  }

  /**
   * Resolves once this node's messages posted before the call are acknowledged, so in its
   * history, or given up (at most 2 s): a session reads its own writes.
   */
  flushed(): Promise<void> {
    return this.log.flushed();
  }

  /** Able to serve: connected to NATS and its presence reaching the others. */
  get ready(): boolean {
    return this.link.connected && this.presence.beating;
  }

  /** Leaves the cluster ({@link stop}): the read model's file is the server's to close. */
  close(): Promise<void> {
    return this.stop();
  }

  /** Leaves the cluster: guest names given back, presence key deleted, cursors written. */
  async stop(): Promise<void> {
    await this.guestNames.stop();
    await this.presence.stop();
    this.sharedMutes.stop();
    await this.logins.stop();
    await this.feed.stop();
    await this.cursors.flush();
    this.cursors.close(); // a flush that failed set its timer again
    await this.link.close();
  }
}
