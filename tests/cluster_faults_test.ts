// The cluster as a class meets it: 3 NATS servers, 3 ClassCord nodes as processes, HAProxy in
// front with PROXY v2 and health checks. Clients chat through HAProxy while a node is killed
// with kill -9: its clients reconnect through HAProxy, nothing acknowledged is lost or doubled
// in any node's history, and its users go offline for the others within a bounded time.
import assert from "node:assert/strict";
import { type NodeProcess, startNode } from "./helpers/cluster_nodes.ts";
import { type Haproxy, startHaproxy } from "./helpers/haproxy.ts";
import { startNatsCluster } from "../testing/nats_cluster.ts";
import { TestClient } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

// Loopback address HAProxy connects to the nodes from: the nodes read PROXY headers from it only.
const BALANCER = "127.0.0.2";
// Each client's messages, sent one after the other (ack before the next).
const MESSAGES = 30;
const CLIENTS = 9;

/** A chat user through HAProxy who reconnects when the connection drops, then goes on. */
async function chatter(
  port: number,
  name: string,
  acked: Map<string, number>,
  progress: () => Promise<void>,
): Promise<{ reconnects: number; lost: number }> {
  let reconnects = 0;
  let lost = 0;
  let client: TestClient | undefined;
  const open = async () => {
    client?.close();
    client = await TestClient.connect(port);
    const login = await client.request({ type: "login", username: name, password: "pw" });
    assert.equal(login.status, "ok", JSON.stringify(login));
    await ask(client, { type: "hello", version: 2 });
  };
  // Until it works: HAProxy may still send a client to the dead node until its check marks it
  // down.
  const connect = async () => {
    for (;;) {
      try {
        return await open();
      } catch {
        reconnects++;
      }
    }
  };
  await connect();
  for (let i = 0; i < MESSAGES; i++) {
    const content = `${name} n°${i}`;
    try {
      await client!.send({ type: "message", content, id: content });
      // Lines from the others may come first: the ack is matched by its id.
      for (;;) {
        const line = await client!.json(15_000);
        if (line.type === "ack" && line.id === content) {
          acked.set(content, line.seq as number);
          break;
        }
        if (line.type === "error" && line.id === content) throw new Error(String(line.code));
      }
      // Everyone waits for the kill once it starts: some are then on a dead connection.
      await progress();
    } catch {
      // Unacknowledged: it may have been stored or not; a client would look in the history.
      lost++;
      reconnects++;
      await connect();
    }
  }
  client?.close();
  return { reconnects, lost };
}

/** Sends a request and reads its reply, skipping the chat and presence lines of the others. */
async function ask(
  client: TestClient,
  request: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  await client.send(request);
  for (;;) {
    const line = await client.json(15_000);
    if (line.type !== "status" && line.type !== "message") return line;
  }
}

/** The seqs and contents of #général's whole history, read from one node, oldest first. */
async function history(port: number): Promise<{ seq: number; content: string }[]> {
  await using c = await TestClient.connect(port);
  await c.request({ type: "login", username: "lecteur", password: "pw" });
  await ask(c, { type: "hello", version: 2 });
  const all: { seq: number; content: string }[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await ask(c, { type: "history", channel: "#général", limit: 200, before });
    const messages = page.messages as { seq: number; content: string }[];
    all.unshift(...messages.map(({ seq, content }) => ({ seq, content })));
    if (!page.more || messages.length === 0) return all;
    before = messages[0].seq;
  }
}

Deno.test(
  "kill -9 of a node mid-traffic behind HAProxy: clients move, nothing acknowledged is lost or doubled",
  needs("nats-server", "haproxy"),
  async () => {
    await using nats = await startNatsCluster();
    const dir = await Deno.makeTempDir({ prefix: "classcord_faults_" });
    const nodes: NodeProcess[] = [];
    let haproxy: Haproxy | undefined;
    try {
      const flags = ["--rate-burst=1000", "--rate-per-second=1000", "--log-level=info"];
      for (let i = 1; i <= 3; i++) {
        nodes.push(
          await startNode({
            name: `node${i}`,
            nats: nats.urls,
            db: `${dir}/node${i}.kv`,
            proxyFrom: BALANCER,
            args: flags,
          }),
        );
      }
      haproxy = await startHaproxy([{
        source: BALANCER,
        servers: nodes.map((n) => ({ port: n.port, proxy: 2, check: { httpPort: n.metricsPort } })),
      }]);
      for (let i = 0; i < 3; i++) await haproxy.waitStatus(0, i, "UP");
      const port = haproxy.ports[0];

      // Accounts first, through any node; then everyone chats at once.
      const names = Array.from({ length: CLIENTS }, (_, i) => `élève${i}`);
      for (const name of [...names, "lecteur", "fantôme"]) {
        await using c = await TestClient.connect(port);
        assert.equal(
          (await c.request({ type: "register", username: name, password: "pw" })).status,
          "ok",
        );
      }
      // A user on node 2 alone (not through HAProxy), who will not come back.
      await using ghost = await TestClient.connect(nodes[1].port);
      await ghost.request({ type: "login", username: "fantôme", password: "pw" });

      const acked = new Map<string, number>();
      let killed: Promise<void> | undefined;
      let killedAt = 0;
      const progress = () => {
        // A third of the way through, node 2 dies without a word.
        if (!killed && acked.size >= (CLIENTS * MESSAGES) / 3) {
          killedAt = performance.now();
          killed = nodes[1].kill("SIGKILL");
        }
        return killed ?? Promise.resolve();
      };
      const results = await Promise.all(names.map((n) => chatter(port, n, acked, progress)));
      await killed;
      const reconnects = results.reduce((n, r) => n + r.reconnects, 0);
      const lost = results.reduce((n, r) => n + r.lost, 0);
      assert.ok(reconnects > 0, "some clients were on the killed node and came back");
      assert.equal(acked.size + lost, CLIENTS * MESSAGES);

      // Every node alive serves the same history: each acknowledged message once, with its seq.
      const [h1, h3] = [await history(nodes[0].port), await history(nodes[2].port)];
      assert.deepEqual(h3, h1, "the same history on every node");
      const seqs = h1.map((m) => m.seq);
      assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), "rising, no duplicate");
      const stored = new Map(h1.map((m) => [m.content, m.seq]));
      for (const [content, seq] of acked) {
        assert.equal(stored.get(content), seq, `${content} acknowledged as ${seq}`);
      }
      const contents = h1.map((m) => m.content);
      assert.equal(new Set(contents).size, contents.length, "no message stored twice");

      // The dead node's user who did not come back is offline for the others, in bounded time.
      await using watcher = await TestClient.connect(nodes[0].port);
      await watcher.request({ type: "login", username: "lecteur", password: "pw" });
      for (;;) {
        const users = (await ask(watcher, { type: "users" })).users as string[];
        if (!users.includes("fantôme")) break;
        assert.ok(performance.now() - killedAt < 15_000, "gone within 15 s");
      }
      const offlineMs = Math.round(performance.now() - killedAt);
      console.log(
        `kill -9: ${acked.size} acknowledged, ${lost} in flight, ${reconnects} reconnections; ` +
          `the dead node's user offline elsewhere after ${offlineMs} ms`,
      );

      // The node comes back on its store: it goes on from where it stood.
      nodes[1] = await startNode({
        name: "node2",
        nats: nats.urls,
        db: `${dir}/node2.kv`,
        proxyFrom: BALANCER,
        args: flags,
      });
      assert.deepEqual(await history(nodes[1].port), h1, "the restarted node has it all");
    } catch (err) {
      for (const n of nodes) console.error(`--- ${n.name}\n${n.output().slice(-3000)}`);
      console.error(`--- haproxy\n${haproxy?.output()}`);
      throw err;
    } finally {
      await haproxy?.[Symbol.asyncDispose]();
      for (const n of nodes) await n.kill("SIGTERM");
      await Deno.remove(dir, { recursive: true });
    }
  },
);
