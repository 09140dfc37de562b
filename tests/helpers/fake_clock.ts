// A clock the test moves by hand, for limits and timestamps.
import type { Clock } from "../../src/clock.ts";

/** A {@link Clock} that only moves when told to. */
export class FakeClock implements Clock {
  constructor(public ms = Date.UTC(2026, 2, 2, 14, 0, 0)) {}

  now(): number {
    return this.ms;
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}
