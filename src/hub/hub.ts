// Presence and fan-out: who is online under which name, and delivery of encoded lines to them.

/** An identified session as the hub sees it. */
export interface Member {
  /** Case-folded name ({@link nameKey}); several sessions of one user share it. */
  readonly key: string;
  /** Display name. */
  readonly name: string;
  /** Queues one encoded line for this session; never blocks. */
  deliver(line: Uint8Array): void;
}

/**
 * The identified sessions, grouped by name. Lines are encoded once by the caller and the same
 * bytes are queued on every recipient; the hub never waits for any of them.
 */
export class Hub {
  readonly #byKey = new Map<string, Set<Member>>();

  /** Adds a member; true when it is the first session under its name (announce "online"). */
  join(member: Member): boolean {
    let sessions = this.#byKey.get(member.key);
    const first = sessions === undefined;
    if (!sessions) this.#byKey.set(member.key, sessions = new Set());
    sessions.add(member);
    return first;
  }

  /** Removes a member; true when it was the last session under its name (announce "offline"). */
  leave(member: Member): boolean {
    const sessions = this.#byKey.get(member.key);
    if (!sessions?.delete(member)) return false;
    if (sessions.size > 0) return false;
    this.#byKey.delete(member.key);
    return true;
  }

  /** Whether any session is online under this case-folded name. */
  isOnline(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** Each online name once, in the order they came online. */
  names(): string[] {
    const names: string[] = [];
    for (const sessions of this.#byKey.values()) {
      names.push(sessions.values().next().value!.name);
    }
    return names;
  }

  /** Every identified session. */
  *members(): IterableIterator<Member> {
    for (const sessions of this.#byKey.values()) yield* sessions;
  }

  /** Queues `line` on every identified session but `except`; returns the number of deliveries. */
  broadcast(line: Uint8Array, except?: Member): number {
    let count = 0;
    for (const sessions of this.#byKey.values()) {
      for (const m of sessions) {
        if (m === except) continue;
        m.deliver(line);
        count++;
      }
    }
    return count;
  }

  /** Queues `line` on every session of one name but `except`; returns the number of deliveries. */
  sendTo(key: string, line: Uint8Array, except?: Member): number {
    const sessions = this.#byKey.get(key);
    if (!sessions) return 0;
    let count = 0;
    for (const m of sessions) {
      if (m === except) continue;
      m.deliver(line);
      count++;
    }
    return count;
  }
}
