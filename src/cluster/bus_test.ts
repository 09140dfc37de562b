import assert from "node:assert/strict";
import { NO_EVENTS } from "../events.ts";
import type { Member } from "../hub/bus.ts";
import type { Draft, Local, LogReader } from "../hub/message_log.ts";
import { parseChannel } from "../protocol/channel.ts";
import { ClusterBus } from "./bus.ts";
import type { StreamLog } from "./stream_log.ts";

/** A stream log that numbers at once and fans out on this node only: no NATS needed here. */
function fakeLog(): StreamLog {
  let reader: LogReader | undefined;
  let seq = 0;
  const log = {
    attach: (r: LogReader) => void (reader = r),
    append: (draft: Draft, local: Local) => {
      const item = reader!.numbered(++seq, draft);
      reader!.fanOut(item, draft, local);
    },
    flushed: () => Promise.resolve(),
  };
  return log as unknown as StreamLog;
}

const member = (name: string): Member => ({
  key: name,
  name,
  out: { send() {} },
  transport: "tcp",
  address: "127.0.0.1",
  since: 0,
  helloed: true,
  disconnect() {},
});

Deno.test("ClusterBus tells the presence of a channel joined, not of each message posted there", () => {
  let changes = 0;
  const bus = new ClusterBus({
    node: "n1",
    events: NO_EVENTS,
    log: fakeLog(),
    presence: { changed: () => void changes++, peers: new Map() },
  });
  const alice = member("alice");
  bus.join(alice, { guest: false, now: 0 });
  const joined = changes;
  const maths = parseChannel("#maths");
  const post = { fields: { type: "message", content: "x" }, from: "alice", ts: 0 };
  bus.post({ ...post, to: { channel: maths }, except: alice });
  assert.equal(changes, joined + 1, "posting to a channel joins it: the others hear of it");
  for (let i = 0; i < 10; i++) bus.post({ ...post, to: { channel: maths }, except: alice });
  assert.equal(changes, joined + 1, "posting where it already is changes nothing");
});
