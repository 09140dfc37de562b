// Nothing acknowledged is ever lost (docs/protocol.md §4.3); retention removes only what is old.
import assert from "node:assert/strict";
import { launch } from "./helpers/process.ts";
import { startTestServer, TestClient } from "./helpers/test_server.ts";

const N = 300;

Deno.test("acked messages survive kill -9 of the server, offline ones too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  const db = `${dir}/classcord.kv`;
  const args = ["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--db", db];
  args.push("--rate-burst", "100000"); // 301 messages at once: the flood is the point here
  try {
    const first = await launch(args);
    const alice = await TestClient.connect(first.port);
    await alice.request({ type: "register", username: "bob", password: "pw" });
    await alice.request({ type: "register", username: "alice", password: "pw" });
    await alice.login("alice", "pw");
    // Pipelined: the server batches these into few commits; each ack means "durable".
    const sends = [];
    for (let i = 0; i < N; i++) {
      sends.push(alice.send({ type: "message", content: `m${i}`, id: i }));
    }
    sends.push(
      alice.send({ type: "message", subtype: "private", to: "bob", content: "for bob", id: "pm" }),
    );
    await Promise.all(sends);
    const acked = new Set<unknown>();
    while (acked.size < N + 1) {
      const line = await alice.json();
      assert.equal(line.type, "ack", JSON.stringify(line));
      acked.add(line.id);
    }
    first.child.kill("SIGKILL");
    assert.equal((await first.exit()).code, 137);
    alice.close();

    await using srv = await startTestServer({ db });
    await using bob = await srv.connect();
    await bob.send({ type: "login", username: "bob", password: "pw" });
    assert.equal((await bob.json()).type, "login");
    assert.equal((await bob.json()).content, "for bob", "the offline message waited for bob");
    const contents: string[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await bob.request({ type: "history", limit: 200, before });
      const messages = page.messages as { content: string; seq: number }[];
      contents.unshift(...messages.map((m) => m.content));
      if (!page.more) break;
      before = messages[0].seq;
    }
    assert.deepEqual(contents, Array.from({ length: N }, (_, i) => `m${i}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const DAY = 24 * 60 * 60 * 1000;

Deno.test("retention deletes messages older than --retention-days, 0 keeps them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_test_" });
  const db = `${dir}/classcord.kv`;
  const now = Date.now();
  try {
    {
      await using srv = await startTestServer({ db, clock: { now: () => now - 400 * DAY } });
      await using c = await srv.connect();
      await c.loginAs("alice");
      await c.request({ type: "message", content: "old", id: 1 });
    }
    {
      const clock = { now: () => now - 10 * DAY };
      await using srv = await startTestServer({ db, clock, retentionDays: 0 });
      await using c = await srv.connect();
      await c.login("alice");
      await c.request({ type: "message", content: "recent", id: 1 });
    }
    const contents = async (retentionDays: number) => {
      await using srv = await startTestServer({ db, retentionDays });
      await using c = await srv.connect();
      await c.login("alice");
      const page = await c.request({ type: "history" });
      return (page.messages as { content: string }[]).map((m) => m.content);
    };
    assert.deepEqual(await contents(0), ["old", "recent"], "0 keeps everything");
    assert.deepEqual(await contents(365), ["recent"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
