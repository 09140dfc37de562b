// Monitoring of a cluster node, as Prometheus sees it: a node process on a real 3-server NATS
// cluster, chat traffic between two of its clients, then its /metrics scraped over HTTP. The
// latency and commit histograms behind the alerts of monitoring/ must count on a cluster node as
// they do on a single server (docs/architecture.md, "Monitoring in both modes").
import assert from "node:assert/strict";
import { startNatsCluster } from "../testing/nats_cluster.ts";
import { startNode } from "./helpers/cluster_nodes.ts";
import { TestClient } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

const MESSAGES = 5;
/** How long the node may take to count what it did (a scrape sees a finished write). */
const SCRAPE_DEADLINE_MS = 10_000;

/** The `_count` of a histogram in a Prometheus text exposition (0 when absent). */
function count(text: string, histogram: string): number {
  const m = text.match(new RegExp(`^${histogram}_count(?:\\{[^}]*\\})? (\\S+)$`, "m"));
  return m ? Number(m[1]) : 0;
}

Deno.test(
  "A cluster node's /metrics counts message latency and commits after chat traffic",
  needs("nats-server"),
  async () => {
    await using nats = await startNatsCluster();
    const dir = await Deno.makeTempDir({ prefix: "classcord_cluster_metrics_" });
    const node = await startNode({ name: "node1", nats: nats.urls, db: `${dir}/node1.kv` });
    try {
      await using alice = await TestClient.connect(node.port);
      await using bob = await TestClient.connect(node.port);
      await alice.loginAs("alice");
      await bob.loginAs("bob");
      for (let i = 0; i < MESSAGES; i++) {
        await alice.send({ type: "message", content: `n°${i}`, id: i });
        const ack = await alice.until((l) => l.type === "ack" && l.id === i);
        const got = await bob.until((l) => l.type === "message" && l.content === `n°${i}`);
        assert.equal(got.seq, ack.seq);
      }
      const url = `http://127.0.0.1:${node.metricsPort}/metrics`;
      const deadline = Date.now() + SCRAPE_DEADLINE_MS;
      let text = "";
      for (;;) {
        const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        assert.equal(response.status, 200);
        text = await response.text();
        const latency = count(text, "classcord_message_latency_seconds");
        const commits = count(text, "classcord_kv_commit_seconds");
        if (latency > 0 && commits > 0) break;
        assert.ok(
          Date.now() < deadline,
          `latency count ${latency}, commit count ${commits} after ${MESSAGES} messages`,
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      // Every message of the stream went through one read-model commit or another.
      const batched = text.match(/^classcord_kv_batch_size_sum (\S+)$/m);
      assert.ok(batched && Number(batched[1]) >= MESSAGES, `batch sizes: ${batched?.[1]}`);
    } finally {
      await node.kill("SIGTERM");
      await Deno.remove(dir, { recursive: true });
    }
  },
);
