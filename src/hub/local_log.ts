// The message log of one node, a group commit: a message is numbered at once and fanned out by
// the hub, then written to the store with every message queued since the last commit, in one
// batch; durable once the batch holding it has committed (docs/architecture.md, "The ack rule").
import { getLogger } from "@logtape/logtape";
import { type Events, NO_EVENTS } from "../events.ts";
import type { Append, MessageAppender, MessageStore } from "../store/store.ts";
import type { Draft, Durable, Local, LogReader, MessageLog } from "./message_log.ts";

/** What the local log writes to: where messages are appended, and the last seq stored. */
export type CommitTarget = MessageAppender & Pick<MessageStore, "lastSeq">;

/** Options of {@link LocalLog}. */
export interface LocalLogOptions {
  /** Messages per batch at most; the store splits a batch further to fit its own limits. */
  maxBatch?: number;
  /** Attempts of one batch before its messages are reported lost. */
  attempts?: number;
  /** Told of each successful commit (a `commit` event). */
  events?: Events;
}

const log = getLogger(["classcord", "store"]);

interface Entry {
  item: Append;
  durable?: Durable;
}

/**
 * {@link MessageLog} of a single server. `append` never waits: the message joins a queue, and one
 * writer commits everything queued since its last commit as one batch, so under load many
 * messages share a commit and the fan-out never waits for the disk.
 */
export class LocalLog implements MessageLog {
  readonly #store: CommitTarget;
  readonly #maxBatch: number;
  readonly #attempts: number;
  readonly #events: Events;
  #reader: LogReader | undefined;
  #seq: number;
  #committedSeq: number;
  #queue: Entry[] = [];
  #writing: Promise<void> | undefined;
  #waiters: { seq: number; wake: () => void }[] = [];

  private constructor(store: CommitTarget, lastSeq: number, options: LocalLogOptions) {
    this.#store = store;
    this.#seq = this.#committedSeq = lastSeq;
    // 256 messages: a few hundred KiB per commit, well inside one KV atomic operation.
    this.#maxBatch = options.maxBatch ?? 256;
    this.#attempts = options.attempts ?? 3;
    this.#events = options.events ?? NO_EVENTS;
  }

  /** Opens the log after the last stored seq: seqs are handed out in order and never reused. */
  static async open(store: CommitTarget, options: LocalLogOptions = {}): Promise<LocalLog> {
    return new LocalLog(store, await store.lastSeq(), options);
  }

  attach(reader: LogReader): void {
    this.#reader = reader;
  }

  append(draft: Draft, local: Local, durable?: Durable): void {
    const item = this.#reader!.numbered(++this.#seq, draft);
    // Fan-out first: recipients never wait for the disk, only the sender's ack does.
    this.#reader!.fanOut(item, draft, local);
    this.#queue.push({ item, durable });
    this.#writing ??= this.#run();
  }

  /** Resolves once every message appended before the call is committed (or given up). */
  flushed(): Promise<void> {
    const seq = this.#seq;
    if (this.#committedSeq >= seq || (!this.#writing && this.#queue.length === 0)) {
      return Promise.resolve();
    }
    return new Promise((wake) => this.#waiters.push({ seq, wake }));
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      const error = await this.#commit(batch.map((e) => e.item));
      let last = this.#committedSeq;
      for (const { item, durable } of batch) {
        const { seq } = item.message;
        durable?.(seq, error);
        if (seq > last) last = seq;
      }
      this.#committedSeq = last;
      this.#wake();
    }
    this.#writing = undefined;
    this.#committedSeq = this.#seq;
    this.#wake();
  }

  async #commit(items: Append[]): Promise<Error | undefined> {
    let error: Error | undefined;
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      try {
        const start = performance.now();
        await this.#store.append(items);
        const seconds = (performance.now() - start) / 1000;
        this.#events.emit({ type: "commit", seconds, messages: items.length });
        return undefined;
      } catch (err) {
        error = err as Error;
        log.warn("Storing {count} messages failed (attempt {attempt}): {error}", {
          count: items.length,
          attempt,
          error: error.message,
        });
      }
    }
    log.error("Lost {count} messages: {error}", { count: items.length, error: error!.message });
    return error;
  }

  #wake(): void {
    const ready = this.#waiters.filter((w) => w.seq <= this.#committedSeq);
    this.#waiters = this.#waiters.filter((w) => w.seq > this.#committedSeq);
    for (const w of ready) w.wake();
  }
}
