// Guest names claimed across the cluster (docs/cluster.md §5.5): one key per name in the
// `cc_guests` bucket, created only if absent, so of two guests taking one free name on two nodes
// at the same instant exactly one gets it; deleted when the guest leaves. A claim whose node is
// gone (buried by presence, docs/cluster.md §6.3, or an earlier run of this node) is taken over
// by compare-and-set, and swept when a peer goes.
import { getLogger } from "@logtape/logtape";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { GuestNames } from "../session/guest_names.ts";
import { GUESTS } from "./link.ts";
import type { NodeSnapshot } from "./presence.ts";
import { token } from "./records.ts";
import { isWrongSequence } from "./store.ts";

const log = getLogger(["classcord", "cluster"]);

// A claim that keeps losing compare-and-sets (taken over, released, taken again) is given up:
// the guest gets the next suffix.
const CAS_TRIES = 5;

/** Who holds a name: a node and its run (a restart is another boot). */
interface Claim {
  node: string;
  boot: string;
}

/** A claim as read from the stream's leader. */
interface ClaimEntry {
  claim: Claim;
  revision: number;
  /** When it was written (NATS's clock, as presence reads it). */
  created: number;
}

/** Options of {@link ClusterGuestNames}. */
export interface ClusterGuestNamesOptions {
  kv: KV;
  jsm: JetStreamManager;
  node: string;
  boot: string;
  /** The live peers' presence snapshots (their boot tells a restarted node's old claims). */
  peers(): ReadonlyMap<string, NodeSnapshot>;
  /**
   * A claim younger than this is respected even when its node is unknown here: that node may be
   * starting, its presence not read yet. The presence's death delay (6 s).
   */
  graceMs: number;
}

/** The {@link GuestNames} of a cluster node. */
export class ClusterGuestNames implements GuestNames {
  readonly #o: ClusterGuestNamesOptions;
  readonly #value: string;
  /** Names claimed by this node's guests, with the revision of their key. */
  readonly #held = new Map<string, number>();
  /** Names being claimed here now: a second local guest goes on to the next suffix. */
  readonly #claiming = new Set<string>();
  readonly #releasing = new Set<Promise<void>>();
  #sweeping: Promise<void> | undefined;
  #sweepAgain = false;

  constructor(options: ClusterGuestNamesOptions) {
    this.#o = options;
    this.#value = JSON.stringify({ node: options.node, boot: options.boot } satisfies Claim);
  }

  async claim(key: string): Promise<boolean> {
    if (this.#held.has(key) || this.#claiming.has(key)) return false;
    this.#claiming.add(key);
    try {
      const revision = await this.#claim(`g.${token(key)}`);
      if (revision === undefined) return false;
      this.#held.set(key, revision);
      return true;
    } finally {
      this.#claiming.delete(key);
    }
  }

  /** The key's revision once claimed; none when a live claim holds it. */
  async #claim(k: string): Promise<number | undefined> {
    const { kv } = this.#o;
    for (let i = 0; i < CAS_TRIES; i++) {
      try {
        return await kv.create(k, this.#value);
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
      const entry = await this.#entry(k);
      if (!entry) continue; // released meanwhile: create it again
      if (this.#alive(entry)) return undefined;
      try {
        return await kv.update(k, this.#value, entry.revision);
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
    }
    return undefined;
  }

  release(key: string): void {
    const revision = this.#held.get(key);
    if (revision === undefined) return;
    this.#held.delete(key);
    // With its revision: a claim taken over since (this node was thought dead) stays.
    const deleting = this.#o.kv.delete(`g.${token(key)}`, { previousSeq: revision })
      .catch((error) => {
        if (isWrongSequence(error)) return;
        // Left behind: taken over when asked for again, or swept.
        log.warning("Cannot give back the guest name {user}: {error}", { user: key, error });
      })
      .finally(() => this.#releasing.delete(deleting));
    this.#releasing.add(deleting);
  }

  /**
   * Deletes the claims of nodes that are gone; run at start and whenever a peer leaves this
   * node's view, so names of a crashed node do not pile up in the bucket. Never throws.
   */
  sweep(): Promise<void> {
    if (this.#sweeping) {
      this.#sweepAgain = true;
      return this.#sweeping;
    }
    this.#sweeping = (async () => {
      do {
        this.#sweepAgain = false;
        try {
          await this.#sweepOnce();
        } catch (error) {
          log.warning("Cannot sweep the guest names of gone nodes: {error}", { error });
        }
      } while (this.#sweepAgain);
    })().finally(() => this.#sweeping = undefined);
    return this.#sweeping;
  }

  async #sweepOnce(): Promise<void> {
    const { kv, node, boot } = this.#o;
    for await (const k of await kv.keys("g.>")) {
      const entry = await this.#entry(k);
      // This run's claims are its guests' (or being made): they go with a release.
      if (!entry || (entry.claim.node === node && entry.claim.boot === boot)) continue;
      if (this.#alive(entry)) continue;
      // With its revision: a guest that took the name over meanwhile keeps it.
      await kv.delete(k, { previousSeq: entry.revision }).catch(() => {});
    }
  }

  /** Gives back every name this node's guests hold, and waits for the deletes (a clean stop). */
  async stop(): Promise<void> {
    for (const key of [...this.#held.keys()]) this.release(key);
    await Promise.all(this.#releasing);
    await this.#sweeping;
  }

  /** Whether a claim another guest holds still counts. */
  #alive({ claim, created }: ClaimEntry): boolean {
    const { node, boot, peers, graceMs } = this.#o;
    // This run's own claim, not held nor being made here: a release whose delete failed.
    if (claim.node === node && claim.boot === boot) return false;
    if (claim.node !== node && peers().get(claim.node)?.boot === claim.boot) return true;
    return Date.now() - created < graceMs;
  }

  /**
   * The key's claim from the stream's leader, which has every write: a replica could still miss
   * the one that made `create` fail. None when it is deleted.
   */
  async #entry(k: string): Promise<ClaimEntry | null> {
    try {
      const msg = await this.#o.jsm.streams.getMessage(`KV_${GUESTS}`, {
        last_by_subj: `$KV.${GUESTS}.${k}`,
      });
      if (!msg || msg.header?.get("KV-Operation")) return null;
      return { claim: msg.json<Claim>(), revision: msg.seq, created: msg.time.getTime() };
    } catch (err) {
      if (/no message found/i.test((err as Error).message)) return null;
      throw err;
    }
  }
}
