// A connection's way out, whatever carries it (lines over TCP and TLS, frames over WebSocket): a
// send queue that is bounded, coalescing, and never makes a sender wait for a slow reader; the
// socket it writes to, straight; and what every connection does with it: a reader too slow is
// cut off, bytes written are counted, a connection ends once its last line is written or its
// time is up.
import type { Duplex } from "node:stream";
import process from "node:process";
import { concatBytes } from "../bytes.ts";
import type { CloseReason } from "../errors.ts";
import type { Events, WriteWatcher } from "../events.ts";

/** Where an outbox writes a byte stream: a chat connection's stream, a {@link SocketWriter}. */
export interface Writer {
  write(bytes: Uint8Array): Promise<number>;
}

/** A node:stream socket (under a WebSocket) as a {@link Writer}: resolved once it took the bytes. */
export class SocketWriter implements Writer {
  readonly #socket: Duplex;

  constructor(socket: Duplex) {
    this.#socket = socket;
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#socket.destroyed) return reject(new Error("closed"));
      this.#socket.write(bytes, (err) => err ? reject(err) : resolve(bytes.length));
    });
  }
}

/**
 * A connection writing through a bounded {@link Outbox}: `LineConn` and `WsConn`. It is the
 * outbox's owner (no closures for an idle connection); the outbox writes to the socket itself,
 * so a flush never goes back through the connection.
 */
export abstract class OutboxConn implements OutboxOwner {
  readonly outbox: Outbox;
  readonly #events: Events;

  constructor(writer: Writer, events: Events, options: OutboxOptions) {
    this.#events = events;
    this.outbox = new Outbox(writer, this, options);
  }

  /** Closes now; the first reason given is the one kept. */
  abstract close(reason: CloseReason): void;

  /**
   * A queue past its cap or a write past its deadline is a slow consumer, cut off and counted
   * as the limit it hit (docs/protocol.md §5.11); a failed write, the peer gone.
   */
  outboxFailed(failure: OutboxFailure): void {
    if (failure === "write_error") return this.close("write_error");
    const limit = failure === "queue_full" ? "send_queue" : "write_deadline";
    this.#events.emit({ type: "limit", limit });
    this.close("slow_consumer");
  }

  outboxWrote(bytes: number): void {
    this.#events.emit({ type: "bytes_out", bytes });
  }

  /** How long the peer has not been taking what is written to it, in ms; 0 when it keeps up. */
  stalledMs(): number {
    return this.outbox.stalledMs();
  }

  /** Writes what is queued (for at most `timeoutMs`), then closes. */
  async end(reason: CloseReason, timeoutMs: number): Promise<void> {
    await this.outbox.drained(timeoutMs);
    this.close(reason);
  }
}

/** Why an outbox gave up: its queue passed the cap, a write took too long, or failed. */
export type OutboxFailure = "queue_full" | "write_deadline" | "write_error";

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
  /** Bytes queued, not yet written, past which the reader is too slow (docs/protocol.md §5.11). */
  maxBytes: number;
  /** Monotonic milliseconds, for write deadlines. */
  now?: () => number;
  /**
   * Each line as it goes on the wire (a WebSocket frame); the line itself by default. Called
   * once per line and recipient, so a transport caches what every recipient shares.
   */
  frame?: (line: Uint8Array) => Uint8Array;
}

const monotonicNow = (): number => performance.now();

/** CPU time the process has used, user and system, in ms (one getrusage call, ~3 µs). */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
// The empty list every outbox starts with and goes back to: an idle connection's outbox then
// owns no arrays (frozen, so a push onto it would throw rather than leak between outboxes).
const NONE: never[] = Object.freeze([]) as never[];

/** `list` with `item` at its end: a new array in place of {@link NONE}. */
function append<T>(list: T[], item: T): T[] {
  if (list === NONE) return [item];
  list.push(item);
  return list;
}

// When the outboxes' next flush may run: at once at a classroom's pace, later under load, so that
// each write carries more lines (docs/architecture.md, "Fan-out under load"). Pure: times and CPU
// readings in, a delay out.

/** Options of {@link FlushPacer}. */
export interface FlushPacerOptions {
  /**
   * The share of one core the server may use before flushes wait: below it nothing waits; above
   * it, the next flush waits until the last cycle's CPU is this share of the time since it began.
   */
  share: number;
  /** The longest a flush ever waits, in ms: the latency budget batching may spend. */
  maxDelayMs: number;
  /** Over how long the share is averaged, in ms. */
  windowMs: number;
  /**
   * Lines per write at which batching is enough: once the writes carry this many on average
   * (a load high enough to batch by itself), flushes no longer wait, so the server is never left
   * idle while lines wait.
   */
  linesPerWrite: number;
}

/** The defaults of the server (docs/benchmarks.md, "Fan-out under load", for how they were chosen). */
export const FLUSH_PACING: FlushPacerOptions = {
  share: 0.6,
  maxDelayMs: 25,
  windowMs: 500,
  linesPerWrite: 4,
};

/**
 * Keeps the share of one core the process used from one flush to the next, averaged over about
 * `windowMs`. A flush costs about one write call per connection whatever it carries (several µs
 * each, docs/benchmarks.md, "Write cost"), and most of that CPU is spent after the flush returns,
 * when the runtime performs the writes and resolves them; so the cost of a cycle is read from the
 * process's CPU time, not timed around the flush. Under load the way to spend less is to flush
 * less often with more lines each: while the share is above `share`, the next flush waits until
 * the last cycle's CPU is `share` of the time since it began (at most `maxDelayMs`). Below it the
 * delay is 0: batching grows with load and is not a timer everyone pays. Nor does a flush wait
 * once the writes carry `linesPerWrite` lines on average: past that the load batches by itself,
 * and waiting would only leave the core idle while lines queue.
 */
export class FlushPacer {
  readonly #o: FlushPacerOptions;
  /** Averaged share of a core, 0..(cores). */
  #share = 0;
  /** When the last flush began (ms), the process CPU then (ms), and the CPU of its cycle. */
  #lastStart = Number.NEGATIVE_INFINITY;
  #lastCpu = 0;
  #lastCost = 0;
  /** Averaged lines per write of the flushes. */
  #linesPerWrite = 1;

  constructor(options: FlushPacerOptions = FLUSH_PACING) {
    this.#o = options;
  }

  /** The averaged share of a core (for tests and the benchmark). */
  get share(): number {
    return this.#share;
  }

  /** How long a flush asked for at `now` waits, in ms. */
  delay(now: number): number {
    const { share, maxDelayMs, windowMs } = this.#o;
    // Idle since: the share decays as if cycles of no cost had run meanwhile.
    const idle = now - this.#lastStart;
    const current = idle >= windowMs ? 0 : this.#share * (1 - idle / windowMs);
    if (current <= share || this.#linesPerWrite >= this.#o.linesPerWrite) return 0;
    const due = this.#lastStart + this.#lastCost / share;
    return Math.min(maxDelayMs, Math.max(0, due - now));
  }

  /** A flush begins at `now` (ms), the process having used `cpu` ms of CPU so far. */
  flushing(now: number, cpu: number): void {
    const { windowMs } = this.#o;
    const span = now - this.#lastStart;
    const cost = Math.max(0, cpu - this.#lastCpu);
    if (span > 0 && Number.isFinite(span)) {
      const weight = Math.min(1, span / windowMs);
      this.#share += weight * (Math.min(cost / span, 4) - this.#share);
    }
    this.#lastStart = now;
    this.#lastCpu = cpu;
    this.#lastCost = Number.isFinite(span) ? Math.min(cost, span) : 0;
  }

  /** The flush that began wrote `lines` lines in `writes` writes. */
  wrote(lines: number, writes: number): void {
    if (writes === 0) return;
    this.#linesPerWrite += 0.2 * (lines / writes - this.#linesPerWrite);
  }
}

/**
 * Lines queued for one connection. `send` never blocks: lines queued during one turn of the
 * event loop go out in one write. When more than `maxBytes` wait, the connection is failed as a
 * slow consumer and nobody else waits for it (docs/protocol.md §5.11).
 *
 * `hold()` keeps further lines back until `release(reply)`, which writes the reply first: the
 * reply to register/login is then always the very next line (docs/protocol.md §12.1).
 */
export class Outbox {
  readonly #writer: Writer;
  readonly #frame: ((line: Uint8Array) => Uint8Array) | undefined;
  readonly #owner: OutboxOwner;
  readonly #maxBytes: number;
  readonly #now: () => number;
  // Every idle connection has an outbox: its arrays stay empty shared ones until first used.
  #queue: Uint8Array[] = NONE;
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
    this.#frame = options.frame;
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
    if (this.#held) {
      if (!this.#admit(line)) return;
      this.#held.push(line);
      if (watcher) this.#heldWatchers = append(this.#heldWatchers, watcher);
      return;
    }
    this.pass(line, watcher);
  }

  /** Queues a line ahead of the lines held back, which stay held (sent at once when none are). */
  pass(line: Uint8Array, watcher?: WriteWatcher): void {
    if (!this.#admit(line)) return;
    this.#queue = append(this.#queue, line);
    if (watcher) this.#watchers = append(this.#watchers, watcher);
    this.#schedule();
  }

  /** Counts a line in, unless the outbox failed or the line would pass the cap (then fails). */
  #admit(line: Uint8Array): boolean {
    if (this.#failed) return false;
    if (this.#queuedBytes + line.length > this.#maxBytes) {
      this.fail("queue_full");
      return false;
    }
    this.#queuedBytes += line.length;
    return true;
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

  /**
   * Resolves once everything queued so far is written (or the outbox failed), or after
   * `timeoutMs` when given: a connection's last line gets that long before it is closed.
   */
  async drained(timeoutMs?: number): Promise<void> {
    if (this.#failed || (!this.#writing && !this.#scheduled && this.#queue.length === 0)) return;
    const idle = new Promise<void>((resolve) => {
      this.#idleWaiters = append(this.#idleWaiters, resolve);
    });
    if (timeoutMs === undefined) return await idle;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      idle,
      new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
  }

  // One timer flushes every outbox with lines queued since the last flush: a sender's burst of
  // lines (handled one after the other, with awaits in between) and every fan-out meanwhile share
  // one write per connection, instead of one write per line. The timer fires at the next turn of
  // the event loop while flushes take a small share of the time, later under load, so that a
  // write carries more lines ({@link FlushPacer}; docs/architecture.md, "Fan-out under
  // load"). Tried and dropped (docs/benchmarks.md): setImmediate instead of the timer (fan-out to
  // 5,000 clients ten times slower), and queues of runs over a shared per-turn line log with one
  // joined buffer per turn (CPU per delivery 0.24 → 0.17 µs at N = 1,000, but idle memory after
  // a login storm went from 14 to 58-65 KB a connection: malloc fragmentation).
  static #due: Outbox[] = [];
  static #timer: ReturnType<typeof setTimeout> | undefined;
  static #pacer = new FlushPacer();
  // The last bytes joined in this flush, and from what: the members of a room get the same lines
  // in the same order, so one join serves them all (joining was 18 % of the server's JS time at
  // 1,600 msg/s to 1,000 clients, one copy per connection). Dropped at the end of the flush.
  static #joinedFrom: readonly Uint8Array[] | undefined;
  static #joinedFrame: ((line: Uint8Array) => Uint8Array) | undefined;
  static #joined: Uint8Array | undefined;

  /** `chunks` (framed by `frame`) in one buffer: the last one made when it holds the same lines. */
  static #join(
    chunks: readonly Uint8Array[],
    frame: ((line: Uint8Array) => Uint8Array) | undefined,
  ): Uint8Array {
    if (chunks.length === 1) return frame ? frame(chunks[0]) : chunks[0];
    const last = Outbox.#joinedFrom;
    if (
      last?.length === chunks.length && Outbox.#joinedFrame === frame &&
      chunks.every((c, i) => c === last[i])
    ) {
      return Outbox.#joined!;
    }
    const bytes = concatBytes(frame ? chunks.map(frame) : chunks);
    Outbox.#joinedFrom = chunks;
    Outbox.#joinedFrame = frame;
    Outbox.#joined = bytes;
    return bytes;
  }

  static #flushAll(): void {
    Outbox.#pacer.flushing(monotonicNow(), processCpuMs());
    const due = Outbox.#due;
    Outbox.#due = [];
    Outbox.#timer = undefined;
    let lines = 0;
    for (const outbox of due) {
      outbox.#scheduled = false;
      lines += outbox.#queue.length;
      outbox.#drain();
    }
    Outbox.#joinedFrom = Outbox.#joinedFrame = Outbox.#joined = undefined;
    Outbox.#pacer.wrote(lines, due.length);
  }

  #schedule(): void {
    if (this.#writing || this.#scheduled) return;
    this.#scheduled = true;
    Outbox.#due.push(this);
    Outbox.#timer ??= setTimeout(Outbox.#flushAll, Outbox.#pacer.delay(monotonicNow()));
  }

  /**
   * Writes what is queued in one write. Lines queued meanwhile wait for the next flush, as every
   * line does, so that the pacing holds for a connection whose writes are slow to complete too.
   */
  async #drain(): Promise<void> {
    if (this.#writing || this.#failed || this.#queue.length === 0) return;
    this.#writing = true;
    try {
      const chunks = this.#queue;
      const watchers = this.#watchers;
      this.#queue = NONE;
      this.#watchers = NONE;
      this.#writeStartedAt = this.#now();
      const bytes = Outbox.#join(chunks, this.#frame);
      for (let off = 0; off < bytes.length;) {
        off += await this.#writer.write(off === 0 ? bytes : bytes.subarray(off));
      }
      if (this.#frame) { for (const line of chunks) this.#queuedBytes -= line.length; }
      else this.#queuedBytes -= bytes.length;
      this.#owner.outboxWrote?.(bytes.length);
      for (const w of watchers) w.written();
    } catch {
      this.fail("write_error");
    } finally {
      this.#writing = false;
      if (this.#queue.length === 0 || this.#failed) this.#wakeIdle();
      else this.#schedule();
    }
  }

  /** Marks the outbox failed, dropping whatever is queued; the owner is told once. */
  fail(reason: OutboxFailure): void {
    if (this.#stop()) this.#owner.outboxFailed(reason);
  }

  /** The connection is closing: what is queued is dropped, and later lines too. */
  close(): void {
    this.#stop();
  }

  /** Drops what is queued and takes no more lines; false when that was done already. */
  #stop(): boolean {
    if (this.#failed) return false;
    this.#failed = true;
    if (this.#scheduled) this.#unschedule();
    // Fan-outs waiting on this reader are over for it: their latency includes the cut-off.
    for (const w of this.#watchers) w.written();
    for (const w of this.#heldWatchers) w.written();
    this.#queue = NONE;
    this.#watchers = NONE;
    this.#heldWatchers = NONE;
    this.#held = null;
    this.#queuedBytes = 0;
    this.#wakeIdle();
    return true;
  }

  /**
   * Leaves the next flush: a stopped outbox has nothing to write, and the flush timer is not
   * left armed for nobody (a server stopped meanwhile would keep it pending).
   */
  #unschedule(): void {
    this.#scheduled = false;
    const due = Outbox.#due;
    due.splice(due.indexOf(this), 1);
    if (due.length > 0 || Outbox.#timer === undefined) return;
    clearTimeout(Outbox.#timer);
    Outbox.#timer = undefined;
  }

  #wakeIdle(): void {
    if (this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = NONE;
    for (const wake of waiters) wake();
  }
}
