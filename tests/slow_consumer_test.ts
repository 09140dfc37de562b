// A client that never reads is cut off alone (docs/protocol.md §5.11); everybody else keeps
// chatting.
import assert from "node:assert/strict";
import { FLOOD_LIMITS, loginAll, startTestServer, type TestServer } from "./helpers/test_server.ts";
import type { Limits } from "../src/config.ts";

const BIG = "x".repeat(60 * 1024);

/** Alice floods, bob reads everything, carol never reads; returns how many messages bob got. */
async function floodUntilCarolLeaves(srv: TestServer): Promise<number> {
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await using carol = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"], [carol, "carol"]);
  // Bounded in time and count; either bound is far beyond what cutting carol off takes.
  const deadline = Date.now() + 15_000;
  for (let sent = 1; sent <= 100_000 && Date.now() < deadline; sent++) {
    await alice.send({ type: "message", content: BIG });
    for (;;) {
      const line = await bob.json();
      if (line.type === "status") {
        assert.deepEqual(line, { type: "status", user: "carol", state: "offline" });
        return sent;
      }
      assert.equal(line.content, BIG, "bob gets every message, whole and in order");
      break;
    }
  }
  throw new Error("carol was never cut off");
}

async function withServer(limits: Partial<Limits>, run: (srv: TestServer) => Promise<void>) {
  await using srv = await startTestServer({ limits: { ...FLOOD_LIMITS, ...limits } });
  await run(srv);
}

Deno.test("a client that never reads is closed when its queue passes the cap", async () => {
  await withServer({ maxQueueBytes: 1024 * 1024, writeDeadlineMs: 60_000 }, async (srv) => {
    const sent = await floodUntilCarolLeaves(srv);
    assert.ok(sent > 16, `carol was cut after ${sent} messages, not before her queue filled`);
  });
});

Deno.test("a client whose writes stall past the deadline is closed", async () => {
  // A queue cap too large to be reached: only the write deadline can end carol.
  await withServer({ maxQueueBytes: 1024 * 1024 * 1024, writeDeadlineMs: 300 }, async (srv) => {
    await floodUntilCarolLeaves(srv);
  });
});
