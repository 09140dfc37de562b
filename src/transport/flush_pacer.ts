// When the outboxes' next flush may run: at once at a classroom's pace, later under load, so that
// each write carries more lines (docs/architecture.md, "Fan-out under load"). Pure: times in, a
// delay out.

/** Options of {@link FlushPacer}. */
export interface FlushPacerOptions {
  /**
   * The share of wall time flushes may take before the next one waits: 0.3 leaves the rest to
   * reading, parsing and fanning out (docs/benchmarks.md, "Fan-out under load", for how it was
   * chosen).
   */
  share: number;
  /** The longest a flush ever waits, in ms: the latency budget batching may spend. */
  maxDelayMs: number;
  /** Over how long the share is averaged, in ms. */
  windowMs: number;
}

/** The defaults of the server. */
export const FLUSH_PACING: FlushPacerOptions = { share: 0.3, maxDelayMs: 25, windowMs: 100 };

/**
 * Keeps the share of wall time the flushes took, averaged over about `windowMs`. Each flush costs
 * about one write call per connection whatever it carries (several µs each, docs/benchmarks.md,
 * "Write cost"), so under load the way to spend less is to flush less often with more lines each:
 * while flushes take more than `share` of the time, the next one waits until the last one's cost
 * is `share` of the time since it began (at most `maxDelayMs`). Below that share the delay is 0:
 * batching grows with load and is not a timer everyone pays.
 */
export class FlushPacer {
  readonly #o: FlushPacerOptions;
  /** Averaged share of wall time spent flushing, 0..1. */
  #share = 0;
  /** When the last flush ended, and what it cost, in ms. */
  #lastEnd = Number.NEGATIVE_INFINITY;
  #lastCost = 0;

  constructor(options: FlushPacerOptions = FLUSH_PACING) {
    this.#o = options;
  }

  /** The averaged share of time spent flushing (for tests and the benchmark). */
  get share(): number {
    return this.#share;
  }

  /** How long a flush asked for at `now` waits, in ms. */
  delay(now: number): number {
    const { share, maxDelayMs, windowMs } = this.#o;
    // Idle since: the share decays as if flushes of no cost had run meanwhile.
    const idle = now - this.#lastEnd;
    const current = idle >= windowMs ? 0 : this.#share * (1 - idle / windowMs);
    if (current <= share) return 0;
    const due = this.#lastEnd - this.#lastCost + this.#lastCost / share;
    return Math.min(maxDelayMs, Math.max(0, due - now));
  }

  /** A flush ran from `start` to `end` (ms). */
  flushed(start: number, end: number): void {
    const { windowMs } = this.#o;
    const cost = Math.max(0, end - start);
    // The time this flush stands for: since the last one ended, at least its own cost.
    const span = Math.max(cost, Math.min(windowMs, end - this.#lastEnd));
    const weight = Math.min(1, span / windowMs);
    const sample = span > 0 ? cost / span : 0;
    this.#share += weight * (sample - this.#share);
    this.#lastEnd = end;
    this.#lastCost = cost;
  }
}
