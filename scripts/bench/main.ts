// `deno task bench`: runs the scenarios and prints one JSON line per scenario; repeated scenarios
// report medians, so figures from a shared, noisy machine can still be compared within one run.
import { parseArgs } from "node:util";
import { attack } from "./attack.ts";
import { idle, type Ladder, ladder, nullCeiling, privateLadder, type Step } from "./fanout.ts";
import { median } from "./harness.ts";
import { compareFanout, findInspircd, idleMemory, NOT_INSTALLED, summarize } from "./inspircd.ts";
import { memory } from "./memory.ts";
import { startNatsCluster } from "../../testing/nats_cluster.ts";
import { commitEach, groupCommit } from "./store.ts";
import { loginStorm } from "./storm.ts";
import { writeCost } from "./write_cost.ts";

const SCENARIOS = [
  "store",
  "storm",
  "attack",
  "fanout",
  "ws",
  "cluster",
  "private",
  "connect",
  "idle",
  "memory",
  "inspircd",
  "inspircd-memory",
  "write",
] as const;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    scenario: { type: "string", multiple: true },
    runs: { type: "string", default: "5" },
    messages: { type: "string", default: "20000" },
    users: { type: "string", default: "200" },
    seconds: { type: "string", default: "10" },
    clients: { type: "string", default: "100,1000,5000" },
    "ws-clients": { type: "string", default: "1000" },
    "cluster-clients": { type: "string", default: "300" },
    "idle-clients": { type: "string", default: "10000" },
    "connect-users": { type: "string", default: "1000" },
    "memory-users": { type: "string", default: "100" },
    "rest-seconds": { type: "string", default: "60" },
    "inspircd-clients": { type: "string", default: "1000" },
    "inspircd-rates": { type: "string", default: "25,100,400,800,1600" },
    "inspircd-seconds": { type: "string", default: "5" },
    "inspircd-memory-clients": { type: "string", default: "5000" },
    "inspircd-rest-seconds": { type: "string", default: "15" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(`Usage: deno task bench [--scenario NAME]... [options]

Scenarios (all by default; one JSON line each):
  store   messages stored per second by the message log (group commit) against one KV
          commit per message, medians of --runs (5) runs of --messages (20000)
  storm   --users (200) clients register and log in at once with real argon2id while 10
          others chat; their latency before and during, logins per second
  attack  hostile clients (garbage, floods, a reader that never reads) for --seconds (10)
          against the default limits while 10 users chat; their latency before and during
  fanout  --clients (100,1000,5000) logged-in clients, 10 senders, the aggregate rate
          doubled until p99 > 200 ms or a loss, then bisected twice, against ClassCord and
          against the smallest fan-out server of the same runtime
          (scripts/bench/reference_server.ts); deliveries/s, p50/p99/max, loss, server CPU per
          delivery, RSS, the generator's own CPU and its ceiling against a server that
          discards everything; ratios to the reference. With 2 CPUs or more and taskset, the
          server runs on CPU 0 and the generator on CPU 1
  ws      --ws-clients (1000) logged-in WebSocket clients of /ws and as many TCP clients, the
          same ladder against each in turn; deliveries/s of WebSocket against TCP (goal at
          least 0.7). The generator reads frames from raw sockets, as it reads TCP lines
  cluster --cluster-clients (300) clients spread over 3 cluster nodes on a 3-server NATS
          JetStream cluster (Debian's nats-server), against the same clients on one cluster
          node and on one plain node (Deno KV), each ladder on a fresh NATS cluster: best
          deliveries/s and their ratios, and p50/p99 at one rate all three hold (the latency
          the stream and the cross-node path add)
  private 1000 clients sending private messages to random peers, rate climbed as above
  connect --connect-users (1000) register and log in at once (real argon2id) while 10 chat
  idle    --idle-clients (10000) logged-in idle connections; server RSS per connection once
          connected, right after the logins, and at rest a minute later
  memory  server RSS (VmRSS, with anon/file and threads) right after start, after
          --memory-users (100) register and log in with real argon2id, and after
          --rest-seconds (60) at rest with them connected; goal under 64 MiB (issue 5).
          BENCH_SERVER_FLAGS="--v8-flags=..." compares runtime flags
  inspircd
          ClassCord against InspIRCd (Debian's package "inspircd", 3.x; skipped when it is not
          installed, INSPIRCD=path overrides): --inspircd-clients (1000) clients in one room,
          10 senders, each of --inspircd-rates (25,100,400,800,1600) msg/s, then doubled while
          either server holds, for --inspircd-seconds (5); a fresh server per step, run as
          ClassCord, InspIRCd, InspIRCd, ClassCord. One JSON line per rate (p99, loss, server CPU
          in % of one core of each try), then the highest rate both tries held and CPU per
          delivery at 100 msg/s, with their ratios. Limits opened on both, pinned as for fanout
          BENCH_BASELINE=DIR runs another checkout's server beside this one ("baseline"),
          as ClassCord, baseline, InspIRCd, InspIRCd, baseline, ClassCord
  inspircd-memory
          --inspircd-memory-clients (5000) connections logged in to ClassCord, then registered
          and joined to one room on InspIRCd: each server's RSS per connection
          --inspircd-rest-seconds (15) after the logins, and its peak during them.
          BENCH_BASELINE=DIR runs as ClassCord, baseline, InspIRCd, baseline, ClassCord
  write   the writing process's CPU per write call and per line, for 1, 4, 16 and 64 lines of
          ~120 bytes a call: Deno.Conn.write of each line or of the lines joined, node:net's
          socket.write of each line, corked, or joined; into a process that discards (pinned
          as for fanout), --seconds (10) / 10 each`);
  Deno.exit(0);
}
const chosen = values.scenario ?? [...SCENARIOS];
for (const name of chosen) {
  if (!(SCENARIOS as readonly string[]).includes(name)) {
    console.error(`bench: unknown scenario "${name}": expected ${SCENARIOS.join(", ")}`);
    Deno.exit(2);
  }
}

if (chosen.includes("store")) {
  const runs = Number(values.runs);
  const messages = Number(values.messages);
  const grouped: number[] = [];
  const single: number[] = [];
  const commits: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Interleaved, so both see the same machine load.
    const g = await groupCommit(messages);
    grouped.push(g.rate);
    commits.push(g.commits);
    // One commit per message is slow: a tenth of the messages gives a stable rate.
    single.push((await commitEach(Math.max(100, Math.floor(messages / 10)))).rate);
  }
  console.log(JSON.stringify({
    scenario: "store",
    runs,
    messages,
    group_commit_msgs_per_s: Math.round(median(grouped)),
    group_commit_commits: median(commits),
    commit_each_msgs_per_s: Math.round(median(single)),
    ratio: Number((median(grouped) / median(single)).toFixed(1)),
  }));
}
if (chosen.includes("storm")) console.log(JSON.stringify(await loginStorm(Number(values.users))));
if (chosen.includes("attack")) console.log(JSON.stringify(await attack(Number(values.seconds))));

if (chosen.includes("fanout")) {
  console.log(JSON.stringify({ scenario: "null_ceiling", ...(await nullCeiling()) }));
  for (const n of values.clients!.split(",").map(Number)) {
    // The reference queues without bound; ClassCord cuts a reader 1 MiB behind
    // (docs/protocol.md §5.11). On 2 shared cores the generator's readers fall that far behind at
    // the top rates, so the engines are compared with a queue cap the generator cannot reach; the
    // slow-consumer rule has its own tests and its own scenario (attack).
    const ours = await ladder("classcord", n, { serverArgs: ["--max-queue-bytes=268435456"] });
    const ref = await ladder("reference", n);
    const best = ours.best;
    const refBest = ref.best;
    console.log(JSON.stringify({
      scenario: "fanout",
      clients: n,
      senders: 10,
      classcord: best,
      classcord_rss_bytes: ours.rss_bytes,
      classcord_first_failing: ours.failing ?? null,
      // The goal's operating point: p99 at about 100,000 deliveries/s.
      classcord_near_100k: nearest(ours.steps, 100_000 / (n - 1)),
      reference: refBest,
      reference_rss_bytes: ref.rss_bytes,
      reference_first_failing: ref.failing ?? null,
      ratio_delivered: best && refBest
        ? Number((best.delivered_per_s / refBest.delivered_per_s).toFixed(2))
        : null,
      ratio_cpu_per_delivery: best && refBest
        ? Number((best.server_cpu_us_per_delivery / refBest.server_cpu_us_per_delivery).toFixed(2))
        : null,
    }));
  }
}
if (chosen.includes("ws")) {
  for (const n of values["ws-clients"]!.split(",").map(Number)) {
    // The same server flags as fanout (a queue cap the generator cannot reach), one transport
    // after the other on the same machine.
    const serverArgs = ["--max-queue-bytes=268435456"];
    const tcp = await ladder("classcord", n, { serverArgs });
    const ws = await ladder("classcord", n, { serverArgs, transport: "ws" });
    console.log(JSON.stringify({
      scenario: "ws",
      clients: n,
      senders: 10,
      tcp: tcp.best,
      tcp_first_failing: tcp.failing ?? null,
      ws: ws.best,
      ws_first_failing: ws.failing ?? null,
      ws_rss_bytes: ws.rss_bytes,
      // The highest rate each held (the ladder's steps are the same for both)...
      ratio_rate: tcp.best && ws.best ? Number((ws.best.rate / tcp.best.rate).toFixed(2)) : null,
      // ...and the deliveries/s measured at it (the drain at the end of a step counts in).
      ratio_delivered: tcp.best && ws.best
        ? Number((ws.best.delivered_per_s / tcp.best.delivered_per_s).toFixed(2))
        : null,
      ratio_cpu_per_delivery: tcp.best && ws.best
        ? Number(
          (ws.best.server_cpu_us_per_delivery / tcp.best.server_cpu_us_per_delivery).toFixed(2),
        )
        : null,
    }));
  }
}

if (chosen.includes("cluster")) {
  for (const n of values["cluster-clients"]!.split(",").map(Number)) {
    const serverArgs = ["--max-queue-bytes=268435456"];
    const onCluster = async (nodes: number) => {
      await using nats = await startNatsCluster();
      return await ladder("classcord", n, { serverArgs, cluster: { nats: nats.urls, nodes } });
    };
    const plain = await ladder("classcord", n, { serverArgs });
    const one = await onCluster(1);
    const three = await onCluster(3);
    // The highest rate of the ladder every setup held: their latencies compared at equal load.
    const held = (l: Ladder) =>
      new Set(l.steps.filter((s) => s.p99_ms <= 200 && s.lost === 0).map((s) => s.rate));
    const common = [...held(plain)].filter((r) => held(one).has(r) && held(three).has(r));
    const rate = common.length > 0 ? Math.max(...common) : undefined;
    const at = (l: Ladder) => {
      const s = l.steps.find((s) => s.rate === rate);
      return s && { p50_ms: s.p50_ms, p99_ms: s.p99_ms };
    };
    const ratio = (a?: Step, b?: Step) =>
      a && b ? Number((a.delivered_per_s / b.delivered_per_s).toFixed(2)) : null;
    console.log(JSON.stringify({
      scenario: "cluster",
      clients: n,
      senders: 10,
      plain: plain.best,
      cluster_1_node: one.best,
      cluster_3_nodes: three.best,
      ratio_3_nodes_to_1_node: ratio(three.best, one.best),
      ratio_1_node_to_plain: ratio(one.best, plain.best),
      latency_at_rate: rate ?? null,
      latency: { plain: at(plain), cluster_1_node: at(one), cluster_3_nodes: at(three) },
    }));
  }
}

/** The step whose rate is nearest `rate`. */
function nearest(steps: Step[], rate: number): Step | undefined {
  return steps.reduce<Step | undefined>(
    (best, s) => !best || Math.abs(s.rate - rate) < Math.abs(best.rate - rate) ? s : best,
    undefined,
  );
}

if (chosen.includes("private")) {
  const r = await privateLadder(1000);
  console.log(
    JSON.stringify({ scenario: "private", clients: 1000, best: r.best, steps: r.steps.length }),
  );
}
if (chosen.includes("connect")) {
  const r = await loginStorm(Number(values["connect-users"]));
  console.log(JSON.stringify({ ...r, scenario: "connect" }));
}
if (chosen.includes("idle")) {
  console.log(
    JSON.stringify({ scenario: "idle", ...(await idle(Number(values["idle-clients"]))) }),
  );
}
if (chosen.includes("inspircd") || chosen.includes("inspircd-memory")) {
  const irc = await findInspircd();
  if (!irc) console.log(JSON.stringify({ scenario: "inspircd", skipped: NOT_INSTALLED }));
  if (irc && chosen.includes("inspircd")) {
    const clients = Number(values["inspircd-clients"]);
    const rows = await compareFanout(irc.path, {
      clients,
      seconds: Number(values["inspircd-seconds"]),
      rates: values["inspircd-rates"]!.split(",").map(Number),
      onRow: (row) => {
        const tries = (steps: typeof row.classcord) =>
          steps.map((s) => ({
            p99_ms: s.p99_ms,
            p50_ms: s.p50_ms,
            lost: s.lost,
            server_cpu_percent: s.server_cpu_percent,
            server_cpu_us_per_delivery: s.server_cpu_us_per_delivery,
            generator_cpu_percent: s.generator_cpu_percent,
          }));
        console.log(JSON.stringify({
          scenario: "inspircd_rate",
          clients,
          rate: row.rate,
          deliveries_per_s: row.rate * (clients - 1),
          classcord: tries(row.classcord),
          inspircd: tries(row.inspircd),
          ...(row.baseline.length ? { baseline: tries(row.baseline) } : {}),
        }));
      },
    });
    console.log(JSON.stringify({
      scenario: "inspircd",
      inspircd_version: irc.version,
      clients,
      senders: 10,
      ...summarize(rows, clients),
    }));
  }
  if (irc && chosen.includes("inspircd-memory")) {
    const n = Number(values["inspircd-memory-clients"]);
    const rest = Number(values["inspircd-rest-seconds"]);
    // With a baseline: ClassCord, baseline, InspIRCd, baseline, ClassCord, so that a drift of the
    // machine's load falls on both checkouts alike.
    const withBaseline = Boolean(Deno.env.get("BENCH_BASELINE"));
    const ours = await idleMemory("classcord", irc.path, n, rest);
    const before = withBaseline ? [await idleMemory("baseline", irc.path, n, rest)] : [];
    const theirs = await idleMemory("inspircd", irc.path, n, rest);
    if (withBaseline) before.push(await idleMemory("baseline", irc.path, n, rest));
    const again = withBaseline ? await idleMemory("classcord", irc.path, n, rest) : undefined;
    console.log(JSON.stringify({
      scenario: "inspircd-memory",
      inspircd_version: irc.version,
      rest_seconds: rest,
      classcord: ours,
      ...(again ? { classcord_again: again, baseline: before } : {}),
      inspircd: theirs,
      ratio_per_connection: Number(
        (ours.rss_per_connection_at_rest_bytes / theirs.rss_per_connection_at_rest_bytes).toFixed(
          2,
        ),
      ),
    }));
  }
}
if (chosen.includes("write")) {
  for (const r of await writeCost(Number(values.seconds) / 10)) {
    console.log(JSON.stringify({ scenario: "write", ...r }));
  }
}
if (chosen.includes("memory")) {
  console.log(
    JSON.stringify(await memory(Number(values["memory-users"]), Number(values["rest-seconds"]))),
  );
}
