// Benchmark of the history write path: messages stored per second with group commit, against one
// KV commit per message, on the same machine in the same run.
import { KvStore } from "../../src/store/kv_store.ts";
import { LocalLog } from "../../src/hub/local_log.ts";
import { DEFAULT } from "../../src/protocol/channel.ts";
import type { Append } from "../../src/store/store.ts";

function message(seq: number): Append {
  const ts = Date.now();
  return {
    message: {
      seq,
      ts,
      channel: "#général",
      line: {
        type: "message",
        from: "bench",
        content: "Bonjour à tous, voici un message de taille ordinaire pour la classe.",
        timestamp: new Date(ts).toISOString().slice(0, 23),
        seq,
      },
    },
  };
}

async function withStore<T>(run: (store: KvStore) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_bench_" });
  const store = await KvStore.open(`${dir}/bench.kv`);
  try {
    return await run(store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Messages per second through the server's local log (its group commit): all queued at once, then
 * flushed.
 */
export function groupCommit(count: number): Promise<{ rate: number; commits: number }> {
  return withStore(async (store) => {
    let commits = 0;
    const counting = new Proxy(store, {
      get(target, prop) {
        if (prop === "append") {
          return (batch: Append[]) => {
            commits++;
            return target.append(batch);
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const log = await LocalLog.open(counting);
    // The hub's part, minus the fan-out: each message's stored form.
    log.attach({ numbered: (seq) => message(seq), fanOut: () => 0 });
    const draft = { fields: {}, from: "bench", ts: Date.now(), to: { channel: DEFAULT } };
    const start = performance.now();
    let acked = 0;
    for (let i = 0; i < count; i++) log.append(draft, {}, () => acked++);
    await log.flushed();
    const seconds = (performance.now() - start) / 1000;
    if (acked !== count) throw new Error(`Only ${acked} of ${count} messages were acknowledged`);
    return { rate: count / seconds, commits };
  });
}

/** Messages per second with one awaited KV commit per message: what group commit avoids. */
export function commitEach(count: number): Promise<{ rate: number; commits: number }> {
  return withStore(async (store) => {
    const start = performance.now();
    for (let seq = 1; seq <= count; seq++) await store.append([message(seq)]);
    return { rate: count / ((performance.now() - start) / 1000), commits: count };
  });
}
