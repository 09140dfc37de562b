// `deno task bench`: runs each scenario several times and prints one JSON line per scenario with
// medians, so figures from a shared, noisy machine can still be compared within one run.
import { parseArgs } from "node:util";
import { commitEach, groupCommit } from "./store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    messages: { type: "string", default: "20000" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(`Usage: deno task bench [--runs N] [--messages N]

Scenarios (one JSON line each, medians of --runs runs):
  store   messages stored per second by the MessageLog (group commit) and with one
          KV commit per message, and their ratio`);
  Deno.exit(0);
}
const runs = Number(values.runs);
const messages = Number(values.messages);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

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
