// `deno task bench`: runs the scenarios and prints one JSON line per scenario; repeated scenarios
// report medians, so figures from a shared, noisy machine can still be compared within one run.
import { parseArgs } from "node:util";
import { attack } from "./attack.ts";
import { median } from "./harness.ts";
import { commitEach, groupCommit } from "./store.ts";
import { loginStorm } from "./storm.ts";

const SCENARIOS = ["store", "storm", "attack"] as const;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    scenario: { type: "string", multiple: true },
    runs: { type: "string", default: "5" },
    messages: { type: "string", default: "20000" },
    users: { type: "string", default: "200" },
    seconds: { type: "string", default: "10" },
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
          against the default limits while 10 users chat; their latency before and during`);
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
