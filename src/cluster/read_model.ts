// A node's read model of the message stream (docs/cluster.md §3.3): the node's own Deno KV, with
// where it stands in the stream under ["stream"], a key this file owns (listed with the others in
// the key layout of src/store/kv_store.ts). Written by the feed only.
import { deleteEntries } from "../store/kv_entries.ts";
import type { KvStore, SideValue } from "../store/kv_store.ts";
import type { Append } from "../store/store.ts";

/** Where a node's read model stands in the cluster's message stream. */
export interface StreamPosition {
  /** The last stream sequence applied. */
  seq: number;
  /** The time index of the last message applied (ms), never going back in stream order. */
  ts: number;
  /** The stream's creation time: another value means the stream was recreated. */
  epoch: string;
}

const STREAM_KEY: Deno.KvKey = ["stream"];

/** The messages a node read from the stream, in its Deno KV, and its position there. */
export class ReadModel {
  readonly #local: KvStore;

  constructor(local: KvStore) {
    this.#local = local;
  }

  /** Where the read model stands in the stream, or null when it has read nothing yet. */
  position(): Promise<StreamPosition | null> {
    return this.#local.sideValue<StreamPosition>(STREAM_KEY);
  }

  /** The highest seq the read model holds, 0 when none. */
  lastSeq(): Promise<number> {
    return this.#local.lastSeq();
  }

  /**
   * Stores messages read from the stream, in stream order, and where the read model now stands,
   * in the same commits: a crash never leaves a message stored and not counted, or counted and
   * not stored.
   */
  async append(batch: Append[], epoch: string): Promise<void> {
    // Each commit's last message gives the position its seq and ts.
    const position: SideValue = {
      key: STREAM_KEY,
      value: { epoch } satisfies Omit<StreamPosition, "seq" | "ts">,
    };
    await this.#local.append(batch, position);
  }

  /**
   * Records a position with no message to store: past records that carry none (control
   * records, records this node does not know) or that the stream no longer holds.
   */
  async moveTo(position: StreamPosition): Promise<void> {
    await this.#local.setSideValue(STREAM_KEY, position);
  }

  /** Deletes every entry: a read model whose stream was recreated starts over. */
  async clear(): Promise<void> {
    await deleteEntries(this.#local);
  }
}
