// What the store contracts share (src/store/store.ts): how a contract runs its cases, and the
// messages they store. Each part of the store has its own contract, run by every implementation of
// that part with `contract.run(t, open, skip)` in its own test file: the accounts part in
// tests/helpers/account_store_contract.ts, the messages part in
// tests/helpers/message_store_contract.ts; KvStore runs both in src/store/kv_store_test.ts, the
// cluster's ClusterStore both against a real NATS cluster in tests/cluster_store_test.ts. A case
// that does not apply to an implementation is skipped by name, with the reason, and the reason
// shows in the step's name.
import type { StoredMessage } from "../../src/store/store.ts";
import { Contract, type SkipList } from "./contract.ts";
import { FakeClock } from "./fake_clock.ts";

export type { SkipList };

/** A message of the default channel (or private, with `channel: null` and `to`). */
export function message(
  seq: number,
  opts: Partial<StoredMessage> & { from?: string; content?: string } = {},
): StoredMessage {
  const ts = opts.ts ?? 1_700_000_000_000 + seq * 1000;
  const m: StoredMessage = {
    seq,
    ts,
    channel: opts.channel === undefined ? "#général" : opts.channel,
    line: {
      type: "message",
      from: opts.from ?? "alice",
      content: opts.content ?? `m${seq}`,
      timestamp: `t${seq}`,
      seq,
    },
  };
  if (opts.to) m.to = opts.to;
  return m;
}

/** What a case gets: what `open` gave, closed after the case. */
export interface Opened {
  /** Closes the store and anything opened with it; the next case starts empty. */
  close(): Promise<void>;
}

/** The cases of one store part, by name, in order, each run on a fresh store. */
export class StoreContract<O extends Opened>
  extends Contract<(opened: O, clock: FakeClock) => Promise<void>> {
  /**
   * Runs every case as a step of `t`, each on a store `open` gives (with a fake clock), but
   * those `skip` names (reported as ignored, with the reason).
   *
   * @throws {AssertionError} when `skip` names a case the contract does not have
   */
  run(
    t: Deno.TestContext,
    open: (clock: FakeClock) => Promise<O>,
    skip: SkipList = {},
  ): Promise<void> {
    return this.steps(t, skip, async (run) => {
      const clock = new FakeClock();
      const opened = await open(clock);
      try {
        await run(opened, clock);
      } finally {
        await opened.close();
      }
    });
  }
}
