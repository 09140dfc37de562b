// Storage seams: the records the server keeps, and the parts a store implements: accounts and
// moderation (AccountStore), messages (MessageStore), and on one server MessageAppender.

/** A registered account. */
export interface UserRecord {
  /** Display name, NFC, as registered. */
  name: string;
  /** Encoded argon2id hash; never the password. */
  passwordHash: string;
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
  /** May kick, mute, ban and announce (`deno task user add --admin`). */
  admin?: boolean;
}

/**
 * An account as a logged-in session knows it: no password hash, which the session does not need
 * and every online user would otherwise hold in memory.
 */
export type Account = Omit<UserRecord, "passwordHash">;

/** A stored chat message (docs/protocol.md §13.1). */
export interface StoredMessage {
  /** Position in the server's single, increasing sequence. */
  seq: number;
  /** Milliseconds since the Unix epoch, for ordering, retention and time filters. */
  ts: number;
  /** Canonical channel name ("#général"); `null` for a private message. */
  channel: string | null;
  /** Private messages: the recipient's display name. */
  to?: string;
  /** The line as recipients saw it: the client's fields, `from`, `timestamp` and `seq`. */
  line: Record<string, unknown> & { from: string; content: string; timestamp: string };
}

/** One message to append, with the user whose offline inbox it also goes to, if any. */
export interface Append {
  message: StoredMessage;
  /** Name of an offline recipient, whose inbox it goes to (docs/protocol.md §4.6). */
  inbox?: string;
  /** Old-deployment identity of an imported message, so a second import skips it. */
  importKey?: string;
}

/** Which conversation a history or export reads. */
export type Conversation =
  | { channel: string }
  /** Private conversation between two names. */
  | { between: [string, string] };

/** A page of history, oldest first; `more` when older (or, after `after`, newer) ones exist. */
export interface HistoryPage {
  messages: StoredMessage[];
  more: boolean;
}

/** A private conversation of a user, as their conversation list shows it. */
export interface ConversationSummary {
  /** The last message of the conversation (either way). */
  last: StoredMessage;
  /** The partner's name as the last message spells it. */
  partner: string;
  /** Messages from the partner after the user's read mark, counted up to {@link UNREAD_MAX}. */
  unread: number;
}

/** Unread messages are counted up to this many per conversation ("99+" is all a list shows). */
export const UNREAD_MAX = 100;

/** Filters of an export. */
export interface ExportFilter {
  /** Canonical channel name. */
  channel?: string;
  /** Milliseconds since the epoch, inclusive. */
  since?: number;
  /** Milliseconds since the epoch, exclusive. */
  until?: number;
  /** Sender name. */
  user?: string;
}

/**
 * Accounts and moderation: who may log in, who administers, who is banned, and the store's
 * secrets. Every name argument may be given in any case and composition: the store folds it
 * (`nameKey`), so "Alice" and "alice" are one.
 */
export interface AccountStore {
  /** Creates the account atomically; false when the name (case-folded) is already taken. */
  createUser(user: UserRecord): Promise<boolean>;
  /** The account of a name, or null. */
  getUser(name: string): Promise<UserRecord | null>;
  /** Replaces an account's password hash; false when there is no such account. */
  setPasswordHash(name: string, passwordHash: string): Promise<boolean>;
  /** Makes an account an administrator or not; false when there is no such account. */
  setAdmin(name: string, admin: boolean): Promise<boolean>;
  /**
   * Deletes an account, with its offline inbox and its conversation lists where the same store
   * keeps messages; false when there is no such account.
   */
  deleteUser(name: string): Promise<boolean>;
  /** Every account, by case-folded name. */
  listUsers(): AsyncIterable<UserRecord>;
  /**
   * A random 32-byte secret of this store, made at its first use and the same ever after (the
   * key of resume tokens, which then outlive a restart).
   */
  secret(name: string): Promise<Uint8Array>;
  /** Bans a name until `until` (ms since the epoch); the name is kept as given, for lists. */
  ban(name: string, until: number): Promise<void>;
  /** When a name's ban ends (ms since the epoch), or null when it is not banned. */
  bannedUntil(name: string): Promise<number | null>;
  /** Lifts a name's ban; false when it was not banned. */
  unban(name: string): Promise<boolean>;
  /** The bans still running, by case-folded name, each with the name as banned and its end. */
  bans(): Promise<{ name: string; until: number }[]>;
  /** Registered names starting with `prefix` in any case, by case-folded name, `limit` at most. */
  findUsers(prefix: string, limit: number): Promise<string[]>;
}

/**
 * Stored messages as sessions, retention and exports use them: read, marked read, handed over
 * from inboxes, pruned. How they get in is {@link MessageAppender}'s (one server) or the cluster
 * stream's (docs/cluster.md §3.3). Names are folded as in {@link AccountStore}.
 */
export interface MessageStore {
  /** Which of these import keys are already stored (see {@link Append.importKey}). */
  knownImports(importKeys: string[]): Promise<Set<string>>;
  /** The highest `seq` stored, 0 when none. */
  lastSeq(): Promise<number>;
  /**
   * Up to `limit` messages of a conversation, oldest first, not older than `since` (ms since
   * the epoch): the newest before `before` (a seq), or the oldest after `after` (a seq, unknown:
   * from the beginning; `more` then says whether newer ones remain).
   */
  history(
    of: Conversation,
    options: { limit: number; before?: number; after?: number; since?: number },
  ): Promise<HistoryPage>;
  /**
   * A user's private conversations, the most recent first, `limit` at most: those with a message
   * after `after` (a seq) when given, and none whose last message is older than `since` (ms since
   * the epoch: an account does not inherit an earlier account's conversations).
   */
  conversations(
    user: string,
    options: { limit: number; after?: number; since?: number },
  ): Promise<ConversationSummary[]>;
  /** Marks a user's private conversation with `partner` read up to `seq` (never backwards). */
  markRead(user: string, partner: string, seq: number): Promise<void>;
  /** The offline messages waiting for a user, oldest first. */
  inbox(user: string): Promise<StoredMessage[]>;
  /** Removes delivered messages from a user's inbox (they stay in history). */
  clearInbox(user: string, seqs: number[]): Promise<void>;
  /** Deletes the messages older than `ts`; returns how many. */
  pruneBefore(ts: number): Promise<number>;
  /** Channel messages by channel then time, filtered; `channel` is the channel's first spelling. */
  exportMessages(filter: ExportFilter): AsyncIterable<StoredMessage>;
  /** Every channel with its number of stored messages, by name. */
  channels(): Promise<{ name: string; count: number }[]>;
}

/**
 * Where messages are written directly: a single server's store (its group commit, an import). A
 * cluster node's store has none: its messages reach its read model through the stream only.
 */
export interface MessageAppender {
  /**
   * Stores messages in as few atomic commits as the backend allows; when it resolves, every one
   * of them is durable. Imports whose `importKey` is already known are skipped; returns how
   * many messages were written.
   */
  append(batch: Append[]): Promise<number>;
}

/**
 * What a backend hands the server (docs/architecture.md, "Seams"): both parts over one store,
 * and how it closes. Each consumer asks for the part it uses; `session/` sees only this file.
 */
export interface Store extends AccountStore, MessageStore {
  close(): void;
}
