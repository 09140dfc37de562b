// The message log of a cluster node: a message is published to the stream with an id (retried
// with the same id through an election), numbered by the stream, read back by every node's feed
// into its read model and handed here, where it becomes the hub's entry and, once stored, its
// fan-out, the sender's node included (docs/cluster.md §3). Durable, for the sender's ack, once
// the stream stored it on a quorum AND this node's read model holds it (docs/architecture.md,
// "The ack rule"). Calls go one way: the feed calls this log, this log calls the hub.
import { getLogger } from "@logtape/logtape";
import type { JetStreamPublishOptions, PubAck } from "@nats-io/jetstream";
import type { Draft, Durable, Local, LogReader, MessageLog } from "../hub/message_log.ts";
import { parseChannel } from "../protocol/channel.ts";
import type { Append } from "../store/store.ts";
import type { ClusterLink } from "./link.ts";
import {
  type DisconnectRecord,
  type MessageRecord,
  type StreamRecord,
  subjectOf,
} from "./records.ts";
import type { InboxCursors } from "./store.ts";

const log = getLogger(["classcord", "cluster"]);

// Each attempt waits 2 s; attempts with the same id go on for 12 s, through a leader election
// (4-9 s on NATS 2.9), before the message is given up (docs/cluster.md §3).
const PUBLISH_ATTEMPT_MS = 2_000;
const PUBLISH_GIVE_UP_MS = 12_000;
// A read made right after a write waits this long at most for the node to have it: a history
// request is not held through a whole election.
const READ_YOUR_WRITES_MS = 2_000;

/** What a {@link StreamLog} needs. */
export interface StreamLogOptions {
  link: ClusterLink;
  node: string;
  /** This run of the node: message ids stay unique across restarts. */
  boot: string;
  cursors: InboxCursors;
  /** A name's sessions to end, read from the stream in order with the chat. */
  disconnect(record: DisconnectRecord): void;
}

/**
 * {@link MessageLog} of a cluster node, over the `CC_MSG` stream; the node's feed
 * (cluster/feed.ts) hands it each record read back and tells it how far the read model holds
 * the stream.
 */
export class StreamLog implements MessageLog {
  readonly #o: StreamLogOptions;
  #reader: LogReader | undefined;
  #nextMessage = 1;
  #nextPost = 1;
  /** This node's messages published and not read back yet, by their number in `origin.member`. */
  readonly #posts = new Map<number, Local>();
  /** This node's messages not durable yet. */
  readonly #unsettled = new Set<Promise<void>>();
  /** The last stream sequence the read model holds and the feed handed on, as it told. */
  #applied = 0;
  /** Published messages waiting for the read model to hold them. */
  #waiters: { seq: number; resolve: () => void }[] = [];

  constructor(options: StreamLogOptions) {
    this.#o = options;
  }

  attach(reader: LogReader): void {
    this.#reader = reader;
  }

  append(draft: Draft, local: Local, durable?: Durable): void {
    const id = this.#nextPost++;
    this.#posts.set(id, local);
    const { to } = draft;
    const record: MessageRecord = {
      kind: "msg",
      fields: draft.fields,
      from: draft.from,
      ts: draft.ts,
      to: "channel" in to ? { channel: to.channel.name } : { user: to.user, name: to.name },
      origin: { node: this.#o.node, boot: this.#o.boot, member: id },
    };
    const settled = this.publish(record).then(
      async (ack) => {
        await this.#whenApplied(ack.seq);
        durable?.(ack.seq);
      },
      (error) => {
        this.#posts.delete(id);
        durable?.(0, error as Error);
      },
    ).finally(() => this.#unsettled.delete(settled));
    this.#unsettled.add(settled);
  }

  /**
   * Resolves once this node's messages appended before the call are durable or given up (at
   * most 2 s): a session reads its own writes.
   */
  async flushed(): Promise<void> {
    if (this.#unsettled.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#unsettled]),
      new Promise<void>((resolve) => timer = setTimeout(resolve, READ_YOUR_WRITES_MS)),
    ]);
    clearTimeout(timer);
  }

  /**
   * A message record read back, in stream order: its read-model entry, made by the hub, and its
   * fan-out, for the feed to run once that entry is stored.
   *
   * @throws {Error} when the record cannot be read (a newer node's): the feed skips it
   */
  message(seq: number, record: MessageRecord): { item: Append; stored(): void } {
    const { to, origin } = record;
    const draft: Draft = {
      fields: record.fields,
      from: record.from,
      ts: record.ts,
      to: "channel" in to
        ? { channel: parseChannel(to.channel) }
        : { user: to.user, name: to.name },
    };
    const reader = this.#reader!;
    const item = reader.numbered(seq, draft);
    // Every private message is kept for its recipient; the cursors tell what was delivered.
    if (!("channel" in to)) item.inbox = to.name;
    let local: Local | undefined;
    if (origin.node === this.#o.node && origin.boot === this.#o.boot && origin.member) {
      local = this.#posts.get(origin.member);
      this.#posts.delete(origin.member);
    }
    return {
      item,
      stored: () => {
        const count = reader.fanOut(item, draft, local);
        if ("user" in to && (count > 0 || local?.except?.key === to.user)) {
          this.#o.cursors.delivered(to.user, seq);
        }
      },
    };
  }

  /** A control record read back, once everything before it is stored. */
  control(record: DisconnectRecord): void {
    if (record.origin.node !== this.#o.node) this.#o.disconnect(record);
  }

  /**
   * The feed stored the stream up to `seq` in the read model and handed each message on: this
   * node's messages up to it are durable once their publish is acknowledged too.
   */
  applied(seq: number): void {
    this.#applied = seq;
    const ready = this.#waiters.filter((w) => w.seq <= seq);
    this.#waiters = this.#waiters.filter((w) => w.seq > seq);
    for (const w of ready) w.resolve();
  }

  /** Resolves once the read model holds `seq` (at once if it does). */
  #whenApplied(seq: number): Promise<void> {
    if (this.#applied >= seq) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ seq, resolve }));
  }

  /**
   * Publishes a record with an id made once, retried with the same id until JetStream stores
   * it (a duplicate within 2 min is stored once) or 12 s have passed.
   *
   * @throws {Error} the last failure once the time is over
   */
  async publish(record: StreamRecord): Promise<PubAck> {
    const msgID = `${this.#o.node}:${this.#o.boot}:${this.#nextMessage++}`;
    const subject = subjectOf(record, (name) => parseChannel(name).key);
    const data = JSON.stringify(record);
    const options: Partial<JetStreamPublishOptions> = { msgID, timeout: PUBLISH_ATTEMPT_MS };
    const deadline = performance.now() + PUBLISH_GIVE_UP_MS;
    for (;;) {
      try {
        return await this.#o.link.js.publish(subject, data, options);
      } catch (error) {
        if (performance.now() + PUBLISH_ATTEMPT_MS > deadline) throw error;
        log.warning("Publish of {id} failed, trying again: {error}", { id: msgID, error });
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }
}
