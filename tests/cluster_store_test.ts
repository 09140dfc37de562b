// The Store contract (tests/helpers/store_contract.ts) on a cluster node's store: ClusterStore
// over a real 3-server NATS JetStream cluster on loopback (Debian's nats-server), its messages
// written the way the node's feed writes them into its read model.
import { ClusterLink } from "../src/cluster/link.ts";
import { ClusterStore, InboxCursors } from "../src/cluster/store.ts";
import { KvStore } from "../src/store/kv_store.ts";
import { startNatsCluster } from "../testing/nats_cluster.ts";
import { type SkipList, storeContract } from "./helpers/store_contract.ts";
import { needs } from "./helpers/tools.ts";

/** The cases that are no cluster node's, with the reason. */
const NOT_A_CLUSTER_CASE: SkipList = {
  "imports it already has are skipped, however many in one call":
    "append is the stream's on a cluster (ClusterStore.append refuses), and classcord import " +
    "refuses a cluster node's store",
};

Deno.test(
  "ClusterStore keeps the Store contract on a real NATS cluster",
  needs("nats-server"),
  async (t) => {
    await using nats = await startNatsCluster();
    await storeContract(t, async (clock) => {
      const link = await ClusterLink.open({
        servers: nats.urls,
        node: "contract",
        retentionDays: 0,
        loginWindowMs: 600_000,
      });
      const local = await KvStore.open(":memory:", { clock });
      const store = new ClusterStore(
        local,
        link,
        new InboxCursors(link.cursors),
        () => clock.now(),
      );
      return {
        store,
        put: (batch) => local.appendFromStream(batch, link.epoch),
        async close() {
          store.close();
          // Every stream and bucket is emptied: the next case's link finds them as they were
          // made, with nothing in them (purging is much quicker than making them again).
          for await (const name of link.jsm.streams.names()) await link.jsm.streams.purge(name);
          await link.close();
        },
      };
    }, NOT_A_CLUSTER_CASE);
  },
);
