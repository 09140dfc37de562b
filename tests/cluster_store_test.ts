// The store contracts (tests/helpers/store_contract.ts) on a cluster node's store: ClusterStore
// over a real 3-server NATS JetStream cluster on loopback (Debian's nats-server), its messages
// written the way the node's feed writes them into its read model.
import { ClusterLink } from "../src/cluster/link.ts";
import { ReadModel } from "../src/cluster/read_model.ts";
import { ClusterStore, InboxCursors } from "../src/cluster/store.ts";
import { KvStore } from "../src/store/kv_store.ts";
import type { Append } from "../src/store/store.ts";
import { startNatsCluster } from "../testing/nats_cluster.ts";
import { accountStoreContract } from "./helpers/account_store_contract.ts";
import type { FakeClock } from "./helpers/fake_clock.ts";
import { messageStoreContract } from "./helpers/message_store_contract.ts";
import type { SkipList } from "./helpers/store_contract.ts";
import { needs } from "./helpers/tools.ts";

/** The cases of the MessageStore contract that are no cluster node's, with the reason. */
const NOT_A_CLUSTER_CASE: SkipList = {
  "imports it already has are skipped, however many in one call":
    "ClusterStore has no MessageAppender (a node's messages reach its read model through the " +
    "stream only), and classcord import refuses a cluster node's store",
};

/** A node's store over the cluster at `servers`, empty, with a read model the test fills. */
async function openNodeStore(servers: string[], clock: FakeClock) {
  const link = await ClusterLink.open({
    servers,
    node: "contract",
    retentionDays: 0,
    loginWindowMs: 600_000,
  });
  const local = await KvStore.open(":memory:", { clock });
  const store = new ClusterStore(local, link, new InboxCursors(link.cursors), () => clock.now());
  const model = new ReadModel(local);
  return {
    store,
    put: (batch: Append[]) => model.append(batch, link.epoch),
    async close() {
      store.close();
      // Every stream and bucket is emptied: the next case's link finds them as they were made,
      // with nothing in them (purging is much quicker than making them again).
      for await (const name of link.jsm.streams.names()) await link.jsm.streams.purge(name);
      await link.close();
    },
  };
}

Deno.test(
  "ClusterStore keeps the AccountStore and MessageStore contracts on a real NATS cluster",
  needs("nats-server"),
  async (t) => {
    await using nats = await startNatsCluster();
    await t.step("AccountStore", async (t) => {
      await accountStoreContract(t, async (clock) => {
        const { store, put, close } = await openNodeStore(nats.urls, clock);
        return { store, messages: { store, put }, close };
      });
    });
    await t.step("MessageStore", async (t) => {
      await messageStoreContract(
        t,
        (clock) => openNodeStore(nats.urls, clock),
        NOT_A_CLUSTER_CASE,
      );
    });
  },
);
