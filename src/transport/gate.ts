// Connection caps of docs/protocol.md §5.9, shared by every listener: connections in total and per
// address, new connections per address, and the connections that have not identified yet.
import type { AddressSet } from "../address_set.ts";
import type { Clock } from "../clock.ts";
import { KeyedWindows } from "../session/limits.ts";

/** A connection that has not identified yet, as the gate keeps it. */
export interface Anonymous {
  readonly address: string;
  /** Logged in or posting as a guest: the gate forgets it. */
  readonly identified: boolean;
  /** Handling a request (a login being checked): not idle, so never closed to make room. */
  readonly busy: boolean;
  /**
   * What it has sent so far, which decides who makes room first: nothing at all (a login window
   * a client opened and forgot), bytes but no valid request yet, or a valid request (a
   * `register`, a `hello`).
   */
  readonly activity: Activity;
  /** Closes it with a final error naming the cap that was reached, to make room for a newer one. */
  evict(cap: AnonymousCap): void;
}

/** What an anonymous connection has sent: nothing, bytes, or a valid request. */
export type Activity = 0 | 1 | 2;

/** The cap of connections waiting to log in that made room: one address's, or everybody's. */
export type AnonymousCap = "address" | "total";

/** Why the gate refused a connection. */
export type Refusal = "total" | "address" | "rate" | "anonymous";

/** Options of {@link ConnectionGate}: the limits of docs/protocol.md §5.9 it enforces. */
export interface GateLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  newConnectionsPerAddress: number;
  maxAnonymous: number;
  maxAnonymousPerAddress: number;
}

// A connection that came a moment ago is about to identify (its first line may be on its
// way): it is not closed to make room before this age, so a class connecting at once is safe.
const EVICTION_GRACE_MS = 5000;
const monotonicNow = (): number => performance.now();

interface Entry {
  conn: Anonymous;
  /** Monotonic ms when its time to identify started (connect, or its last register). */
  since: number;
}

/**
 * Admits or refuses new connections, and keeps the anonymous ones in the order their time to
 * identify started. When an anonymous cap is reached, an idle anonymous connection (of the
 * address, or of all) is closed first: one that never sent a byte before one that sent something,
 * before one that sent a valid request, the oldest first among equals (docs/protocol.md, section
 * 5, Connections waiting to log in); only when none can be is the new one refused. Addresses in
 * the trusted set have no per-address cap; the totals hold for everybody.
 */
export class ConnectionGate {
  readonly #limits: GateLimits;
  readonly #trusted: AddressSet;
  readonly #now: () => number;
  readonly #newPerAddress: KeyedWindows;
  readonly #open = new Map<string, number>();
  #total = 0;
  // Anonymous connections, oldest first (a Map keeps insertion order), in all and by address.
  readonly #anonymous = new Map<Anonymous, Entry>();
  readonly #anonymousByAddress = new Map<string, Map<Anonymous, Entry>>();

  constructor(
    clock: Clock,
    limits: GateLimits,
    options: { trusted: AddressSet; now?: () => number },
  ) {
    this.#limits = limits;
    this.#trusted = options.trusted;
    this.#now = options.now ?? monotonicNow;
    // New connections per address in 10 s (docs/protocol.md §5.9).
    this.#newPerAddress = new KeyedWindows(clock, {
      max: limits.newConnectionsPerAddress,
      windowMs: 10_000,
    });
  }

  /** Whether an address is exempt from the per-address caps. */
  isTrusted(address: string): boolean {
    return this.#trusted.has(address);
  }

  /**
   * Admits a connection from `address` (it then counts until {@link release}), closing the
   * oldest idle anonymous connection when an anonymous cap is reached; or says which limit
   * refuses it.
   */
  admit(address: string): "ok" | Refusal {
    const limits = this.#limits;
    const trusted = this.isTrusted(address);
    if (this.#total >= limits.maxConnections) return "total";
    if (!trusted) {
      if ((this.#open.get(address) ?? 0) >= limits.maxConnectionsPerAddress) return "address";
      if (this.#newPerAddress.blocked(address) > 0) return "rate";
    }
    const byAddress = this.#anonymousByAddress.get(address);
    if (!trusted && this.#atCap(byAddress, limits.maxAnonymousPerAddress)) {
      if (!this.#evictIdlest(byAddress!, "address")) return "anonymous";
    }
    if (this.#atCap(this.#anonymous, limits.maxAnonymous)) {
      if (!this.#evictIdlest(this.#anonymous, "total")) return "anonymous";
    }
    if (!trusted) this.#newPerAddress.add(address);
    this.#total++;
    this.#open.set(address, (this.#open.get(address) ?? 0) + 1);
    return "ok";
  }

  /** A connection admitted earlier is gone. */
  release(address: string): void {
    this.#total--;
    const n = (this.#open.get(address) ?? 1) - 1;
    if (n === 0) this.#open.delete(address);
    else this.#open.set(address, n);
  }

  /** Starts (or, after a register, restarts) a connection's time to identify. */
  waiting(conn: Anonymous): void {
    this.forget(conn);
    const entry = { conn, since: this.#now() };
    this.#anonymous.set(conn, entry);
    let byAddress = this.#anonymousByAddress.get(conn.address);
    if (!byAddress) this.#anonymousByAddress.set(conn.address, byAddress = new Map());
    byAddress.set(conn, entry);
  }

  /** The connection identified or closed: it no longer counts as anonymous. */
  forget(conn: Anonymous): void {
    if (!this.#anonymous.delete(conn)) return;
    const byAddress = this.#anonymousByAddress.get(conn.address)!;
    byAddress.delete(conn);
    if (byAddress.size === 0) this.#anonymousByAddress.delete(conn.address);
  }

  /**
   * The anonymous connections whose time to identify is over; those that identified since are
   * forgotten on the way.
   */
  *expired(timeoutMs: number): Generator<Anonymous> {
    const limit = this.#now() - timeoutMs;
    for (const [conn, entry] of this.#anonymous) {
      if (conn.identified) this.forget(conn);
      else if (entry.since <= limit) yield conn;
      else break; // oldest first: the rest started later
    }
  }

  /**
   * Whether `entries` hold `max` anonymous connections; those that identified since are
   * forgotten first (only then: the size is an upper bound, cheap to read on every connect).
   */
  #atCap(entries: Map<Anonymous, Entry> | undefined, max: number): boolean {
    if (!entries || entries.size < max) return false;
    for (const conn of entries.keys()) if (conn.identified) this.forget(conn);
    return entries.size >= max;
  }

  /**
   * Closes an anonymous connection of `entries` that is idle and past the grace: the one that
   * sent the least, the oldest among equals. Rare (only at a cap), so a scan of the cap's few
   * hundred entries at most.
   */
  #evictIdlest(entries: Map<Anonymous, Entry>, cap: AnonymousCap): boolean {
    const limit = this.#now() - EVICTION_GRACE_MS;
    let chosen: Anonymous | undefined;
    for (const [conn, entry] of entries) {
      if (entry.since > limit) break; // oldest first: the rest are younger still
      if (conn.busy) continue;
      if (!chosen || conn.activity < chosen.activity) chosen = conn;
      if (chosen.activity === 0) break; // nothing sent: none goes before it
    }
    if (!chosen) return false;
    this.forget(chosen);
    chosen.evict(cap);
    return true;
  }
}
