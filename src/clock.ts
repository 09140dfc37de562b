// Time source: an interface so limits and timestamps can be tested with a fake clock.

/** A source of wall-clock time in milliseconds since the Unix epoch. */
export interface Clock {
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };
