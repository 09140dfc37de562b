// Latency under attack (issue 5): while hostile clients send garbage, flood messages and refuse to
// read, 10 ordinary users keep chatting; reports their latency before and during, with the
// server's default limits doing the defending.
import { BenchClient, pause, processStats, startServer } from "./harness.ts";
import { LatencyProbe, type LatencyReport, latencyReport } from "./latency_probe.ts";

export type AttackResult = {
  scenario: "attack";
  seconds: number;
  attack_lines_sent: number;
  attacker_connections: number;
  server_rss_growth_bytes: number;
} & LatencyReport<"attack">;

const GARBAGE = new TextEncoder().encode(
  Array.from({ length: 50 }, (_, i) => i % 2 ? "{broken json" : '{"type":42}').join("\n") + "\n",
);
const SPAM = new TextEncoder().encode('{"type":"message","content":"spam"}\n'.repeat(2000));

/** Runs the attack for `seconds` with `attackers` hostile connections at a time. */
export async function attack(seconds: number, attackers = 4): Promise<AttackResult> {
  // The default limits, as an attacker on another machine meets them: loopback, which the
  // defaults trust, is not trusted here.
  await using server = await startServer(["--trusted-addresses=none"]);
  const probe = await LatencyProbe.start(server.port);
  let lines = 0;
  let connections = 0;
  let stop = false;
  // One user who never reads, subscribed to everything: the slow-consumer rule must cut it off.
  const sleeper = await BenchClient.connect(server.port);
  await sleeper.loginAs("sleeper");
  sleeper.onLine = () => {};
  try {
    // 4 messages/s: under the default rate limit (5/s), which this scenario keeps on.
    probe.run(250);
    await pause(3000);
    const baseline = probe.take();
    const before = (await processStats(server.pid)).rssBytes;
    const hostile = async (kind: number) => {
      while (!stop) {
        connections++;
        let c: BenchClient;
        try {
          c = await BenchClient.connect(server.port);
        } catch {
          await pause(10);
          continue;
        }
        try {
          if (kind === 0) {
            await c.loginAs(`flooder${connections}`).catch(() => {});
            await c.conn.write(SPAM);
            lines += 2000;
          } else {
            for (let i = 0; i < 20 && !stop; i++) {
              await c.conn.write(GARBAGE);
              lines += 50;
            }
          }
        } catch {
          // closed by the server: expected
        }
        c.close();
        await c.done;
      }
    };
    const runs = Array.from({ length: attackers }, (_, i) => hostile(i % 2));
    await pause(seconds * 1000);
    stop = true;
    await Promise.all(runs);
    const during = probe.take();
    await pause(1000); // let the last closes and the garbage collector settle
    const after = (await processStats(server.pid)).rssBytes;
    const lost = await probe.lost();
    return {
      scenario: "attack",
      seconds,
      attack_lines_sent: lines,
      attacker_connections: connections,
      ...latencyReport("attack", baseline, during, lost),
      server_rss_growth_bytes: after - before,
    };
  } finally {
    probe.stop();
    sleeper.close();
  }
}
