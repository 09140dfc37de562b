// The Bus contract (tests/helpers/bus_contract.ts) on a single server's bus: the Hub, its chat
// messages numbered and stored by a LocalLog over a Deno KV store in memory.
import { busContract } from "../../tests/helpers/bus_contract.ts";
import { NO_EVENTS } from "../events.ts";
import { KvStore } from "../store/kv_store.ts";
import { Hub } from "./hub.ts";
import { LocalLog } from "./local_log.ts";

Deno.test("Hub keeps the Bus contract", async (t) => {
  await busContract(t, async () => {
    const store = await KvStore.open(":memory:");
    const log = await LocalLog.open(store);
    const hub = new Hub({ log, events: NO_EVENTS });
    return {
      buses: [hub],
      settled: () => Promise.resolve(),
      async close() {
        await log.flushed();
        store.close();
      },
    };
  });
});
