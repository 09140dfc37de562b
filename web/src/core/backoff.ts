// Reconnection delays: exponential backoff with full jitter (docs/web.md §3.3; AWS "Exponential
// backoff and jitter"), so a class of pages does not reconnect all at once after a restart.

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First ceiling, in ms (0.5 s). */
  baseMs?: number;
  /** Largest ceiling, in ms (30 s). */
  capMs?: number;
  /** A number in [0, 1); Math.random by default. */
  random?: () => number;
}

/** random(0, min(cap, base × 2ⁿ)), n counting the attempts since the last reset. */
export class Backoff {
  readonly #base: number;
  readonly #cap: number;
  readonly #random: () => number;
  #attempts = 0;

  constructor(options: BackoffOptions = {}) {
    this.#base = options.baseMs ?? 500;
    this.#cap = options.capMs ?? 30_000;
    this.#random = options.random ?? Math.random;
  }

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The ceiling of the next delay. */
  get ceiling(): number {
    // 2^30 is far past any cap: no overflow however long the outage.
    return Math.min(this.#cap, this.#base * 2 ** Math.min(this.#attempts, 30));
  }

  /** The next delay, in ms; counts one attempt. */
  next(): number {
    const delay = Math.floor(this.#random() * this.ceiling);
    this.#attempts++;
    return delay;
  }

  /** Starts again from the first ceiling (after 30 s in `ready`). */
  reset(): void {
    this.#attempts = 0;
  }
}
