// A latency probe: one client sends a small message every few milliseconds, others time its
// arrival (same process, same clock), so chat latency can be read during any other load.
import { BenchClient } from "./harness.ts";

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
