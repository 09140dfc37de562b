// The store of a cluster node: accounts, bans and secrets in the replicated `cc_users` bucket,
// shared by every node (docs/cluster.md §5); messages in the node's own Deno KV, its read model of
// the message stream (written by the feed, never here); private messages waiting for a user
// told apart from those a session of theirs already got by a cursor per user (docs/cluster.md §7).
import { getLogger } from "@logtape/logtape";
import type { KV, KvEntry } from "@nats-io/kv";
import { nameKey } from "../auth/names.ts";
import type { KvStore } from "../store/kv_store.ts";
import type {
  Conversation,
  ConversationSummary,
  ExportFilter,
  HistoryPage,
  Store,
  StoredMessage,
  UserRecord,
} from "../store/store.ts";
import type { ClusterLink } from "./link.ts";
import { token } from "./records.ts";

const log = getLogger(["classcord", "cluster"]);
const encoder = new TextEncoder();
// Retries of a compare-and-set that lost to another node's write.
const CAS_TRIES = 5;

/**
 * Which private messages each user's sessions got live on this node, so the inbox read at a
 * login on this node does not hand them over again; and the highest one delivered anywhere,
 * raised in the shared `cc_inbox` bucket (coalesced, then flushed).
 */
export class InboxCursors {
  readonly #kv: KV;
  readonly #live = new Map<string, Set<number>>();
  readonly #pending = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  /** A private message `seq` reached a session of `key` here. */
  delivered(key: string, seq: number): void {
    let live = this.#live.get(key);
    if (!live) this.#live.set(key, live = new Set());
    live.add(seq);
    this.raise(key, seq);
  }

  /** Whether a session of `key` got `seq` live on this node. */
  gotLive(key: string, seq: number): boolean {
    return this.#live.get(key)?.has(seq) ?? false;
  }

  /** The highest seq delivered to `key` anywhere, as the bucket says. */
  async cursor(key: string): Promise<number> {
    const entry = await this.#kv.get(`c.${token(key)}`);
    return Math.max(readCursor(entry), this.#pending.get(key) ?? 0);
  }

  /** Raises `key`'s cursor to `seq` (at most once a second per node, never down). */
  raise(key: string, seq: number): void {
    if ((this.#pending.get(key) ?? 0) >= seq) return;
    this.#pending.set(key, seq);
    this.#timer ??= setTimeout(() => this.flush(), 1000);
  }

  /** Writes every raised cursor now. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const [key, seq] of pending) {
      try {
        await this.#raiseInBucket(key, seq);
      } catch (error) {
        log.warning("Cannot raise the inbox cursor of {user}: {error}", { user: key, error });
        this.raise(key, seq);
      }
    }
  }

  /** Forgets what this node delivered to `key` up to `seq` (its inbox was read and cleared). */
  forget(key: string, upTo: number): void {
    const live = this.#live.get(key);
    if (!live) return;
    for (const seq of live) if (seq <= upTo) live.delete(seq);
    if (live.size === 0) this.#live.delete(key);
  }

  async #raiseInBucket(key: string, seq: number): Promise<void> {
    const k = `c.${token(key)}`;
    for (let i = 0; i < CAS_TRIES; i++) {
      const entry = await this.#kv.get(k);
      if (readCursor(entry) >= seq) return;
      try {
        if (entry && entry.operation === "PUT") {
          await this.#kv.update(k, String(seq), entry.revision);
        } else await this.#kv.put(k, String(seq), { previousSeq: entry?.revision ?? 0 });
        return;
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
    }
  }

  close(): void {
    clearTimeout(this.#timer);
  }
}

function readCursor(entry: KvEntry | null): number {
  return entry && entry.operation === "PUT" ? Number(entry.string()) || 0 : 0;
}

/** A compare-and-set that lost: someone else wrote the key first. */
export function isWrongSequence(err: unknown): boolean {
  return /wrong last sequence|key exists/i.test((err as Error).message);
}

/** A ban as the bucket keeps it. */
/** The key of a user's read mark of a private conversation in `cc_users`. */
function readKey(user: string, partner: string): string {
  return `r.${token(nameKey(user))}.${token(nameKey(partner))}`;
}

interface BanValue {
  name: string;
  until: number;
}

/**
 * Both store parts of a cluster node ({@link Store}): accounts and moderation in NATS, messages
 * read from its read model. No appender: messages reach the read model through the stream only.
 */
export class ClusterStore implements Store {
  readonly #local: KvStore;
  readonly #link: ClusterLink;
  readonly #cursors: InboxCursors;
  readonly #now: () => number;

  constructor(local: KvStore, link: ClusterLink, cursors: InboxCursors, now = Date.now) {
    this.#local = local;
    this.#link = link;
    this.#cursors = cursors;
    this.#now = now;
  }

  /** The node's read model. */
  get local(): KvStore {
    return this.#local;
  }

  async createUser(user: UserRecord): Promise<boolean> {
    try {
      // Created only if the key never existed or was deleted: of two nodes registering one
      // name at once, the stream's leader accepts exactly one.
      await this.#link.users.create(`u.${token(nameKey(user.name))}`, json(user));
      return true;
    } catch (err) {
      if (isWrongSequence(err)) return false;
      throw err;
    }
  }

  async getUser(name: string): Promise<UserRecord | null> {
    return (await this.#entry(`u.${token(nameKey(name))}`))?.json<UserRecord>() ?? null;
  }

  setPasswordHash(name: string, passwordHash: string): Promise<boolean> {
    return this.#updateUser(name, (user) => ({ ...user, passwordHash }));
  }

  setAdmin(name: string, admin: boolean): Promise<boolean> {
    return this.#updateUser(name, ({ admin: _, ...user }) => admin ? { ...user, admin } : user);
  }

  async #updateUser(name: string, change: (user: UserRecord) => UserRecord): Promise<boolean> {
    const key = `u.${token(nameKey(name))}`;
    for (let i = 0; i < CAS_TRIES; i++) {
      const entry = await this.#entry(key);
      if (!entry) return false;
      try {
        await this.#link.users.update(key, json(change(entry.json<UserRecord>())), entry.revision);
        return true;
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
    }
    throw new Error(`The account "${name}" kept changing: try again`);
  }

  async deleteUser(name: string): Promise<boolean> {
    const key = nameKey(name);
    const entry = await this.#entry(`u.${token(key)}`);
    if (!entry) return false;
    try {
      await this.#link.users.delete(`u.${token(key)}`, { previousSeq: entry.revision });
    } catch (err) {
      if (isWrongSequence(err)) return await this.deleteUser(name);
      throw err;
    }
    const waiting = await this.#local.inbox(key);
    await this.#local.clearInbox(key, waiting.map((m) => m.seq));
    await this.#local.forgetConversations(key);
    return true;
  }

  async *listUsers(): AsyncIterable<UserRecord> {
    const keys: string[] = [];
    for await (const k of await this.#link.users.keys("u.>")) keys.push(k);
    const users: UserRecord[] = [];
    for (const k of keys) {
      const entry = await this.#entry(k);
      if (entry) users.push(entry.json<UserRecord>());
    }
    users.sort((a, b) => nameKey(a.name) < nameKey(b.name) ? -1 : 1);
    yield* users;
  }

  async secret(name: string): Promise<Uint8Array> {
    const key = `x.${token(name)}`;
    for (;;) {
      const entry = await this.#entry(key);
      if (entry) return Uint8Array.from(atob(entry.string()), (c) => c.charCodeAt(0));
      const value = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
      try {
        await this.#link.users.create(key, value);
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
    }
  }

  async ban(name: string, until: number): Promise<void> {
    const value: BanValue = { name: name.normalize("NFC"), until };
    await this.#link.users.put(`b.${token(nameKey(name))}`, json(value));
  }

  async bannedUntil(name: string): Promise<number | null> {
    const entry = await this.#entry(`b.${token(nameKey(name))}`);
    return entry ? entry.json<BanValue>().until : null;
  }

  async unban(name: string): Promise<boolean> {
    const key = `b.${token(nameKey(name))}`;
    const entry = await this.#entry(key);
    if (!entry) return false;
    try {
      await this.#link.users.delete(key, { previousSeq: entry.revision });
      return true;
    } catch (err) {
      if (isWrongSequence(err)) return false;
      throw err;
    }
  }

  async bans(): Promise<{ name: string; until: number }[]> {
    const now = this.#now();
    const out: { name: string; until: number }[] = [];
    for await (const k of await this.#link.users.keys("b.>")) {
      const entry = await this.#entry(k);
      if (!entry) continue;
      const ban = entry.json<BanValue>();
      if (ban.until > now) out.push(ban);
    }
    return out.sort((a, b) => a.name < b.name ? -1 : 1);
  }

  async findUsers(prefix: string, limit: number): Promise<string[]> {
    // Keys hold names as tokens (base64url): the prefix is matched on the accounts themselves,
    // which a class's few hundred make cheap.
    const start = nameKey(prefix);
    const names: string[] = [];
    for await (const user of this.listUsers()) {
      if (nameKey(user.name).startsWith(start)) names.push(user.name);
      if (names.length === limit) break;
    }
    return names;
  }

  /**
   * From this node's read model (every node holds the same conversations), counted from the read
   * marks the nodes share in the `cc_users` bucket.
   */
  conversations(
    user: string,
    options: { limit: number; after?: number; since?: number },
  ): Promise<ConversationSummary[]> {
    return this.#local.conversations(user, {
      ...options,
      readMark: async (partner) => {
        const entry = await this.#entry(readKey(user, partner));
        return entry ? Number(entry.string()) : 0;
      },
    });
  }

  /** Raises the shared read mark, compare-and-set: a mark never goes back. */
  async markRead(user: string, partner: string, seq: number): Promise<void> {
    const key = readKey(user, partner);
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.#entry(key);
      const current = entry ? Number(entry.string()) : 0;
      if (current >= seq) return;
      try {
        if (entry) await this.#link.users.update(key, String(seq), entry.revision);
        else await this.#link.users.create(key, String(seq));
        return;
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
      }
    }
  }

  knownImports(importKeys: string[]): Promise<Set<string>> {
    return this.#local.knownImports(importKeys);
  }

  lastSeq(): Promise<number> {
    return this.#local.lastSeq();
  }

  history(
    of: Conversation,
    options: { limit: number; before?: number; after?: number; since?: number },
  ): Promise<HistoryPage> {
    return this.#local.history(of, options);
  }

  /**
   * The private messages no session of `user` got yet: those of the read model above the
   * shared cursor, but those a session of theirs on this node got live.
   */
  async inbox(user: string): Promise<StoredMessage[]> {
    const key = nameKey(user);
    const cursor = await this.#cursors.cursor(key);
    const waiting = await this.#local.inbox(key);
    return waiting.filter((m) => m.seq > cursor && !this.#cursors.gotLive(key, m.seq));
  }

  async clearInbox(user: string, seqs: number[]): Promise<void> {
    const key = nameKey(user);
    if (seqs.length === 0) return;
    const top = Math.max(...seqs);
    // Everything up to the last one handed over is done, here and for the other nodes.
    const below = (await this.#local.inbox(key)).filter((m) => m.seq <= top).map((m) => m.seq);
    await this.#local.clearInbox(key, below);
    this.#cursors.forget(key, top);
    this.#cursors.raise(key, top);
  }

  pruneBefore(ts: number): Promise<number> {
    return this.#local.pruneBefore(ts);
  }

  exportMessages(filter: ExportFilter): AsyncIterable<StoredMessage> {
    return this.#local.exportMessages(filter);
  }

  channels(): Promise<{ name: string; count: number }[]> {
    return this.#local.channels();
  }

  close(): void {
    this.#cursors.close();
    this.#local.close();
  }

  /**
   * A key's live value, read from the stream's leader (its last message for the key): a replica
   * may lag behind a write just made, through this node or another (change a password, then log
   * in; ban, then check), and a stale read there would be wrong for the user. Null when the key
   * is missing or deleted.
   */
  async #entry(key: string): Promise<Entry | null> {
    try {
      const msg = await this.#link.jsm.streams.getMessage("KV_cc_users", {
        last_by_subj: `$KV.cc_users.${key}`,
      });
      if (!msg || msg.header?.get("KV-Operation")) return null;
      return { revision: msg.seq, json: <T>() => msg.json<T>(), string: () => msg.string() };
    } catch (err) {
      if (/no message found/i.test((err as Error).message)) return null;
      throw err;
    }
  }
}

/** A key's live value in the `cc_users` bucket, with its revision for compare-and-set. */
interface Entry {
  revision: number;
  json<T>(): T;
  string(): string;
}

function json(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}
