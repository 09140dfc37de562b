// A node's link to the NATS cluster: the connection, the message and login streams, and the
// replicated buckets (accounts and sanctions, presence, private-message cursors, guest names),
// created the same way by every node (docs/cluster.md §2).
import { getLogger } from "@logtape/logtape";
import {
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";

const log = getLogger(["classcord", "cluster"]);

/** The stream every chat message and cluster-wide act goes through, in one total order. */
export const MESSAGES = "CC_MSG";
/** The stream of login outcomes (shared throttling). */
export const LOGINS = "CC_AUTH";
/** The bucket of guest names claimed (docs/cluster.md §5.5). */
export const GUESTS = "cc_guests";

/** Options of {@link ClusterLink.open}. */
export interface ClusterLinkOptions {
  servers: string[];
  /** This node's name (the NATS connection's name too, as the servers list it). */
  node: string;
  /** Messages older than this many days leave the stream; 0 keeps them. */
  retentionDays: number;
  /** How long login outcomes count (the throttle's window), in ms. */
  loginWindowMs: number;
}

const NS_PER_MS = 1_000_000;
const DAY_MS = 86_400_000;
// Bigger than any line the server accepts (64 KiB) with its record around it.
const MAX_RECORD_BYTES = 256 * 1024;
// Publish retries with the same id span a JetStream leader election (4-9 s on 2.9).
const DUPLICATE_WINDOW_MS = 120_000;

/** The connection and every stream and bucket a node uses. */
export class ClusterLink {
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly users: KV,
    readonly presence: KV,
    readonly cursors: KV,
    /** Guest names claimed, one key per name. */
    readonly guests: KV,
    /** The message stream's creation time: a new value means a new stream (docs/cluster.md §4.2). */
    readonly epoch: string,
    /** Replicas of every stream and bucket: 3, or fewer when the NATS cluster is smaller. */
    readonly replicas: number,
  ) {
    this.#watch();
  }

  /**
   * Connects (reconnecting for ever, pinging every 5 s) and creates the streams and buckets,
   * or checks the ones that exist.
   *
   * @throws {Error} naming the NATS servers when none answers, or what is wrong with a stream
   */
  static async open(options: ClusterLinkOptions): Promise<ClusterLink> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: options.servers,
        name: `classcord ${options.node}`,
        // A node never gives up on its cluster: it reports unhealthy meanwhile.
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        // The default (2 min) would hide a frozen server far too long.
        pingInterval: 5_000,
        maxPingOut: 2,
        timeout: 5_000,
      });
    } catch (err) {
      throw new Error(
        `Cannot connect to NATS (${options.servers.join(", ")}): ${(err as Error).message}`,
        { cause: err },
      );
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      const replicas = await replicaCount(nc, jsm);
      const maxAge = options.retentionDays * DAY_MS;
      const epoch = await ensureStream(jsm, {
        name: MESSAGES,
        subjects: ["cc.msg.>"],
        max_age: maxAge * NS_PER_MS,
        duplicate_window: Math.min(DUPLICATE_WINDOW_MS, maxAge || DUPLICATE_WINDOW_MS) *
          NS_PER_MS,
        max_msg_size: MAX_RECORD_BYTES,
        allow_direct: true,
        deny_delete: true,
      }, replicas);
      await ensureStream(jsm, {
        name: LOGINS,
        subjects: ["cc.auth.>"],
        max_age: options.loginWindowMs * NS_PER_MS,
        duplicate_window: Math.min(DUPLICATE_WINDOW_MS, options.loginWindowMs) * NS_PER_MS,
      }, replicas);
      const kvm = new Kvm(nc);
      const users = await kvm.create("cc_users", { replicas, history: 1 });
      // Presence keys are rewritten every 2 s; a node's key outlives it by an hour at most.
      const presence = await kvm.create("cc_presence", { replicas, history: 1, ttl: 3_600_000 });
      const cursors = await kvm.create("cc_inbox", { replicas, history: 1 });
      // No age limit: a guest may stay all day; claims of gone nodes are swept instead.
      const guests = await kvm.create(GUESTS, { replicas, history: 1 });
      const js = jetstream(nc, { timeout: 2_000 });
      log.info("Joined the NATS cluster at {server} ({replicas} replicas)", {
        server: nc.getServer(),
        replicas,
      });
      return new ClusterLink(nc, js, jsm, users, presence, cursors, guests, epoch, replicas);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /** Connected to a NATS server now (not closed, not between two servers). */
  get connected(): boolean {
    return !this.nc.isClosed() && this.#connected;
  }

  #connected = true;

  readonly #onReconnect: (() => void)[] = [];

  /**
   * `listener` runs each time the connection comes back (to the same server or another):
   * consumers and watches may have died with the old one without saying so.
   */
  onReconnect(listener: () => void): void {
    this.#onReconnect.push(listener);
  }

  /** Follows the connection's status: disconnected until it reconnects. */
  async #watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === "disconnect") {
        this.#connected = false;
        log.warning("Lost NATS server {server}: reconnecting", { server: status.server });
      } else if (status.type === "reconnect") {
        this.#connected = true;
        log.info("Reconnected to NATS server {server}", { server: status.server });
        for (const listener of this.#onReconnect) listener();
      }
    }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}

// A server tells its clients of the other servers as its routes come up, in later INFOs: just
// after a NATS cluster starts, a client may know fewer servers than there are. A count smaller
// than the existing stream's is read again for this long before it is believed (and the node
// refused, docs/cluster.md §2.5).
const PEERS_WAIT_MS = 5_000;

/**
 * The replica count of the cluster's streams and buckets: R3 when the cluster has three servers
 * or more (quorum 2); fewer servers, fewer copies. The servers are the one connected to and those
 * it told of.
 */
async function replicaCount(nc: NatsConnection, jsm: JetStreamManager): Promise<number> {
  const count = () =>
    Math.max(1, Math.min(3, new Set([...(nc.info?.connect_urls ?? []), nc.getServer()]).size));
  let existing: number | undefined;
  try {
    existing = (await jsm.streams.info(MESSAGES)).config.num_replicas;
  } catch {
    // No stream yet (or no answer, which creating it will report).
  }
  const deadline = Date.now() + PEERS_WAIT_MS;
  while (existing !== undefined && count() < existing && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return count();
}

/**
 * Creates a stream, or checks an existing one: another replica count is refused (it would
 * need moving data), another age limit is applied (the retention was changed). Returns the
 * stream's creation time.
 */
async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
  replicas: number,
): Promise<string> {
  const wanted = { ...config, num_replicas: replicas, storage: "file" as const };
  let info;
  try {
    info = await jsm.streams.info(config.name);
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
    info = await jsm.streams.add(wanted);
    return info.created;
  }
  if (info.config.num_replicas !== replicas) {
    throw new Error(
      `The stream "${config.name}" has ${info.config.num_replicas} replicas and this node wants ` +
        `${replicas}: every node must see the same NATS cluster`,
    );
  }
  if (info.config.max_age !== wanted.max_age) {
    log.info("Stream {stream}: age limit changed to {days} days", {
      stream: config.name,
      days: (wanted.max_age ?? 0) / NS_PER_MS / DAY_MS,
    });
    await jsm.streams.update(config.name, { ...info.config, max_age: wanted.max_age });
  }
  return info.created;
}
