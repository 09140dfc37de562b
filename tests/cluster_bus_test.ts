// The Bus contract (tests/helpers/bus_contract.ts) on a cluster: the ClusterBus of two nodes
// over a real 3-server NATS JetStream cluster on loopback (Debian's nats-server), each node with
// its read model in memory; a case's sessions alternate between the two nodes.
import assert from "node:assert/strict";
import { ClusterLink, MESSAGES } from "../src/cluster/link.ts";
import { ClusterNode } from "../src/cluster/node.ts";
import { NO_EVENTS } from "../src/events.ts";
import { KvStore } from "../src/store/kv_store.ts";
import { startNatsCluster } from "../testing/nats_cluster.ts";
import { busContract } from "./helpers/bus_contract.ts";
import { needs } from "./helpers/tools.ts";

// Presence changes put after 20 ms instead of 200 (docs/cluster.md §6): the cases wait for them.
const TIMING = { beatMs: 2000, deadMs: 6000, coalesceMs: 20 };
// How long the nodes' views may take to agree.
const SETTLE_MS = 10_000;

Deno.test(
  "ClusterBus keeps the Bus contract on two nodes of a real NATS cluster",
  needs("nats-server"),
  async (t) => {
    await using nats = await startNatsCluster();
    await busContract(t, async () => {
      const names = ["n1", "n2"];
      const locals: KvStore[] = [];
      const nodes: ClusterNode[] = [];
      for (const node of names) {
        const local = await KvStore.open(":memory:");
        locals.push(local);
        nodes.push(
          await ClusterNode.start({
            servers: nats.urls,
            node,
            local,
            events: NO_EVENTS,
            retentionDays: 0,
            loginWindowMs: 600_000,
            timing: TIMING,
          }),
        );
      }
      return {
        buses: nodes.map((n) => n.bus),
        // Each node's view of every other is that node's presence as it is now.
        async settled() {
          const deadline = Date.now() + SETTLE_MS;
          const agree = () =>
            nodes.every((x, i) =>
              nodes.every((y, j) => {
                if (i === j) return true;
                const seen = y.presence.peers.get(names[i]);
                if (!seen) return false;
                try {
                  assert.deepEqual(seen, x.bus.snapshot(seen.boot));
                  return true;
                } catch {
                  return false;
                }
              })
            );
          while (!agree()) {
            assert.ok(Date.now() < deadline, `the nodes' presence not agreed in ${SETTLE_MS} ms`);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        },
        async close() {
          for (const node of nodes) await node.stop();
          for (const local of locals) local.close();
          // The message stream is made again by the next case's nodes: a purged one keeps its
          // last seq, which an empty read model would wait for. The buckets are only emptied.
          const link = await ClusterLink.open({
            servers: nats.urls,
            node: "cleaner",
            retentionDays: 0,
            loginWindowMs: 600_000,
          });
          for await (const name of link.jsm.streams.names()) {
            if (name === MESSAGES) await link.jsm.streams.delete(name);
            else await link.jsm.streams.purge(name);
          }
          await link.close();
        },
      };
    });
  },
);
