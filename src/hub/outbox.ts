// Per-connection send queue: bounded, coalescing, never making a sender wait for a slow reader.

/** Where an outbox writes: a Deno.Conn or anything with the same `write`. */
export interface Writer {
  write(bytes: Uint8Array): Promise<number>;
}

/** Why an outbox gave up: its queue passed the cap, a write took too long, or failed. */
export type OutboxFailure = "queue_full" | "write_deadline" | "write_error";

/** Told when a line it was queued with has been written (for fan-out latency). */
export interface WriteWatcher {
  written(): void;
}

/**
 * Who an outbox reports to (the connection). One object rather than callbacks: an idle
 * connection then holds no closures for its outbox.
 */
export interface OutboxOwner {
  /** Called once, synchronously, when the outbox gives up. */
  outboxFailed(reason: OutboxFailure): void;
  /** Called after each successful write with its size in bytes. */
  outboxWrote?(bytes: number): void;
}

/** Options of {@link Outbox}. */
export interface OutboxOptions {
  /** Bytes queued (and not yet written) beyond which the reader is too slow (B.7: 1 MiB). */
  maxBytes: number;
  /** Monotonic milliseconds, for write deadlines. */
  now?: () => number;
}

const monotonicNow = (): number => performance.now();
// The empty list every outbox starts with and goes back to: an idle connection's outbox then
// owns no arrays (frozen, so a push onto it would throw rather than leak between outboxes).
const NONE: never[] = Object.freeze([]) as never[];

/** `list` with `item` at its end: a new array in place of {@link NONE}. */
function append<T>(list: T[], item: T): T[] {
  if (list === NONE) return [item];
  list.push(item);
  return list;
}

// Every line queued during one flush cycle, in the order it was first queued. A broadcast adds
// its line once; each recipient then records a run of this log instead of its own copy of the
// line: receiving the log's next line only moves the end of the recipient's last run, so a
// delivery allocates nothing, and recipients of the same lines share one joined buffer.
let turnLog: Uint8Array[] = [];

/** Lines `start` (included) to `end` (excluded) of one turn's log, queued for one outbox. */
class Run {
  constructor(readonly log: Uint8Array[], readonly start: number, public end: number) {}
}

/**
 * Lines queued for one connection. `send` never blocks: lines queued during one turn of the
 * event loop go out in one write. When more than `maxBytes` wait, the connection is failed as a
 * slow consumer and nobody else waits for it (PROTOCOL B.7).
 *
 * `hold()` keeps further lines back until `release(reply)`, which writes the reply first: the
 * reply to register/login is then always the very next line (PROTOCOL A.3).
 */
export class Outbox {
  readonly #writer: Writer;
  readonly #owner: OutboxOwner;
  readonly #maxBytes: number;
  readonly #now: () => number;
  // Every idle connection has an outbox: its arrays stay empty shared ones until first used.
  #queue: Run[] = NONE;
  #watchers: WriteWatcher[] = NONE;
  #heldWatchers: WriteWatcher[] = NONE;
  #queuedBytes = 0;
  #held: Uint8Array[] | null = null;
  #scheduled = false;
  #writing = false;
  #writeStartedAt = 0;
  #failed = false;
  #idleWaiters: (() => void)[] = NONE;

  constructor(writer: Writer, owner: OutboxOwner, options: OutboxOptions) {
    this.#writer = writer;
    this.#owner = owner;
    this.#maxBytes = options.maxBytes;
    this.#now = options.now ?? monotonicNow;
  }

  /** Bytes queued or being written. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** True once the outbox has given up; later lines are dropped. */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * Queues one encoded line (shared between recipients: it is never modified); `watcher` is told
   * once it is written.
   */
  send(line: Uint8Array, watcher?: WriteWatcher): void {
    if (this.#failed) return;
    if (this.#queuedBytes + line.length > this.#maxBytes) {
      this.fail("queue_full");
      return;
    }
    this.#queuedBytes += line.length;
    if (this.#held) {
      this.#held.push(line);
      if (watcher) this.#heldWatchers = append(this.#heldWatchers, watcher);
      return;
    }
    const log = turnLog;
    let at = log.length - 1;
    if (at < 0 || log[at] !== line) {
      at = log.push(line) - 1;
      // The log lasts one turn even when every recipient is still writing (and none schedules).
      Outbox.#flushSoon();
    }
    const last = this.#queue.length > 0 ? this.#queue[this.#queue.length - 1] : undefined;
    if (last !== undefined && last.log === log && last.end === at) last.end++;
    else this.#queue = append(this.#queue, new Run(log, at, at + 1));
    if (watcher) this.#watchers = append(this.#watchers, watcher);
    if (!this.#scheduled && !this.#writing) this.#schedule();
  }

  /** Keeps lines sent from now on back until {@link release}. */
  hold(): void {
    this.#held ??= [];
  }

  /** Sends the `first` lines, then every line held since {@link hold}. */
  release(...first: Uint8Array[]): void {
    const held = this.#held ?? [];
    this.#held = null;
    this.#queuedBytes -= held.reduce((n, l) => n + l.length, 0);
    for (const line of first) this.send(line);
    for (const line of held) this.send(line);
    for (const watcher of this.#heldWatchers) this.#watchers = append(this.#watchers, watcher);
    this.#heldWatchers = NONE;
  }

  /** How long the current write has been waiting for the peer, in ms; 0 when none is. */
  stalledMs(): number {
    return this.#writing ? this.#now() - this.#writeStartedAt : 0;
  }

  /** Resolves once everything queued so far is written (or the outbox failed). */
  drained(): Promise<void> {
    if (this.#failed || (!this.#writing && !this.#scheduled && this.#queue.length === 0)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#idleWaiters = append(this.#idleWaiters, resolve));
  }

  // One timer per turn of the event loop flushes every outbox with lines queued during that
  // turn: the lines of every read the turn handled, and every fan-out of them, share one write
  // per connection instead of one write per line. A 0 ms timer fires about 2 ms later, which
  // adds that to every fan-out at low rates; setImmediate (3 µs) was tried and made fan-out to
  // 5,000 clients ten times slower (p50 41 ms against 5 ms at 20 msg/s), for a cause not found.
  static #due: Outbox[] = [];
  static #flushing = false;

  static #flushAll(): void {
    const due = Outbox.#due;
    Outbox.#due = [];
    Outbox.#flushing = false;
    for (const outbox of due) {
      outbox.#scheduled = false;
      outbox.#drain();
    }
    // Lines queued from now on (while these writes are pending) start a new log.
    turnLog = [];
    joined.clear();
  }

  #schedule(): void {
    this.#scheduled = true;
    Outbox.#due.push(this);
    Outbox.#flushSoon();
  }

  static #flushSoon(): void {
    if (Outbox.#flushing) return;
    Outbox.#flushing = true;
    setTimeout(Outbox.#flushAll, 0);
  }

  async #drain(): Promise<void> {
    if (this.#writing || this.#failed) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#failed) {
        const runs = this.#queue;
        const watchers = this.#watchers;
        this.#queue = NONE;
        this.#watchers = NONE;
        const bytes = runs.length === 1 ? joinRun(runs[0]) : concat(runs);
        this.#writeStartedAt = this.#now();
        for (let off = 0; off < bytes.length;) {
          off += await this.#writer.write(off === 0 ? bytes : bytes.subarray(off));
        }
        this.#queuedBytes -= bytes.length;
        this.#owner.outboxWrote?.(bytes.length);
        for (const w of watchers) w.written();
      }
    } catch {
      this.fail("write_error");
    } finally {
      this.#writing = false;
      if (this.#queue.length === 0 || this.#failed) this.#wakeIdle();
    }
  }

  /** Marks the outbox failed, dropping whatever is queued; the owner is told once. */
  fail(reason: OutboxFailure): void {
    if (this.#failed) return;
    this.#failed = true;
    // Fan-outs waiting on this reader are over for it: their latency includes the cut-off.
    for (const w of this.#watchers) w.written();
    for (const w of this.#heldWatchers) w.written();
    this.#queue = NONE;
    this.#watchers = NONE;
    this.#heldWatchers = NONE;
    this.#held = null;
    this.#queuedBytes = 0;
    this.#wakeIdle();
    this.#owner.outboxFailed(reason);
  }

  #wakeIdle(): void {
    if (this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = NONE;
    for (const wake of waiters) wake();
  }
}

// Joined runs of the current turn's log by start and end: recipients of the same broadcasts
// (most of them) write one shared buffer, built once; bytes are never modified once queued.
const joined = new Map<number, Uint8Array>();
const RANGE = 2 ** 24; // lines in one turn's log, far more than any turn queues

/** A run's lines as one buffer: the line itself for a single one. */
function joinRun(run: Run): Uint8Array {
  if (run.end - run.start === 1) return run.log[run.start];
  const shared = run.log === turnLog && run.end < RANGE;
  const key = run.start * RANGE + run.end;
  let bytes = shared ? joined.get(key) : undefined;
  if (bytes === undefined) {
    bytes = concat([run]);
    if (shared) joined.set(key, bytes);
  }
  return bytes;
}

function concat(runs: Run[]): Uint8Array {
  let size = 0;
  for (const run of runs) for (let i = run.start; i < run.end; i++) size += run.log[i].length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const run of runs) {
    for (let i = run.start; i < run.end; i++) {
      out.set(run.log[i], offset);
      offset += run.log[i].length;
    }
  }
  return out;
}
