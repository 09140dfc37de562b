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
