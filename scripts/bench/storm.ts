// Login storm (docs/protocol.md §5.4, issue 5): N users connect, register and log in at once with
// real argon2id while 10 others chat; reports logins/s and the chatting users' latency before and
// during.
import { BenchClient, pause, startServer } from "./harness.ts";
import { LatencyProbe, type LatencyReport, latencyReport } from "./latency_probe.ts";

// One machine, one address: the per-address caps are lifted so the storm itself is measured.
export const OPEN_LIMITS = [
  "--registrations-per-address=1000000",
  "--new-connections-per-address=1000000",
  "--max-connections-per-address=1000000",
  "--max-connections=1000000",
  // Every client connects before any logs in: none may be closed as an anonymous one.
  "--max-anonymous=1000000",
  "--max-anonymous-per-address=1000000",
  "--rate-burst=1000000",
  "--rate-per-second=1000000",
  // A 1000-user storm queues registrations for minutes behind 2 hashing workers: clients must
  // not be timed out for waiting (a class of 30 waits a few seconds).
  "--identify-timeout=3600",
];

export type StormResult = {
  scenario: "login_storm";
  users: number;
  storm_seconds: number;
  logins_per_s: number;
} & LatencyReport<"storm">;

/** One storm of `users` registrations + logins; the probe sends every 20 ms throughout. */
export async function loginStorm(users: number): Promise<StormResult> {
  await using server = await startServer(OPEN_LIMITS);
  const probe = await LatencyProbe.start(server.port);
  try {
    probe.run(20);
    await pause(2000);
    const baseline = probe.take();
    const start = performance.now();
    const clients = await Promise.all(
      Array.from({ length: users }, async (_, i) => {
        const c = await BenchClient.connect(server.port);
        await c.loginAs(`storm${i}`);
        return c;
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const during = probe.take();
    const lost = await probe.lost();
    for (const c of clients) c.close();
    const r = (x: number) => Number(x.toFixed(2));
    return {
      scenario: "login_storm",
      users,
      storm_seconds: r(seconds),
      logins_per_s: r(users / seconds),
      ...latencyReport("storm", baseline, during, lost),
    };
  } finally {
    probe.stop();
  }
}
