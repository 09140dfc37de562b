// The backend seam: what the server gets from "one node" or "a cluster" — the bus, the store,
// read-your-writes, guest names, shared mutes and login outcomes, readiness, and how it ends. Two
// implementations: one node's (`localBackend` here, over its Deno KV and the local message log)
// and a cluster node (`cluster/node.ts`); the server picks one.
import type { Events } from "./events.ts";
import type { Bus } from "./hub/bus.ts";
import { Hub } from "./hub/hub.ts";
import { LocalLog } from "./hub/local_log.ts";
import type { LoginEvents } from "./session/account.ts";
import { type GuestNames, LocalGuestNames } from "./session/guest_names.ts";
import type { MuteTable } from "./session/moderation.ts";
import type { MessageAppender, Store } from "./store/store.ts";

/** One node or a cluster node, as the server and its sessions use it. */
export interface Backend {
  /** Accounts, moderation and history. */
  readonly store: Store;
  /** Fan-out, presence and chat messages through the message log. */
  readonly bus: Bus;
  /** Resolves once every message posted before the call is stored (history reads after it). */
  flushed(): Promise<void>;
  /** Guest names held: by this server's guests, or claimed across the cluster's nodes. */
  readonly guestNames: GuestNames;
  /** Mutes shared with other nodes; none: each server keeps its own. */
  readonly mutes?: MuteTable;
  /** Login outcomes shared with other nodes; none: each server counts its own. */
  readonly logins?: LoginEvents;
  /** Able to serve now (a cluster node: connected to NATS and its presence beating). */
  readonly ready: boolean;
  /**
   * Stores what is queued and leaves (a cluster node: presence key deleted, cursors written);
   * the server closes the store file itself, after.
   */
  close(): Promise<void>;
}

/**
 * One node: the in-process bus over the local message log (group commit into `store`); nothing
 * shared, always ready. Closing it stores what is queued.
 */
export async function localBackend(
  store: Store & MessageAppender,
  events: Events,
): Promise<Backend> {
  const log = await LocalLog.open(store, { events });
  const bus = new Hub({ log, events });
  return {
    store,
    bus,
    flushed: () => log.flushed(),
    guestNames: new LocalGuestNames(),
    ready: true,
    close: () => log.flushed(),
  };
}
