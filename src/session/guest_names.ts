// Guest names held by the guests online: a name is given to one guest at a time
// (docs/protocol.md §3.13). The seam a session sees, and its one-node implementation; a cluster
// node claims them in NATS instead (docs/cluster.md §5.5).

/** Guest names claimed by the guests of this server, or of every node of a cluster. */
export interface GuestNames {
  /**
   * Claims the case-folded name `key` for a guest about to join here; false when another guest
   * (of any node) holds it. A name claimed must be given back with {@link release}.
   *
   * @throws {Error} when the claim cannot be made (a cluster node cut from NATS)
   */
  claim(key: string): Promise<boolean>;
  /** Gives back a name claimed here: its guest left, or did not join after all. */
  release(key: string): void;
}

/** One server's guest names: a set in memory, claimed and released in the same process. */
export class LocalGuestNames implements GuestNames {
  readonly #held = new Set<string>();

  claim(key: string): Promise<boolean> {
    if (this.#held.has(key)) return Promise.resolve(false);
    this.#held.add(key);
    return Promise.resolve(true);
  }

  release(key: string): void {
    this.#held.delete(key);
  }
}
