// Deno KV implementation of both store parts (AccountStore, MessageStore) and of MessageAppender.
//
// Key layout (every key the server writes; names are case-folded NFC, `ts` is ms since epoch):
//   ["users", user]                 -> UserRecord
//   ["seq"]                         -> number       highest seq committed
//   ["msg", seq]                    -> StoredMessage, or its head { parts } when too big for a value
//   ["part", seq, i]                -> Uint8Array   UTF-8 JSON of a big message, in chunks
//   ["chan", channelKey, ts, seq]   -> null         channel history, in time order
//   ["dm", "a\nb", ts, seq]         -> null         private history of the pair a < b
//   ["time", ts, seq]               -> null         retention index
//   ["inbox", user, seq]            -> null         offline messages waiting for a user
//   ["channel", channelKey]         -> string       display name of a channel with messages
//   ["import", importKey]           -> number       seq of an imported message (idempotent import)
//   ["peer", user, partner]         -> number       seq of the last private message between them
//   ["pmin", user, partner, seq]    -> null         private messages to user from partner (unread)
//   ["read", user, partner]         -> number       seq up to which user read that conversation
//   ["ban", user]                   -> BanValue     end of a ban and the name as banned (expires
//                                                   itself); a bare number in older stores
//   ["secret", name]                -> Uint8Array   32 random bytes made at first use
// Only in a cluster node's store (its read model of the cluster's stream; accounts, bans and
// mutes are in NATS, not here):
//   ["stream"]                      -> StreamPosition  where the read model stands in the stream
//                                                      (owner: src/cluster/read_model.ts, through
//                                                      append's SideValue or setSideValue;
//                                                      clusterNode() reads it)
//   ["cluster"]                     -> ClusterMark     written at each start of a node
import { concatBytes } from "../bytes.ts";
import { nameKey } from "../auth/names.ts";
import { type Clock, systemClock } from "../clock.ts";
import { createPrivateFile, makeStoreFolder, StoreOpenError } from "./files.ts";
import {
  type Append,
  type Conversation,
  type ConversationSummary,
  type ExportFilter,
  type HistoryPage,
  type MessageAppender,
  type Store,
  type StoredMessage,
  UNREAD_MAX,
  type UserRecord,
} from "./store.ts";

/**
 * What one Deno KV write may hold, with a margin under Deno's own caps: a value 64 KiB, an
 * atomic operation 1000 mutations, 100 checks, 800 KiB in all and 80 KiB of keys; getMany() 10
 * keys. Every writer of a KV file (the server, restore) batches by these.
 */
export const KV_LIMITS = {
  valueBytes: 60_000,
  commitMutations: 900,
  commitChecks: 90,
  commitBytes: 600_000,
  commitKeyBytes: 60_000,
  getMany: 10,
} as const;

const VALUE_BUDGET = KV_LIMITS.valueBytes;
const PART_BYTES = KV_LIMITS.valueBytes;
const COMMIT_MUTATIONS = KV_LIMITS.commitMutations;
const COMMIT_CHECKS = KV_LIMITS.commitChecks; // one per imported message
const COMMIT_BYTES = KV_LIMITS.commitBytes;
const GET_MANY = KV_LIMITS.getMany;

/** What ["ban", user] holds. */
interface BanValue {
  until: number;
  /** The name as banned, for lists. */
  name: string;
}

/** What ["msg", seq] holds for a message stored in parts. */
type Head = Omit<StoredMessage, "line"> & { from: string; parts: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A ban as stored: older stores hold its end alone, without the name as banned. */
function banOf(value: BanValue | number, key: string): { name: string; until: number } {
  return typeof value === "number" ? { name: key, until: value } : value;
}

/** The key of a private conversation: both names, sorted, so either side finds it. */
export function pairKey(a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`;
}

/** The identity of a channel name in keys. */
function channelKey(name: string): string {
  return name.normalize("NFC").toLowerCase();
}

/**
 * A value kept beside the messages (a cluster node's stream position; its key is in the layout
 * above): every commit of an append writes `value` with the `seq` and `ts` of that commit's last
 * message, so it is durable exactly with the messages it counts. Plain data: the store calls
 * nobody back in the middle of a commit.
 */
export interface SideValue {
  key: Deno.KvKey;
  /** What the value holds besides the last message's `seq` and `ts` (the stream's epoch). */
  value: Readonly<Record<string, unknown>>;
}

/** What a cluster node writes in its store: the mark of a node's copy. */
export interface ClusterMark {
  /** The node's name (`--node-name`) when it last started on this store. */
  node: string;
}

/**
 * Both store parts and the appender over one Deno KV database. Names are folded here
 * ({@link nameKey}).
 */
export class KvStore implements Store, MessageAppender {
  readonly #clock: Clock;

  private constructor(readonly kv: Deno.Kv, clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Opens (and creates) the database at `path`, creating its folder; `":memory:"` keeps nothing.
   * A new folder is 0700 and a new file 0600, as its `-wal` and `-shm` then are (see files.ts).
   * `clock` dates the end of bans (tests move it).
   *
   * @throws {StoreOpenError} `Cannot open store "path" (--db): reason`
   */
  static async open(path: string, options: { clock?: Clock } = {}): Promise<KvStore> {
    try {
      if (path !== ":memory:") {
        await makeStoreFolder(path);
        // Deno.openKv would create it 0644, readable by every account of the machine.
        await createPrivateFile(path);
      }
      return new KvStore(await Deno.openKv(path), options.clock ?? systemClock);
    } catch (err) {
      throw StoreOpenError.from(path, err);
    }
  }

  async createUser(user: UserRecord): Promise<boolean> {
    const key = ["users", nameKey(user.name)];
    // check(versionstamp null) makes the create atomic: of two concurrent registrations of
    // one name, exactly one commit succeeds.
    const result = await this.kv.atomic().check({ key, versionstamp: null }).set(key, user)
      .commit();
    return result.ok;
  }

  async getUser(name: string): Promise<UserRecord | null> {
    return (await this.kv.get<UserRecord>(["users", nameKey(name)])).value;
  }

  setPasswordHash(name: string, passwordHash: string): Promise<boolean> {
    return this.#updateUser(name, (user) => ({ ...user, passwordHash }));
  }

  setAdmin(name: string, admin: boolean): Promise<boolean> {
    return this.#updateUser(name, ({ admin: _, ...user }) => admin ? { ...user, admin } : user);
  }

  /** Checked read-modify-write of an account, tried again if it changed in between. */
  async #updateUser(name: string, change: (user: UserRecord) => UserRecord): Promise<boolean> {
    const key = ["users", nameKey(name)];
    for (;;) {
      const entry = await this.kv.get<UserRecord>(key);
      if (!entry.value) return false;
      const op = this.kv.atomic().check(entry).set(key, change(entry.value));
      if ((await op.commit()).ok) return true;
    }
  }

  async deleteUser(name: string): Promise<boolean> {
    const key = nameKey(name);
    for (;;) {
      const entry = await this.kv.get(["users", key]);
      if (!entry.value) return false;
      const inbox: Deno.KvKey[] = [];
      for await (const e of this.kv.list({ prefix: ["inbox", key] })) inbox.push(e.key);
      // The account and (up to a commit's worth of) its inbox go together; a larger inbox
      // is finished in further commits.
      const op = this.kv.atomic().check(entry).delete(["users", key]);
      for (const k of inbox.slice(0, COMMIT_MUTATIONS)) op.delete(k);
      if (!(await op.commit()).ok) continue;
      const rest = inbox.slice(COMMIT_MUTATIONS).map((k) => k[2] as number);
      await this.clearInbox(key, rest);
      await this.forgetConversations(key);
      return true;
    }
  }

  async ban(name: string, until: number): Promise<void> {
    // expireIn lets KV drop the entry once the ban is over; bannedUntil() checks the time anyway.
    const value: BanValue = { until, name: name.normalize("NFC") };
    await this.kv.set(["ban", nameKey(name)], value, {
      expireIn: Math.max(1, until - this.#clock.now()),
    });
  }

  async bannedUntil(name: string): Promise<number | null> {
    const value = (await this.kv.get<BanValue | number>(["ban", nameKey(name)])).value;
    return value === null ? null : banOf(value, "").until;
  }

  async unban(name: string): Promise<boolean> {
    const key = ["ban", nameKey(name)];
    const entry = await this.kv.get(key);
    if (entry.versionstamp === null) return false;
    return (await this.kv.atomic().check(entry).delete(key).commit()).ok;
  }

  async bans(): Promise<{ name: string; until: number }[]> {
    const now = this.#clock.now();
    const out: { name: string; until: number }[] = [];
    for await (const e of this.kv.list<BanValue | number>({ prefix: ["ban"] })) {
      const ban = banOf(e.value, e.key[1] as string);
      // An ended ban whose entry KV has not swept yet is no ban.
      if (ban.until > now) out.push(ban);
    }
    return out;
  }

  async findUsers(prefix: string, limit: number): Promise<string[]> {
    const start = nameKey(prefix);
    const names: string[] = [];
    // Every key starting with the prefix sorts between it and the prefix followed by U+FFFF.
    const iter = this.kv.list<UserRecord>({
      start: ["users", start],
      end: ["users", `${start}\uffff`],
    }, { limit });
    for await (const e of iter) names.push(e.value.name);
    return names;
  }

  async *listUsers(): AsyncIterable<UserRecord> {
    for await (const e of this.kv.list<UserRecord>({ prefix: ["users"] })) yield e.value;
  }

  async lastSeq(): Promise<number> {
    return (await this.kv.get<number>(["seq"])).value ?? 0;
  }

  /**
   * {@link MessageAppender.append}; with `side`, its value is set in each commit too (see
   * {@link SideValue}).
   */
  append(batch: Append[], side?: SideValue): Promise<number> {
    return this.#append(batch, side);
  }

  /** The side value under `key` (see {@link SideValue}), or null when none was written. */
  async sideValue<T>(key: Deno.KvKey): Promise<T | null> {
    return (await this.kv.get<T>(key)).value;
  }

  /**
   * Sets a side value alone (see {@link SideValue}): for a position that moved past records
   * that left no message to store.
   */
  async setSideValue(key: Deno.KvKey, value: unknown): Promise<void> {
    await this.kv.set(key, value);
  }

  /**
   * Marks the store as a cluster node's copy (its read model), so that tools refuse to look
   * for accounts in it: they live in NATS.
   */
  async markClusterNode(node: string): Promise<void> {
    await this.kv.set(["cluster"], { node } satisfies ClusterMark);
  }

  /**
   * Whether a cluster node uses this store: its mark (the node's name), or a stream position
   * alone (a node of a version before the mark: no name known); null for a single server's.
   */
  async clusterNode(): Promise<Partial<ClusterMark> | null> {
    // The read model's position (src/cluster/read_model.ts): only its presence counts here.
    const [mark, position] = await this.kv.getMany<[ClusterMark, unknown]>([
      ["cluster"],
      ["stream"],
    ]);
    if (mark.value) return mark.value;
    return position.value ? {} : null;
  }

  async #append(batch: Append[], side?: SideValue): Promise<number> {
    const fresh = await this.#withoutKnownImports(batch);
    let op = this.kv.atomic();
    let mutations = 0;
    let checks = 0;
    let bytes = 0;
    let maxSeq = 0;
    // A channel keeps the spelling it was first stored under: only new ones are registered.
    const channels = await this.#knownChannels(fresh);
    let pending: Append[] = [];
    const commit = async () => {
      if (mutations === 0) return;
      op.set(["seq"], Math.max(maxSeq, await this.lastSeq()));
      if (side) {
        const { seq, ts } = pending[pending.length - 1].message;
        op.set(side.key, { ...side.value, seq, ts });
      }
      const result = await op.commit();
      // Only import keys are checked: a failed check means a concurrent import of the same
      // message, which then needs no write from us.
      if (!result.ok) await this.#appendOneByOne(pending);
      op = this.kv.atomic();
      mutations = checks = bytes = 0;
      pending = [];
    };
    for (const item of fresh) {
      const writes = this.#writesFor(item, channels);
      const size = writes.reduce((n, w) => n + w.bytes, 0);
      const check = item.importKey ? 1 : 0;
      if (
        mutations + writes.length > COMMIT_MUTATIONS || bytes + size > COMMIT_BYTES ||
        checks + check > COMMIT_CHECKS
      ) {
        await commit();
      }
      for (const w of writes) op.set(w.key, w.value);
      if (item.importKey) op.check({ key: ["import", item.importKey], versionstamp: null });
      checks += check;
      mutations += writes.length;
      bytes += size;
      maxSeq = Math.max(maxSeq, item.message.seq);
      pending.push(item);
    }
    await commit();
    return fresh.length;
  }

  async knownImports(importKeys: string[]): Promise<Set<string>> {
    const known = new Set<string>();
    for (let i = 0; i < importKeys.length; i += GET_MANY) {
      const keys = importKeys.slice(i, i + GET_MANY).map((k) => ["import", k]);
      for (const e of await this.kv.getMany(keys)) {
        if (e.versionstamp !== null) known.add(e.key[1] as string);
      }
    }
    return known;
  }

  async #withoutKnownImports(batch: Append[]): Promise<Append[]> {
    const imports = batch.flatMap((a) => a.importKey ? [a.importKey] : []);
    if (imports.length === 0) return batch;
    const known = await this.knownImports(imports);
    return batch.filter((a) => !a.importKey || !known.has(a.importKey));
  }

  async #knownChannels(batch: Append[]): Promise<Set<string>> {
    const keys = [
      ...new Set(batch.flatMap((a) => {
        const channel = a.message.channel;
        return channel === null ? [] : [channelKey(channel)];
      })),
    ];
    const known = new Set<string>();
    for (let i = 0; i < keys.length; i += GET_MANY) {
      const entries = await this.kv.getMany(keys.slice(i, i + GET_MANY).map((k) => ["channel", k]));
      for (const e of entries) if (e.versionstamp !== null) known.add(e.key[1] as string);
    }
    return known;
  }

  async #appendOneByOne(batch: Append[]): Promise<void> {
    for (const item of batch) {
      const op = this.kv.atomic();
      for (const w of this.#writesFor(item, await this.#knownChannels([item]))) {
        op.set(w.key, w.value);
      }
      if (item.importKey) op.check({ key: ["import", item.importKey], versionstamp: null });
      op.set(["seq"], Math.max(item.message.seq, await this.lastSeq()));
      await op.commit();
    }
  }

  #writesFor(
    item: Append,
    channels: Set<string>,
  ): { key: Deno.KvKey; value: unknown; bytes: number }[] {
    const m = item.message;
    const writes: { key: Deno.KvKey; value: unknown; bytes: number }[] = [];
    const json = JSON.stringify(m);
    // V8 stores a string with any non-Latin-1 character at 2 bytes per UTF-16 unit.
    if (json.length * 2 + 256 <= VALUE_BUDGET) {
      writes.push({ key: ["msg", m.seq], value: m, bytes: json.length * 2 });
    } else {
      const utf8 = encoder.encode(json);
      const parts = Math.ceil(utf8.length / PART_BYTES);
      const { line, ...rest } = m;
      const head: Head = { ...rest, from: line.from, parts };
      writes.push({ key: ["msg", m.seq], value: head, bytes: 256 });
      for (let i = 0; i < parts; i++) {
        const chunk = utf8.slice(i * PART_BYTES, (i + 1) * PART_BYTES);
        writes.push({ key: ["part", m.seq, i], value: chunk, bytes: chunk.length });
      }
    }
    writes.push({ key: ["time", m.ts, m.seq], value: null, bytes: 32 });
    if (m.channel !== null) {
      const ck = channelKey(m.channel);
      writes.push({ key: ["chan", ck, m.ts, m.seq], value: null, bytes: 64 });
      if (!channels.has(ck)) {
        channels.add(ck);
        writes.push({ key: ["channel", ck], value: m.channel, bytes: 64 });
      }
    } else {
      const [from, to] = [nameKey(m.line.from), nameKey(m.to ?? "")];
      writes.push({ key: ["dm", pairKey(from, to), m.ts, m.seq], value: null, bytes: 96 });
      // The conversation lists of both sides, and the recipient's unread count.
      writes.push({ key: ["peer", from, to], value: m.seq, bytes: 96 });
      if (to !== from) writes.push({ key: ["peer", to, from], value: m.seq, bytes: 96 });
      writes.push({ key: ["pmin", to, from, m.seq], value: null, bytes: 96 });
    }
    if (item.inbox) {
      writes.push({ key: ["inbox", nameKey(item.inbox), m.seq], value: null, bytes: 64 });
    }
    if (item.importKey) writes.push({ key: ["import", item.importKey], value: m.seq, bytes: 96 });
    return writes;
  }

  async history(
    of: Conversation,
    options: { limit: number; before?: number; after?: number; since?: number },
  ): Promise<HistoryPage> {
    const prefix: Deno.KvKey = "channel" in of
      ? ["chan", channelKey(of.channel)]
      : ["dm", pairKey(nameKey(of.between[0]), nameKey(of.between[1]))];
    if (options.after !== undefined) return await this.#historyAfter(prefix, options);
    let end: Deno.KvKey = [...prefix, Infinity];
    if (options.before !== undefined) {
      const before = (await this.kv.get<Head>(["msg", options.before])).value;
      // A pruned (or unknown) message: nothing older than it is kept either.
      if (!before) return { messages: [], more: false };
      end = [...prefix, before.ts, options.before];
    }
    const seqs: number[] = [];
    const iter = this.kv.list({ start: [...prefix, options.since ?? 0], end }, {
      reverse: true,
      limit: options.limit + 1,
    });
    for await (const e of iter) seqs.push(e.key[3] as number);
    const more = seqs.length > options.limit;
    const messages = await this.#messages(seqs.slice(0, options.limit).reverse());
    return { messages, more };
  }

  /** The oldest `limit` messages after the seq `after`, by time then seq. */
  async #historyAfter(
    prefix: Deno.KvKey,
    options: { limit: number; after?: number; since?: number },
  ): Promise<HistoryPage> {
    const after = (await this.kv.get<Head>(["msg", options.after!])).value;
    // Index keys are [...prefix, ts, seq]: the next one after (ts, seq) starts at (ts, seq + 1).
    const from: Deno.KvKey = after
      ? [...prefix, Math.max(after.ts, options.since ?? 0), options.after! + 1]
      : [...prefix, options.since ?? 0];
    const seqs: number[] = [];
    const iter = this.kv.list({ start: from, end: [...prefix, Infinity] }, {
      limit: options.limit + 1,
    });
    for await (const e of iter) seqs.push(e.key[3] as number);
    const more = seqs.length > options.limit;
    return { messages: await this.#messages(seqs.slice(0, options.limit)), more };
  }

  async secret(name: string): Promise<Uint8Array> {
    const key = ["secret", name];
    for (;;) {
      const entry = await this.kv.get<Uint8Array>(key);
      if (entry.value) return entry.value;
      const value = crypto.getRandomValues(new Uint8Array(32));
      // Of two first uses at once, one writes it and both read that one.
      if ((await this.kv.atomic().check(entry).set(key, value).commit()).ok) return value;
    }
  }

  /**
   * The user's private conversations; `readMark` gives the read marks when they are kept
   * elsewhere (a cluster shares them between nodes), else they are this store's.
   */
  async conversations(
    user: string,
    options: {
      limit: number;
      after?: number;
      since?: number;
      readMark?: (partner: string) => Promise<number>;
    },
  ): Promise<ConversationSummary[]> {
    const key = nameKey(user);
    const peers: { partner: string; seq: number }[] = [];
    for await (const e of this.kv.list<number>({ prefix: ["peer", key] })) {
      if (e.value > (options.after ?? 0)) peers.push({ partner: e.key[2] as string, seq: e.value });
    }
    peers.sort((a, b) => b.seq - a.seq);
    const out: ConversationSummary[] = [];
    // A conversation whose last message was pruned is over: all of it is gone.
    const lasts = await this.#messages(peers.map((p) => p.seq));
    const bySeq = new Map(lasts.map((m) => [m.seq, m]));
    for (const { partner, seq } of peers) {
      if (out.length === options.limit) break;
      const last = bySeq.get(seq);
      if (!last || last.ts < (options.since ?? 0)) continue;
      const read = options.readMark
        ? await options.readMark(partner)
        : (await this.kv.get<number>(["read", key, partner])).value ?? 0;
      let unread = 0;
      const iter = this.kv.list({
        start: ["pmin", key, partner, read + 1],
        end: ["pmin", key, partner, Infinity],
      }, { limit: UNREAD_MAX });
      for await (const _ of iter) unread++;
      const mine = nameKey(last.line.from) === key && nameKey(last.to ?? "") !== key;
      out.push({ last, partner: mine ? last.to ?? partner : last.line.from, unread });
    }
    return out;
  }

  /**
   * Builds the conversation lists of a store written before they were kept (its private messages
   * are all taken as read); does nothing once a store has them, or has no private message.
   */
  async indexConversations(): Promise<void> {
    for await (const _ of this.kv.list({ prefix: ["peer"] }, { limit: 1 })) return;
    const last = new Map<string, number>();
    for await (const e of this.kv.list({ prefix: ["dm"] })) {
      const pair = e.key[1] as string;
      last.set(pair, Math.max(last.get(pair) ?? 0, e.key[3] as number));
    }
    let op = this.kv.atomic();
    let mutations = 0;
    for (const [pair, seq] of last) {
      const [a, b] = pair.split("\n");
      for (const [user, partner] of [[a, b], [b, a]]) {
        op.set(["peer", user, partner], seq).set(["read", user, partner], seq);
        mutations += 2;
      }
      if (mutations >= COMMIT_MUTATIONS - 4) {
        await op.commit();
        op = this.kv.atomic();
        mutations = 0;
      }
    }
    if (mutations > 0) await op.commit();
  }

  /**
   * Forgets a deleted account's conversation list, unread counts and read marks (the messages
   * stay in the partners' histories), so a new account of that name starts with none.
   */
  async forgetConversations(user: string): Promise<void> {
    const key = nameKey(user);
    for (const prefix of [["peer", key], ["pmin", key], ["read", key]]) {
      let keys: Deno.KvKey[] = [];
      for await (const e of this.kv.list({ prefix })) {
        keys.push(e.key);
        if (keys.length === COMMIT_MUTATIONS) await this.#deleteAll(keys), keys = [];
      }
      await this.#deleteAll(keys);
    }
  }

  async #deleteAll(keys: Deno.KvKey[]): Promise<void> {
    if (keys.length === 0) return;
    const op = this.kv.atomic();
    for (const key of keys) op.delete(key);
    await op.commit();
  }

  async markRead(user: string, partner: string, seq: number): Promise<void> {
    const key = ["read", nameKey(user), nameKey(partner)];
    for (;;) {
      const entry = await this.kv.get<number>(key);
      if ((entry.value ?? 0) >= seq) return;
      if ((await this.kv.atomic().check(entry).set(key, seq).commit()).ok) return;
    }
  }

  async inbox(user: string): Promise<StoredMessage[]> {
    const seqs: number[] = [];
    for await (const e of this.kv.list({ prefix: ["inbox", nameKey(user)] })) {
      seqs.push(e.key[2] as number);
    }
    return await this.#messages(seqs);
  }

  async clearInbox(user: string, seqs: number[]): Promise<void> {
    const key = nameKey(user);
    for (let i = 0; i < seqs.length; i += COMMIT_MUTATIONS) {
      const op = this.kv.atomic();
      for (const seq of seqs.slice(i, i + COMMIT_MUTATIONS)) op.delete(["inbox", key, seq]);
      await op.commit();
    }
  }

  async pruneBefore(ts: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const page: [number, number][] = [];
      const iter = this.kv.list({ start: ["time"], end: ["time", ts] }, { limit: 100 });
      for await (const e of iter) page.push([e.key[1] as number, e.key[2] as number]);
      if (page.length === 0) return removed;
      const heads = await this.#heads(page.map(([, seq]) => seq));
      const op = this.kv.atomic();
      for (const [t, seq] of page) {
        op.delete(["time", t, seq]).delete(["msg", seq]);
        const head = heads.get(seq);
        if (!head) continue;
        for (let i = 0; i < head.parts; i++) op.delete(["part", seq, i]);
        if (head.channel !== null) op.delete(["chan", channelKey(head.channel), t, seq]);
        else {
          op.delete(["dm", head.dmPair, t, seq]);
          op.delete(["pmin", nameKey(head.to ?? ""), nameKey(head.from), seq]);
        }
        if (head.to !== undefined) op.delete(["inbox", nameKey(head.to), seq]);
      }
      await op.commit();
      removed += page.length;
    }
  }

  async *exportMessages(filter: ExportFilter): AsyncIterable<StoredMessage> {
    const wanted = filter.channel === undefined ? undefined : channelKey(filter.channel);
    const user = filter.user === undefined ? undefined : nameKey(filter.user);
    if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
      return;
    }
    for await (const ch of this.kv.list<string>({ prefix: ["channel"] })) {
      const ck = ch.key[1] as string;
      if (wanted !== undefined && ck !== wanted) continue;
      const start: Deno.KvKey = ["chan", ck, filter.since ?? 0];
      const end: Deno.KvKey = filter.until === undefined ? ["chan", ck, Infinity] : [
        "chan",
        ck,
        filter.until,
      ];
      let seqs: number[] = [];
      const flush = async function* (this: KvStore) {
        for (const m of await this.#messages(seqs)) {
          // One spelling per channel: the one it was first stored under.
          if (user === undefined || nameKey(m.line.from) === user) {
            yield { ...m, channel: ch.value };
          }
        }
        seqs = [];
      }.bind(this);
      for await (const e of this.kv.list({ start, end })) {
        seqs.push(e.key[3] as number);
        if (seqs.length === 100) yield* flush();
      }
      yield* flush();
    }
  }

  async channels(): Promise<{ name: string; count: number }[]> {
    const out: { name: string; count: number }[] = [];
    for await (const ch of this.kv.list<string>({ prefix: ["channel"] })) {
      let count = 0;
      for await (const _ of this.kv.list({ prefix: ["chan", ch.key[1]] })) count++;
      out.push({ name: ch.value, count });
    }
    return out;
  }

  close(): void {
    this.kv.close();
  }

  /** What pruning needs of each message: its parts and the keys of its indexes. */
  async #heads(seqs: number[]): Promise<Map<number, Head & { dmPair: string }>> {
    const out = new Map<number, Head & { dmPair: string }>();
    for (let i = 0; i < seqs.length; i += GET_MANY) {
      const keys = seqs.slice(i, i + GET_MANY).map((s) => ["msg", s]);
      for (const e of await this.kv.getMany<(StoredMessage | Head)[]>(keys)) {
        const v = e.value;
        if (v === null) continue;
        const head: Head = "parts" in v
          ? v
          : { seq: v.seq, ts: v.ts, channel: v.channel, to: v.to, from: v.line.from, parts: 0 };
        out.set(v.seq, { ...head, dmPair: pairKey(nameKey(head.from), nameKey(head.to ?? "")) });
      }
    }
    return out;
  }

  /** Full messages for these seqs, in the order given; missing ones are left out. */
  async #messages(seqs: number[]): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    const reads = [];
    for (let i = 0; i < seqs.length; i += GET_MANY) {
      const keys = seqs.slice(i, i + GET_MANY).map((s) => ["msg", s]);
      reads.push(this.kv.getMany<(StoredMessage | Head)[]>(keys));
    }
    for (const entries of await Promise.all(reads)) {
      for (const e of entries) {
        if (e.value === null) continue;
        out.push("parts" in e.value ? await this.#assemble(e.value) : e.value);
      }
    }
    return out;
  }

  async #assemble(head: Head): Promise<StoredMessage> {
    const chunks: Uint8Array[] = [];
    for await (const e of this.kv.list<Uint8Array>({ prefix: ["part", head.seq] })) {
      chunks.push(e.value);
    }
    return JSON.parse(decoder.decode(concatBytes(chunks)));
  }
}
