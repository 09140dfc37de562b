// What the nodes of a cluster share besides the chat, with real parts (a 3-server NATS
// JetStream cluster on loopback, ClassCord nodes on it): a guest name is given to one guest
// across all nodes, and the registrations of one address are counted over all of them
// (docs/cluster.md §5.5, §8).
import assert from "node:assert/strict";
import type { Limits } from "../src/config.ts";
import { startNode } from "./helpers/cluster_nodes.ts";
import { type NatsCluster, startNatsCluster } from "../testing/nats_cluster.ts";
import { startTestServer, TestClient, type TestServer } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

/** Two nodes on the cluster, each with its own store; every address counted (none trusted). */
async function twoNodes(nats: NatsCluster, limits?: Partial<Limits>): Promise<TestServer[]> {
  const out: TestServer[] = [];
  for (const nodeName of ["node1", "node2"]) {
    out.push(await startTestServer({ nats: nats.urls, nodeName, limits, trusted: "none" }));
  }
  return out;
}

/** An anonymous connection's first message: it becomes a guest asking for `from`. */
function asGuest(client: TestClient, from: string, content: string): Promise<void> {
  return client.send({ type: "message", from, content });
}

/** Reads chat lines until each of `contents` came once; its sender's name by content. */
async function senders(client: TestClient, contents: string[]): Promise<Map<string, string>> {
  const from = new Map<string, string>();
  const wanted = new Set(contents);
  while (from.size < wanted.size) {
    const line = await client.until((l) => l.type === "message" && wanted.has(l.content as string));
    from.set(line.content as string, line.from as string);
  }
  return from;
}

/**
 * Asks `users` until `name` is online (or offline) as `client`'s node sees it: presence from
 * another node takes a moment (docs/cluster.md §6).
 */
async function seen(client: TestClient, name: string, online: boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await client.send({ type: "users" });
    const users = (await client.until((l) => l.type === "users")).users as string[];
    if (users.includes(name) === online) return;
    assert.ok(Date.now() < deadline, `${name} stayed ${online ? "offline" : "online"}: ${users}`);
  }
}

Deno.test(
  "guests asking for one free name on two nodes at once get two names, and a name given back is free again",
  needs("nats-server"),
  async () => {
    await using nats = await startNatsCluster();
    const [a, b] = await twoNodes(nats);
    const guests: TestClient[] = [];
    try {
      // One watcher per node: the names are read from the messages the guests send.
      await using onA = await a.connect();
      await onA.loginAs("surveillant A");
      await using onB = await b.connect();
      await onB.loginAs("surveillant B");
      await onA.until((l) => l.type === "status" && l.user === "surveillant B");
      // Letters, not numbers, tell the pairs apart: "Pseudo1" + "2" would be pair 12's name.
      const bases = Array.from({ length: 12 }, (_, i) => `Pseudo${String.fromCharCode(65 + i)}`);
      const pairs = await Promise.all(bases.map(async () => {
        const pair = await Promise.all([a.connect(), b.connect()]);
        guests.push(...pair);
        return pair;
      }));
      // Every pair at the same instant, each guest on its own node, asking for the same name.
      await Promise.all(
        pairs.flatMap((
          [x, y],
          i,
        ) => [asGuest(x, bases[i], `x${i}`), asGuest(y, bases[i], `y${i}`)]),
      );
      const names = await senders(onA, bases.flatMap((_, i) => [`x${i}`, `y${i}`]));
      for (const [i, base] of bases.entries()) {
        const got = [names.get(`x${i}`)!, names.get(`y${i}`)!];
        assert.deepEqual(got.toSorted(), [base, `${base}2`], `pair ${i}: ${got}`);
      }

      // The holder of the first name leaves; once the other node sees it offline, a guest there
      // asking for the name gets it, not the next suffix.
      const [x, y] = pairs[0];
      const holderOnA = names.get("x0") === bases[0];
      const other = holderOnA ? b : a;
      const watcher = holderOnA ? onB : onA;
      await seen(watcher, bases[0], true);
      (holderOnA ? x : y).close();
      await seen(watcher, bases[0], false);
      const again = await other.connect();
      guests.push(again);
      await asGuest(again, bases[0], "de retour");
      assert.equal((await senders(onA, ["de retour"])).get("de retour"), bases[0]);
    } finally {
      for (const g of guests) g.close();
      for (const n of [a, b]) await n[Symbol.asyncDispose]();
    }
  },
);

Deno.test(
  "the name of a guest whose node was killed is free again once the node is buried",
  needs("nats-server"),
  async () => {
    await using nats = await startNatsCluster();
    const dir = await Deno.makeTempDir({ prefix: "classcord_guests_" });
    // Node 2 is a process, so that kill -9 ends it without a word.
    const dead = await startNode({ name: "node2", nats: nats.urls, db: `${dir}/node2.kv` });
    try {
      await using a = await startTestServer({ nats: nats.urls, nodeName: "node1" });
      await using watcher = await a.connect();
      await watcher.loginAs("surveillant");
      await using ghost = await TestClient.connect(dead.port);
      await asGuest(ghost, "Fantôme", "bientôt parti");
      assert.equal((await senders(watcher, ["bientôt parti"])).get("bientôt parti"), "Fantôme");
      await seen(watcher, "Fantôme", true);
      await dead.kill("SIGKILL");
      // Buried after 3 missed beats (6 s): its guest goes offline here.
      await seen(watcher, "Fantôme", false, 20_000);
      await using again = await a.connect();
      await asGuest(again, "fantôme", "me revoilà");
      assert.equal((await senders(watcher, ["me revoilà"])).get("me revoilà"), "fantôme");
    } catch (err) {
      console.error(`--- node2\n${dead.output().slice(-3000)}`);
      throw err;
    } finally {
      await dead.kill("SIGTERM");
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "registrations from one address spread over two nodes are refused past the cap in total",
  needs("nats-server"),
  async () => {
    await using nats = await startNatsCluster();
    const cap = 4;
    const [a, b] = await twoNodes(nats, { registrationsPerAddress: cap });
    try {
      await using onA = await a.connect();
      await using onB = await b.connect();
      const register = (c: TestClient, username: string) =>
        c.request({ type: "register", username, password: "pw" });
      // Two on each node: alone, neither node would be at its cap yet.
      for (let i = 0; i < cap; i++) {
        const reply = await register(i % 2 === 0 ? onA : onB, `inscrit${i}`);
        assert.equal(reply.status, "ok", JSON.stringify(reply));
      }
      // Node 2 first: the last count it needs (node 1's second) is a whole request old.
      for (const [c, name] of [[onB, "de trop B"], [onA, "de trop A"]] as const) {
        const refused = await register(c, name);
        assert.equal(refused.code, "rate_limited", JSON.stringify(refused));
        assert.match(
          refused.message as string,
          /^Too many registrations from your address: try again in \d+ s$/,
        );
        assert.ok((refused.retry_after_ms as number) > 0);
      }
    } finally {
      for (const n of [a, b]) await n[Symbol.asyncDispose]();
    }
  },
);
