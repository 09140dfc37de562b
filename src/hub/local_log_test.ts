// The MessageLog contract (tests/helpers/message_log_contract.ts) on a single server's log:
// LocalLog over the group commit of a Deno KV store in memory.
import { messageLogContract } from "../../tests/helpers/message_log_contract.ts";
import { GroupCommit } from "../store/group_commit.ts";
import { KvStore } from "../store/kv_store.ts";
import type { Append } from "../store/store.ts";
import { LocalLog } from "./local_log.ts";

Deno.test("LocalLog keeps the MessageLog contract", async (t) => {
  await messageLogContract(t, async () => {
    const store = await KvStore.open(":memory:");
    let broken = false;
    // The store's own append, failing once the case breaks it (a full disk, say).
    const append = store.append.bind(store);
    store.append = (batch: Append[]) =>
      broken ? Promise.reject(new Error("Cannot write: disk full")) : append(batch);
    const log = new LocalLog(await GroupCommit.open(store, { attempts: 1 }));
    return {
      log,
      async read(channel, seq) {
        const page = await store.history({ channel }, { limit: 1, after: seq - 1 });
        return page.messages.find((m) => m.seq === seq);
      },
      breakStorage() {
        broken = true;
        return Promise.resolve();
      },
      close() {
        store.close();
        return Promise.resolve();
      },
    };
  });
});
