// A node's catch-up when the message stream no longer holds what it needs (docs/cluster.md §4.5):
// records dropped by a purge or the age limit while the node was away, or before it ever read
// them. Real NATS servers and real node processes: the node must start, become ready and serve,
// warn once with the count of records it could not read, and keep every record still in the
// stream.
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { type NodeProcess, startNode } from "./helpers/cluster_nodes.ts";
import { type NatsCluster, startNatsCluster } from "../testing/nats_cluster.ts";
import { TestClient } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

// The message stream (src/cluster/link.ts).
const STREAM = "CC_MSG";

/** A logged-in, hello'd client of a node; `say` sends to #général and returns the ack's seq. */
async function chatter(port: number, name: string) {
  const client = await TestClient.connect(port);
  const login = await client.request({ type: "login", username: name, password: "pw" });
  assert.equal(login.status, "ok", JSON.stringify(login));
  await ask(client, { type: "hello", version: 2 });
  return {
    async say(content: string): Promise<number> {
      await client.send({ type: "message", content, id: content });
      const ack = await client.until((l) => l.id === content);
      assert.equal(ack.type, "ack", JSON.stringify(ack));
      return ack.seq as number;
    },
    close: () => client.close(),
  };
}

/** Sends a request and reads its reply, skipping chat and presence lines. */
async function ask(
  client: TestClient,
  request: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  await client.send(request);
  return await client.until((l) => l.type !== "status" && l.type !== "message");
}

/** The contents of #général's history on a node, oldest first. */
async function history(port: number): Promise<string[]> {
  await using c = await TestClient.connect(port);
  await c.request({ type: "login", username: "lecteur", password: "pw" });
  await ask(c, { type: "hello", version: 2 });
  const page = await ask(c, { type: "history", channel: "#général", limit: 200 });
  return (page.messages as { content: string }[]).map((m) => m.content);
}

/** Reads a node's history until it equals `wanted` (the feed takes a moment), 10 s at most. */
async function historyBecomes(node: NodeProcess, wanted: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = await history(node.port);
    if (JSON.stringify(got) === JSON.stringify(wanted)) return;
    if (Date.now() > deadline) assert.deepEqual(got, wanted, `${node.name}'s history`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the node's /readyz answers 200, 10 s at most. */
async function ready(node: NodeProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${node.metricsPort}/readyz`, {
      signal: AbortSignal.timeout(2_000),
    });
    await res.body?.cancel();
    if (res.status === 200) return;
    assert.ok(Date.now() < deadline, `${node.name} not ready within 10 s: ${res.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The node's warnings about records it could not read. */
function goneWarnings(node: NodeProcess): string[] {
  return node.output().split("\n").filter((l) => l.includes("messages of the stream"));
}

/** Purges the message stream below `seq` (all of it without). */
async function purge(nats: NatsCluster, seq?: number): Promise<void> {
  const nc = await connect({ servers: nats.urls, timeout: 5_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    await jsm.streams.purge(STREAM, seq === undefined ? undefined : { seq });
  } finally {
    await nc.close();
  }
}

/** Runs `body` with a NATS cluster, a temp folder and the nodes it starts, all stopped after. */
async function withCluster(
  body: (nats: NatsCluster, dir: string, nodes: NodeProcess[]) => Promise<void>,
): Promise<void> {
  await using nats = await startNatsCluster();
  const dir = await Deno.makeTempDir({ prefix: "classcord_catchup_" });
  const nodes: NodeProcess[] = [];
  try {
    await body(nats, dir, nodes);
  } catch (err) {
    for (const n of nodes) console.error(`--- ${n.name}\n${n.output().slice(-3000)}`);
    throw err;
  } finally {
    for (const n of nodes) await n.kill("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts a node on `dir/<name>.kv` and keeps it in `nodes` for the cleanup. */
async function node(
  nats: NatsCluster,
  dir: string,
  nodes: NodeProcess[],
  name: string,
): Promise<NodeProcess> {
  const n = await startNode({ name, nats: nats.urls, db: `${dir}/${name}.kv` });
  nodes.push(n);
  return n;
}

/** Registers each name through the node on `port`. */
async function register(port: number, names: string[]): Promise<void> {
  for (const name of names) {
    await using c = await TestClient.connect(port);
    assert.equal(
      (await c.request({ type: "register", username: name, password: "pw" })).status,
      "ok",
    );
  }
}

/** Stops a node cleanly and forgets it. */
async function stop(nodes: NodeProcess[], n: NodeProcess): Promise<void> {
  await n.kill("SIGTERM");
  nodes.splice(nodes.indexOf(n), 1);
}

Deno.test(
  "cluster catch-up: a fresh node and a returning node become ready on an emptied stream and serve",
  needs("nats-server"),
  () =>
    withCluster(async (nats, dir, nodes) => {
      const a = await node(nats, dir, nodes, "node1");
      let b = await node(nats, dir, nodes, "node2");
      await register(a.port, ["alice", "lecteur"]);
      const alice = await chatter(a.port, "alice");
      try {
        for (const m of ["m1", "m2", "m3"]) await alice.say(m);
        await historyBecomes(b, ["m1", "m2", "m3"]);
        await stop(nodes, b);
        assert.equal(await alice.say("m4"), 4);
        assert.equal(await alice.say("m5"), 5);
        // Every record gone (as when all are past the age limit): last seq 5, none left.
        await purge(nats);

        let c = await node(nats, dir, nodes, "node3");
        b = await node(nats, dir, nodes, "node2");
        await ready(c);
        await ready(b);
        assert.equal(goneWarnings(c).length, 1, goneWarnings(c).join("\n"));
        assert.match(goneWarnings(c)[0], /Cannot read 5 messages of the stream \(1 to 5\)/);
        assert.equal(goneWarnings(b).length, 1, goneWarnings(b).join("\n"));
        assert.match(goneWarnings(b)[0], /Cannot read 2 messages of the stream \(4 to 5\)/);
        // The position moved past them: started again, the node neither waits nor warns again.
        await stop(nodes, c);
        c = await node(nats, dir, nodes, "node3");
        await ready(c);
        assert.deepEqual(goneWarnings(c), []);

        // Both serve: a message sent on the fresh node comes next and reaches every history; the
        // returning node keeps what it had read.
        const carol = await chatter(c.port, "alice");
        try {
          assert.equal(await carol.say("m6"), 6);
        } finally {
          carol.close();
        }
        await historyBecomes(c, ["m6"]);
        await historyBecomes(b, ["m1", "m2", "m3", "m6"]);
        await historyBecomes(a, ["m1", "m2", "m3", "m4", "m5", "m6"]);
      } finally {
        alice.close();
      }
    }),
);

Deno.test(
  "cluster catch-up: a node whose position fell behind the stream's first record warns and keeps the rest",
  needs("nats-server"),
  () =>
    withCluster(async (nats, dir, nodes) => {
      const a = await node(nats, dir, nodes, "node1");
      let b = await node(nats, dir, nodes, "node2");
      await register(a.port, ["alice", "lecteur"]);
      const alice = await chatter(a.port, "alice");
      try {
        for (const m of ["m1", "m2"]) await alice.say(m);
        await historyBecomes(b, ["m1", "m2"]);
        await stop(nodes, b);
        for (const m of ["m3", "m4", "m5", "m6"]) await alice.say(m);
        // Records 3 and 4 leave the stream while node2 is away; 5 and 6 stay.
        await purge(nats, 5);

        b = await node(nats, dir, nodes, "node2");
        const c = await node(nats, dir, nodes, "node3");
        await ready(b);
        await ready(c);
        assert.equal(goneWarnings(b).length, 1, goneWarnings(b).join("\n"));
        assert.match(goneWarnings(b)[0], /Cannot read 2 messages of the stream \(3 to 4\)/);
        assert.equal(goneWarnings(c).length, 1, goneWarnings(c).join("\n"));
        assert.match(goneWarnings(c)[0], /Cannot read 4 messages of the stream \(1 to 4\)/);
        // Every acknowledged record still in the stream is read; the new one follows.
        assert.equal(await alice.say("m7"), 7);
        await historyBecomes(b, ["m1", "m2", "m5", "m6", "m7"]);
        await historyBecomes(c, ["m5", "m6", "m7"]);
      } finally {
        alice.close();
      }
    }),
);
