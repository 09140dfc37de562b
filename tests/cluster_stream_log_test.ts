// The MessageLog contract (tests/helpers/message_log_contract.ts) on a cluster node's log:
// StreamLog over a real 3-server NATS JetStream cluster on loopback (Debian's nats-server), its
// read model a Deno KV store in memory.
import { Feed } from "../src/cluster/feed.ts";
import { ClusterLink, MESSAGES } from "../src/cluster/link.ts";
import { InboxCursors } from "../src/cluster/store.ts";
import { StreamLog } from "../src/cluster/stream_log.ts";
import { NO_EVENTS } from "../src/events.ts";
import { KvStore } from "../src/store/kv_store.ts";
import { startNatsCluster } from "../testing/nats_cluster.ts";
import { messageLogContract } from "./helpers/message_log_contract.ts";
import { needs } from "./helpers/tools.ts";

Deno.test(
  "StreamLog keeps the MessageLog contract on a real NATS cluster",
  needs("nats-server"),
  async (t) => {
    await using nats = await startNatsCluster();
    await messageLogContract(t, async () => {
      const link = await ClusterLink.open({
        servers: nats.urls,
        node: "contract",
        retentionDays: 0,
        loginWindowMs: 600_000,
      });
      const local = await KvStore.open(":memory:");
      const cursors = new InboxCursors(link.cursors);
      const log = new StreamLog({
        link,
        node: "contract",
        boot: crypto.randomUUID().slice(0, 8),
        cursors,
        disconnect() {},
      });
      // The node's feed reads the stream back into the read model and hands it to the log.
      const feed = new Feed(link, local, log, NO_EVENTS);
      await feed.start();
      return {
        log,
        async read(channel, seq) {
          const page = await local.history({ channel }, { limit: 1, after: seq - 1 });
          return page.messages.find((m) => m.seq === seq);
        },
        // The stream is gone: every publish is refused until the sender gives up.
        async breakStorage() {
          await link.jsm.streams.delete(MESSAGES);
        },
        async close() {
          await feed.stop();
          await cursors.flush();
          cursors.close();
          // The message stream is made again by the next case's link: a purged one keeps its
          // last seq, which an empty read model would wait for. The buckets are only emptied
          // (much quicker than making them all again).
          for await (const name of link.jsm.streams.names()) {
            if (name === MESSAGES) await link.jsm.streams.delete(name);
            else await link.jsm.streams.purge(name);
          }
          await link.close();
          local.close();
        },
      };
    });
  },
);
