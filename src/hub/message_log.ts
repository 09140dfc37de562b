// The message-log seam: where the hub hands a chat message to be numbered and stored, and how the
// log hands it back. Two implementations: the local log (hub/local_log.ts: numbered at once, group
// commit into the store) and a cluster's stream log (cluster/stream_log.ts: published to the
// stream, numbered and read back by every node). The hub formats, fans out, times and acknowledges
// in both modes; a log only numbers, stores and says when (docs/architecture.md, "Seams").
import type { FanoutTimer } from "../events.ts";
import type { Channel } from "../protocol/channel.ts";
import type { Append } from "../store/store.ts";
import type { Member } from "./bus.ts";

/** A chat message before it has its seq: what a log carries from the sender's node. */
export interface Draft {
  /** The request's fields, all forwarded. */
  fields: Record<string, unknown>;
  /** The sender's name. */
  from: string;
  /** When the sender's node received it, in ms since the epoch. */
  ts: number;
  /**
   * A channel, or one name's sessions (`user` case-folded, `name` as displayed); `inbox`: the
   * recipient was offline when it was sent, so it waits in their inbox and is not fanned out.
   */
  to: { channel: Channel } | { user: string; name: string; inbox?: boolean };
}

/**
 * What the sender's node knows of its own message and no other node does: the sending session
 * (no echo) and the fan-out timer. A log hands it back untouched with the message.
 */
export interface Local {
  except?: Member;
  timer?: FanoutTimer;
}

/** Told a message's seq once it is durable by the log's rule, or why it could not be stored. */
export type Durable = (seq: number, error?: Error) => void;

/** The hub's side of the seam: what a log calls for each message it numbered. */
export interface LogReader {
  /**
   * A message's stored form, with its line as recipients see it (`from`, `timestamp`, `seq`
   * set): called once per message, in seq order, before it is stored.
   */
  numbered(seq: number, draft: Draft): Append;
  /**
   * Fans a numbered message out to this node's sessions, after {@link numbered} (at once, or
   * once stored when the log stores first); `local` is what this node's post gave, for its own
   * messages. Returns the number of sessions it was queued on.
   */
  fanOut(item: Append, draft: Draft, local?: Local): number;
}

/** Numbers chat messages, stores them, and hands each back to the hub for fan-out. */
export interface MessageLog {
  /** Sets the hub that formats and fans out what this log numbers (once, before any append). */
  attach(reader: LogReader): void;
  /**
   * Takes a message of this node's: it is numbered, stored and fanned out; `durable` is told
   * once the log's durability rule holds for it (never before), or the error. Never waits.
   */
  append(draft: Draft, local: Local, durable?: Durable): void;
  /**
   * Resolves once every message appended before the call is durable or given up (a read after
   * it sees them).
   */
  flushed(): Promise<void>;
}
