// A latency probe: one client sends a small message every few milliseconds, others time its
// arrival (same process, same clock), so chat latency can be read during any other load.
import { BenchClient, percentile } from "./harness.ts";

/** Probe clients chatting in the background; `take()` returns the latencies seen so far (ms). */
export class LatencyProbe {
  readonly #clients: BenchClient[];
  #latencies: number[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #sent = 0;
  #received = 0;

  private constructor(clients: BenchClient[]) {
    this.#clients = clients;
    for (const c of clients.slice(1)) {
      c.onLine = (line) => {
        const msg = JSON.parse(line);
        if (msg.type !== "message" || msg.probe !== true) return;
        this.#received++;
        this.#latencies.push(performance.now() - Number(msg.content));
      };
    }
  }

  /** Connects `count` logged-in clients (names probe0..). */
  static async start(port: number, count = 10): Promise<LatencyProbe> {
    const clients: BenchClient[] = [];
    for (let i = 0; i < count; i++) {
      const c = await BenchClient.connect(port);
      await c.loginAs(`probe${i}`);
      clients.push(c);
    }
    return new LatencyProbe(clients);
  }

  /** Sends one probe message every `everyMs`. */
  run(everyMs: number): void {
    this.#timer = setInterval(() => {
      this.#sent++;
      this.#clients[0].send({ type: "message", probe: true, content: String(performance.now()) })
        .catch(() => {});
    }, everyMs);
  }

  /** Latencies (ms) since the last call. */
  take(): number[] {
    return this.#latencies.splice(0);
  }

  /**
   * Stops sending, waits (at most `timeoutMs`) for the messages still in flight, and returns the
   * deliveries that never came: the probe's own loss check. Counting while a message is on its
   * way would report it lost.
   */
  async lost(timeoutMs = 5000): Promise<number> {
    clearInterval(this.#timer);
    const expected = this.#sent * (this.#clients.length - 1);
    const deadline = performance.now() + timeoutMs;
    while (this.#received < expected && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return expected - this.#received;
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const c of this.#clients) c.close();
  }
}

/** The probe's figures in a scenario's JSON line, for a load phase named `P`. */
export type LatencyReport<P extends string> =
  & { baseline_p50_ms: number; baseline_p99_ms: number; probe_lost: number }
  & { [K in `${P}_p50_ms` | `${P}_p99_ms` | `${P}_max_ms`]: number };

/**
 * The probe's figures of one scenario: p50 and p99 before, p50, p99 and max during `phase`
 * (keys `${phase}_p50_ms`...), in ms to 2 decimals, and the deliveries lost.
 */
export function latencyReport<P extends string>(
  phase: P,
  baseline: number[],
  during: number[],
  lost: number,
): LatencyReport<P> {
  const r = (x: number) => Number(x.toFixed(2));
  return {
    baseline_p50_ms: r(percentile(baseline, 50)),
    baseline_p99_ms: r(percentile(baseline, 99)),
    [`${phase}_p50_ms`]: r(percentile(during, 50)),
    [`${phase}_p99_ms`]: r(percentile(during, 99)),
    [`${phase}_max_ms`]: r(Math.max(...during)),
    probe_lost: lost,
  } as LatencyReport<P>;
}
