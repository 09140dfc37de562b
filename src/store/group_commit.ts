// Group commit: messages are numbered at once, fanned out by the caller, and written to the store
// in batches; a message's callback runs once the batch holding it has committed.
import { getLogger } from "@logtape/logtape";
import { type Events, NO_EVENTS } from "../events.ts";
import type { Append, MessageAppender, MessageStore } from "./store.ts";

/** What the group commit writes to: where messages are appended, and the last seq stored. */
export type CommitTarget = MessageAppender & Pick<MessageStore, "lastSeq">;

const log = getLogger(["classcord", "store"]);

/** Called once a message is durable (no error), or when it could not be stored. */
export type Committed = (error?: Error) => void;

/** Options of {@link GroupCommit}. */
export interface MessageLogOptions {
  /** Messages per batch at most; the store splits a batch further to fit its own limits. */
  maxBatch?: number;
  /** Attempts of one batch before its messages are reported lost. */
  attempts?: number;
  /** Told of each successful commit (a `commit` event). */
  events?: Events;
}

interface Entry {
  item: Append;
  done?: Committed;
}

/**
 * The write path of history. `append` never waits: the entry joins a queue, and one writer
 * commits everything queued since its last commit as one batch, so under load many messages
 * share a commit and the fan-out never waits for the disk.
 */
export class GroupCommit {
  readonly #store: CommitTarget;
  readonly #maxBatch: number;
  readonly #attempts: number;
  readonly #events: Events;
  #seq: number;
  #committedSeq: number;
  #queue: Entry[] = [];
  #writing: Promise<void> | undefined;
  #waiters: { seq: number; wake: () => void }[] = [];

  private constructor(store: CommitTarget, lastSeq: number, options: MessageLogOptions) {
    this.#store = store;
    this.#seq = this.#committedSeq = lastSeq;
    // 256 messages: a few hundred KiB per commit, well inside one KV atomic operation.
    this.#maxBatch = options.maxBatch ?? 256;
    this.#attempts = options.attempts ?? 3;
    this.#events = options.events ?? NO_EVENTS;
  }

  /** Opens the log after the last stored seq. */
  static async open(store: CommitTarget, options: MessageLogOptions = {}): Promise<GroupCommit> {
    return new GroupCommit(store, await store.lastSeq(), options);
  }

  /** Reserves the next seq; seqs are handed out in order and never reused. */
  nextSeq(): number {
    return ++this.#seq;
  }

  /** Messages queued or being written. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queues a message whose seq came from {@link nextSeq}; `done` runs after its commit. */
  append(item: Append, done?: Committed): void {
    this.#queue.push({ item, done });
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
      for (const e of batch) e.done?.(error);
      this.#committedSeq = Math.max(this.#committedSeq, ...batch.map((e) => e.item.message.seq));
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
