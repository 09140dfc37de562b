// The chat state (docs/web.md §6.1): messages upserted by seq from live lines, offline
// deliveries, history pages and the catch-up alike, ordered by (timestamp, seq); local echoes
// keyed by request id; unread counts and the "nouveaux messages" line. Memory only.
import { type ErrorInfo, nameKey, type WireMessage } from "./wire.ts";

/** A stored message as the page shows it. */
export interface ChatMessage {
  seq: number;
  from: string;
  content: string;
  timestamp: string;
  announce: boolean;
  /** Delivered at login: "reçu pendant votre absence". */
  offline: boolean;
}

/**
 * A message of ours not acknowledged yet: waiting its turn (`queued`, also while disconnected),
 * out (`sending`), in doubt after a drop (`unknown`), or refused (`failed`).
 */
export interface PendingSend {
  id: string;
  conv: string;
  text: string;
  state: "queued" | "sending" | "unknown" | "failed";
  error?: ErrorInfo;
  /** Local time of the send, for display only. */
  timestamp: string;
}

/** One channel or private conversation. */
export interface Conversation {
  /** "#" + channel key, or "@" + name key. */
  key: string;
  kind: "channel" | "private";
  /** "#sisr" as written, or the peer's name as registered. */
  name: string;
  bySeq: Map<number, ChatMessage>;
  /** Sorted by (timestamp, seq). */
  order: ChatMessage[];
  /** Older messages may exist on the server (page with `before` the first's seq). */
  hasMore: boolean;
  /** The newest page has been asked for once. */
  loaded: boolean;
  loading: boolean;
  unread: number;
  /** The "nouveaux messages" line goes before this message. */
  markerSeq?: number;
  /** Everything up to this message is held: the next catch-up asks `after` it. */
  syncedSeq?: number;
  /** A catch-up stopped at its cap after this message: "messages manquants, charger". */
  gapAfterSeq?: number;
  /** Bumped at every change (cheap re-render checks). */
  version: number;
}

/** Keep at most this many messages per conversation while at the bottom (docs/web.md §6.1). */
export const MAX_KEPT = 500;

/** Orders two messages by (timestamp, seq): fixed-width timestamps sort as text. */
export function compareMessages(a: ChatMessage, b: ChatMessage): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  return a.seq - b.seq;
}

/** How an upsert counts. */
export interface UpsertOptions {
  /** Arrived now (live, offline delivery, catch-up): may count as unread. */
  fresh?: boolean;
  offline?: boolean;
  /** Our own name's key: our messages never count as unread. */
  own?: boolean;
}

/** Every conversation of the page, and the sends waiting for their ack. */
export class ChatState {
  readonly conversations = new Map<string, Conversation>();
  readonly pending = new Map<string, PendingSend>();
  /** The conversation shown. */
  active: string | undefined;
  /** The shown conversation is seen: page visible and scrolled to the bottom. */
  viewing = true;
  /** Bumped at every change. */
  version = 0;

  /** The conversation, created empty if new. */
  ensure(key: string, kind: Conversation["kind"], name: string): Conversation {
    let conv = this.conversations.get(key);
    if (!conv) {
      conv = {
        key,
        kind,
        name,
        bySeq: new Map(),
        order: [],
        hasMore: true,
        loaded: false,
        loading: false,
        unread: 0,
        version: 0,
      };
      this.conversations.set(key, conv);
      this.#touch(conv);
    }
    return conv;
  }

  /** Removes a conversation (a channel left). */
  remove(key: string): void {
    this.conversations.delete(key);
    for (const [id, p] of this.pending) if (p.conv === key) this.pending.delete(id);
    if (this.active === key) this.active = undefined;
    this.version++;
  }

  /** Forgets everything (another account logs in). */
  clear(): void {
    this.conversations.clear();
    this.pending.clear();
    this.active = undefined;
    this.version++;
  }

  /** Adds or refreshes a message; true when it was not known. */
  upsert(key: string, m: WireMessage | ChatMessage, options: UpsertOptions = {}): boolean {
    const conv = this.conversations.get(key);
    if (!conv) return false;
    const known = conv.bySeq.get(m.seq);
    if (known) {
      if (options.offline && !known.offline) {
        // A new object, so memoised rows re-render.
        const flagged = { ...known, offline: true };
        conv.bySeq.set(m.seq, flagged);
        conv.order[conv.order.indexOf(known)] = flagged;
        this.#touch(conv);
      }
      return false;
    }
    const msg: ChatMessage = {
      seq: m.seq,
      from: m.from,
      content: m.content,
      timestamp: m.timestamp,
      announce: m.announce,
      offline: options.offline ?? false,
    };
    conv.bySeq.set(msg.seq, msg);
    insertSorted(conv.order, msg);
    if (options.fresh && !options.own && !this.#seen(key)) {
      if (conv.unread === 0) conv.markerSeq = msg.seq;
      conv.unread++;
    }
    this.#touch(conv);
    return true;
  }

  /** A page of history: `older` moves `hasMore`, `newer` pages never do. */
  addPage(
    key: string,
    messages: readonly WireMessage[],
    options: {
      more: boolean;
      direction: "older" | "latest" | "newer";
      fresh?: boolean;
      own?: string;
    },
  ): number {
    const conv = this.conversations.get(key);
    if (!conv) return 0;
    let added = 0;
    for (const m of messages) {
      const own = options.own !== undefined && nameKey(m.from) === options.own;
      if (this.upsert(key, m, { fresh: options.fresh, own })) added++;
    }
    // `more` tells about messages older than the page's first: it matters when that first is
    // now the oldest held (always for `older`; for `latest` unless older ones were held).
    const first = messages[0];
    if (
      options.direction === "older" ||
      (options.direction === "latest" && (!conv.loaded || first === undefined ||
        conv.order[0]?.seq === first.seq))
    ) {
      conv.hasMore = options.more;
    }
    if (options.direction !== "newer") conv.loaded = true;
    this.#touch(conv);
    return added;
  }

  /** The seq to page back from: the oldest message held. */
  oldestSeq(key: string): number | undefined {
    return this.conversations.get(key)?.order[0]?.seq;
  }

  /** The newest message held (by time order), for `after`. */
  newestSeq(key: string): number | undefined {
    const order = this.conversations.get(key)?.order;
    return order?.[order.length - 1]?.seq;
  }

  /** Opens a conversation: its unread count is cleared when seen, its old marker dropped. */
  setActive(key: string | undefined): void {
    if (key === this.active) return;
    const old = this.active !== undefined ? this.conversations.get(this.active) : undefined;
    if (old) {
      old.markerSeq = undefined;
      this.#touch(old);
    }
    this.active = key;
    this.#markSeen();
    this.version++;
  }

  /** Whether the shown conversation is seen (visible page, at the bottom). */
  setViewing(viewing: boolean): void {
    if (viewing === this.viewing) return;
    this.viewing = viewing;
    this.#markSeen();
    this.version++;
  }

  /** Unread messages in every conversation. */
  get totalUnread(): number {
    let n = 0;
    for (const c of this.conversations.values()) n += c.unread;
    return n;
  }

  /** Records a send before it goes out. */
  addPending(p: PendingSend): void {
    this.pending.set(p.id, p);
    this.#touchKey(p.conv);
  }

  /** The ack: the echo becomes the stored message. */
  ack(id: string, seq: number, timestamp: string, from: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.upsert(p.conv, { seq, timestamp, from, content: p.text, announce: false, offline: false });
    this.#touchKey(p.conv);
  }

  /** A send changes state (queued → sending, or back to queued after a rate limit). */
  setState(id: string, state: "queued" | "sending"): void {
    const p = this.pending.get(id);
    if (!p || p.state === state) return;
    this.pending.set(id, { ...p, state });
    this.#touchKey(p.conv);
  }

  /** A refused (or lost) send: shown with "Renvoyer". */
  fail(id: string, error: ErrorInfo): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.set(id, { ...p, state: "failed", error });
    this.#touchKey(p.conv);
  }

  /** Drops a pending send (sent after all, discarded, or resent under a new id). */
  dropPending(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.#touchKey(p.conv);
  }

  /** The socket closed: sends without ack are in doubt until the catch-up says. */
  markInDoubt(): void {
    for (const [id, p] of this.pending) {
      if (p.state === "sending") this.pending.set(id, { ...p, state: "unknown" });
      this.#touchKey(p.conv);
    }
  }

  /**
   * After the catch-up: a send in doubt found among the messages the catch-up brought (our
   * name, same text) was stored and is dropped; one not found in a conversation the catch-up
   * covered (a key of `fresh`) was never stored and goes back to `queued` (sent again,
   * once); one in a conversation not caught up cannot be told and fails ("Renvoyer").
   * @returns the ids found stored
   */
  settleInDoubt(me: string, fresh: ReadonlyMap<string, ReadonlySet<number>>): Set<string> {
    const meKey = nameKey(me);
    const used = new Set<number>();
    const stored = new Set<string>();
    for (const [id, p] of this.pending) {
      if (p.state !== "unknown") continue;
      const conv = this.conversations.get(p.conv);
      const seqs = fresh.get(p.conv);
      const match = conv && seqs
        ? conv.order.find((m) =>
          seqs.has(m.seq) && !used.has(m.seq) && m.content === p.text &&
          nameKey(m.from) === meKey
        )
        : undefined;
      if (match) {
        used.add(match.seq);
        this.pending.delete(id);
        stored.add(id);
      } else if (seqs) {
        this.pending.set(id, { ...p, state: "queued" });
      } else {
        this.pending.set(id, { ...p, state: "failed", error: { code: "closed" } });
      }
      this.#touchKey(p.conv);
    }
    return stored;
  }

  /** Sends of a conversation, in the order they were made. */
  pendingOf(key: string): PendingSend[] {
    return [...this.pending.values()].filter((p) => p.conv === key);
  }

  /** Keeps the newest {@link MAX_KEPT} messages (called while at the bottom). */
  trim(key: string, keep = MAX_KEPT): void {
    const conv = this.conversations.get(key);
    if (!conv || conv.order.length <= keep) return;
    const dropped = conv.order.splice(0, conv.order.length - keep);
    for (const m of dropped) conv.bySeq.delete(m.seq);
    conv.hasMore = true;
    this.#touch(conv);
  }

  /** Forgets the messages older than `seq` (a catch-up that hit its cap paging back). */
  dropOlderThan(key: string, seq: number): void {
    const conv = this.conversations.get(key);
    const pivot = conv?.bySeq.get(seq);
    if (!conv || !pivot) return;
    const cut = conv.order.findIndex((m) => compareMessages(m, pivot) >= 0);
    for (const m of conv.order.splice(0, cut)) conv.bySeq.delete(m.seq);
    conv.hasMore = true;
    this.#touch(conv);
  }

  /** Marks a conversation changed (flags set from outside). */
  touch(key: string): void {
    this.#touchKey(key);
  }

  #seen(key: string): boolean {
    return key === this.active && this.viewing;
  }

  #markSeen(): void {
    const conv = this.active !== undefined ? this.conversations.get(this.active) : undefined;
    if (conv && this.viewing && conv.unread > 0) {
      conv.unread = 0;
      this.#touch(conv);
    }
  }

  #touchKey(key: string): void {
    const conv = this.conversations.get(key);
    if (conv) this.#touch(conv);
    else this.version++;
  }

  #touch(conv: Conversation): void {
    conv.version++;
    this.version++;
  }
}

function insertSorted(order: ChatMessage[], msg: ChatMessage): void {
  // Live lines come last: check the end first.
  if (order.length === 0 || compareMessages(order[order.length - 1], msg) < 0) {
    order.push(msg);
    return;
  }
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareMessages(order[mid], msg) < 0) lo = mid + 1;
    else hi = mid;
  }
  order.splice(lo, 0, msg);
}
