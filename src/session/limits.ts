// Rate limits of docs/protocol.md §5 as pure objects over an injected Clock: token buckets, sliding
// windows, and the doubling delay of failed logins.
import type { Clock } from "../clock.ts";

/**
 * A token bucket: `burst` requests at once, then `perSecond` on average.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(clock, { burst: 20, perSecond: 5 });
 * if (!bucket.take()) reply("rate_limited", bucket.retryAfterMs());
 * ```
 */
export class TokenBucket {
  readonly #clock: Clock;
  readonly #burst: number;
  readonly #perMs: number;
  #tokens: number;
  #at: number;

  constructor(clock: Clock, options: { burst: number; perSecond: number }) {
    this.#clock = clock;
    this.#burst = options.burst;
    this.#perMs = options.perSecond / 1000;
    this.#tokens = options.burst;
    this.#at = clock.now();
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
  }

  /** Takes one token; false (and nothing taken) when the bucket is empty. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token. */
  retryAfterMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / this.#perMs);
  }
}

/** Counts events in a sliding window of `windowMs`; `add()` says whether the count passed `max`. */
export class WindowCounter {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #max: number;
  #times: number[] = [];

  constructor(clock: Clock, options: { max: number; windowMs: number }) {
    this.#clock = clock;
    this.#max = options.max;
    this.#windowMs = options.windowMs;
  }

  #prune(now: number): void {
    let drop = 0;
    while (drop < this.#times.length && this.#times[drop] <= now - this.#windowMs) drop++;
    if (drop > 0) this.#times.splice(0, drop);
  }

  /** Records an event; true when the window now holds more than `max`. */
  add(): boolean {
    const now = this.#clock.now();
    this.#prune(now);
    this.#times.push(now);
    return this.#times.length > this.#max;
  }

  /** Events in the window now. */
  count(): number {
    this.#prune(this.#clock.now());
    return this.#times.length;
  }

  /** Milliseconds until the oldest event leaves the window. */
  retryAfterMs(): number {
    const now = this.#clock.now();
    this.#prune(now);
    return this.#times.length === 0 ? 0 : this.#times[0] + this.#windowMs - now;
  }
}

/** One session's limits (docs/protocol.md §5), as a Dispatcher makes them on first use. */
export interface SessionLimiters {
  /** Counted requests. */
  bucket: TokenBucket;
  /** Requests refused for the rate: too many close the connection. */
  dropped: WindowCounter;
  /** Lines that are not valid requests. */
  bad: WindowCounter;
  /** Lines over the size cap. */
  oversized: WindowCounter;
}

/**
 * Sliding-window counters by key (an address, an account), forgetting idle keys so a scan of
 * many names cannot grow memory without bound.
 */
export class KeyedWindows {
  readonly #clock: Clock;
  readonly #options: { max: number; windowMs: number };
  readonly #byKey = new Map<string, WindowCounter>();
  #lastSweep: number;

  constructor(clock: Clock, options: { max: number; windowMs: number }) {
    this.#clock = clock;
    this.#options = options;
    this.#lastSweep = clock.now();
  }

  /** Whether `key` is already over its limit (without recording anything). */
  blocked(key: string): number {
    const w = this.#byKey.get(key);
    return w && w.count() >= this.#options.max ? w.retryAfterMs() : 0;
  }

  /** Records an event for `key`. */
  add(key: string): void {
    this.#sweep();
    let w = this.#byKey.get(key);
    if (!w) this.#byKey.set(key, w = new WindowCounter(this.#clock, this.#options));
    w.add();
  }

  #sweep(): void {
    const now = this.#clock.now();
    if (now - this.#lastSweep < this.#options.windowMs) return;
    this.#lastSweep = now;
    for (const [key, w] of this.#byKey) if (w.count() === 0) this.#byKey.delete(key);
  }
}

/** Options of {@link LoginThrottle} (docs/protocol.md §5.4 defaults in brackets). */
export interface LoginThrottleOptions {
  /** Failures per account and address before delays start [5]. */
  free: number;
  /** First delay, doubled at each further failure [1 s]. */
  baseDelayMs: number;
  /** Longest delay [60 s]. */
  maxDelayMs: number;
  /** Failures per account in `windowMs` before its logins are refused [20]. */
  perAccount: number;
  /** Failures per address in `windowMs` before its logins are refused [30]. */
  perAddress: number;
  /** [10 min] */
  windowMs: number;
}

/**
 * Failed-login throttling: a few free failures per account and address, then a delay doubling from
 * 1 s to 60 s during which the password is not even checked; and caps per account and per address
 * over 10 minutes. A success clears the account+address pair.
 */
export class LoginThrottle {
  readonly #clock: Clock;
  readonly #o: LoginThrottleOptions;
  readonly #pairs = new Map<string, { failures: number; until: number; last: number }>();
  readonly #accounts: KeyedWindows;
  readonly #addresses: KeyedWindows;

  constructor(clock: Clock, options: LoginThrottleOptions) {
    this.#clock = clock;
    this.#o = options;
    this.#accounts = new KeyedWindows(clock, {
      max: options.perAccount,
      windowMs: options.windowMs,
    });
    this.#addresses = new KeyedWindows(clock, {
      max: options.perAddress,
      windowMs: options.windowMs,
    });
  }

  /**
   * Milliseconds to wait before this login may be checked; 0 when it may be checked now. A
   * trusted address has no cap of its own (a class behind it); its account+address pairs and
   * the accounts still have theirs.
   */
  check(account: string, address: string, trusted = false): number {
    const now = this.#clock.now();
    const pair = this.#pairs.get(`${account}\n${address}`);
    const delay = pair && pair.until > now ? pair.until - now : 0;
    const perAddress = trusted ? 0 : this.#addresses.blocked(address);
    return Math.max(delay, this.#accounts.blocked(account), perAddress);
  }

  /** Records a failed login. */
  failed(account: string, address: string): void {
    const now = this.#clock.now();
    const key = `${account}\n${address}`;
    this.#forgetOld(now);
    const pair = this.#pairs.get(key) ?? { failures: 0, until: 0, last: now };
    pair.failures++;
    pair.last = now;
    const over = pair.failures - this.#o.free;
    if (over > 0) {
      pair.until = now + Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (over - 1));
    }
    this.#pairs.set(key, pair);
    this.#accounts.add(account);
    this.#addresses.add(address);
  }

  /** Records a successful login: the pair starts afresh. */
  succeeded(account: string, address: string): void {
    this.#pairs.delete(`${account}\n${address}`);
  }

  #forgetOld(now: number): void {
    if (this.#pairs.size < 10_000) return;
    for (const [key, p] of this.#pairs) {
      if (now - p.last > this.#o.windowMs) this.#pairs.delete(key);
    }
  }
}
