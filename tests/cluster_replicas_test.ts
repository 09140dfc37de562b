// Two nodes that see NATS clusters of different sizes would want the streams with different
// replica counts: the second is refused at start, with the reason, before it serves anyone.
import assert from "node:assert/strict";
import { startNatsCluster } from "../testing/nats_cluster.ts";
import { startNode } from "./helpers/cluster_nodes.ts";
import { runClasscord } from "./helpers/process.ts";
import { needs } from "./helpers/tools.ts";

Deno.test(
  "a node that sees another number of NATS servers than the streams were made for is refused, saying why",
  needs("nats-server"),
  async () => {
    // The third server gives its clients no other server's address (no_advertise): a node on
    // it alone counts one server and wants one replica; a node on the first counts two.
    await using nats = await startNatsCluster({ unadvertised: [2] });
    const dir = await Deno.makeTempDir({ prefix: "classcord_replicas_" });
    try {
      const first = await startNode({ name: "first", nats: [nats.urls[0]], db: `${dir}/first.kv` });
      try {
        const second = await runClasscord([
          "--host=127.0.0.1",
          "--port=0",
          "--metrics-port=0",
          "--web-port=0",
          `--db=${dir}/second.kv`,
          `--nats=${nats.urls[2]}`,
          "--node-name=second",
        ], { timeoutMs: 30_000 });
        assert.equal(second.code, 1, `exit code; output:\n${second.out}${second.err}`);
        assert.doesNotMatch(second.out, /Listening on/, "it never served");
        // One line, as every failure to start: what failed, the two counts, and what to check.
        const lines = second.err.trim().split("\n");
        assert.equal(lines.length, 1, second.err);
        assert.match(
          lines[0],
          /Cannot start: The stream "CC_MSG" has 2 replicas and this node wants 1: every node must see the same NATS cluster$/,
        );
        assert.match(first.output(), /Joined the NATS cluster at \S+ \(2 replicas\)/);
      } finally {
        await first.kill("SIGTERM");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
