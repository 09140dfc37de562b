// Cluster mode with real parts: a 3-server NATS JetStream cluster (Debian's nats-server) on
// loopback and ClassCord nodes on it. Clients on different nodes chat, register, see one
// presence list and page the same history; nodes and NATS servers fail and the rest goes on.
import assert from "node:assert/strict";
import { askServer } from "../src/commands/admin_client.ts";
import { DEFAULT_LIMITS } from "../src/config.ts";
import { type NatsCluster, startNatsCluster } from "../testing/nats_cluster.ts";
import {
  FLOOD_LIMITS,
  startTestServer,
  type TestClient,
  type TestServer,
} from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

/** `n` nodes on the cluster, each with its own store. */
async function nodes(nats: NatsCluster, n: number): Promise<TestServer[]> {
  const out: TestServer[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await startTestServer({ nats: nats.urls, nodeName: `node${i + 1}`, web: true }));
  }
  return out;
}

/** Sends a request and reads its reply, skipping presence lines that come meanwhile. */
async function ask(
  client: TestClient,
  request: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  await client.send(request);
  // Past the 12 s a publish may wait for an election (docs/cluster.md §3.1): the answer comes.
  return await client.until((l) => l.type !== "status", 20_000);
}

/** Asks `users` until the list satisfies `ok` (a change on another node takes a moment). */
async function seen(client: TestClient, ok: (users: string[]) => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const users = (await ask(client, { type: "users" })).users as string[];
    if (ok(users)) return;
    if (Date.now() > deadline) throw new Error(`users stayed ${JSON.stringify(users)}`);
  }
}

Deno.test(
  "TCP and WebSocket clients on different nodes chat, register once, see one presence and the same history",
  needs("nats-server"),
  async () => {
    await using nats = await startNatsCluster();
    const [a, b] = await nodes(nats, 2);
    try {
      await using alice = await a.connect();
      await using bob = await b.connect();
      await alice.loginAs("alice");
      // Registered through node 1: node 2 knows the name at once.
      assert.equal(
        (await bob.request({ type: "register", username: "Alice", password: "x" })).code,
        "user_exists",
      );
      await bob.loginAs("bob");
      // alice hears bob come online on the other node.
      await alice.until((l) => l.type === "status" && l.user === "bob" && l.state === "online");
      assert.deepEqual((await ask(alice, { type: "users" })).users, ["alice", "bob"]);
      // (bob may hear of alice late: her node tells the others within 200 ms.)
      assert.deepEqual((await ask(bob, { type: "users" })).users, ["alice", "bob"]);

      await ask(alice, { type: "hello", version: 2 });
      const ack = await ask(alice, { type: "message", content: "Bonjour à tous", id: 1 });
      assert.equal(ack.type, "ack");
      const got = await bob.until((l) => l.type === "message");
      assert.deepEqual([got.from, got.content, got.seq], ["alice", "Bonjour à tous", ack.seq]);

      // A private message across nodes, and one to a user offline everywhere, waiting for them.
      await bob.send({ type: "message", subtype: "private", to: "alice", content: "psst" });
      const pm = await alice.until((l) => l.type === "message" && l.subtype === "private");
      assert.equal(pm.content, "psst");

      // The same history from either node.
      const page = async (c: TestClient) =>
        ((await ask(c, { type: "history", channel: "#général", limit: 10 })).messages as {
          seq: number;
        }[]).map((m) => m.seq);
      await ask(bob, { type: "hello", version: 2 });
      assert.deepEqual(await page(bob), await page(alice));
      assert.deepEqual(await page(alice), [ack.seq]);

      // A browser on node 2 (WebSocket) and a TCP client on node 1, in the same #général.
      const ws = new WebSocket(`ws://127.0.0.1:${b.server.webPort}/ws`);
      const frames: Record<string, unknown>[] = [];
      let wake: (() => void) | undefined;
      ws.onmessage = (e) => {
        frames.push(JSON.parse(String(e.data)));
        wake?.();
      };
      const frame = async (match: (f: Record<string, unknown>) => boolean) => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const i = frames.findIndex(match);
          if (i >= 0) return frames.splice(i, 1)[0];
          assert.ok(Date.now() < deadline, `no such frame in ${JSON.stringify(frames)}`);
          let timer: ReturnType<typeof setTimeout> | undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, 500);
          });
          clearTimeout(timer);
        }
      };
      await new Promise((resolve) => ws.onopen = resolve);
      try {
        ws.send(JSON.stringify({ type: "hello", version: 2 }));
        ws.send(JSON.stringify({ type: "register", username: "Zoé", password: "pw" }));
        ws.send(JSON.stringify({ type: "login", username: "Zoé", password: "pw" }));
        const login = await frame((f) => f.type === "login");
        assert.equal(login.status, "ok");
        ws.send(JSON.stringify({ type: "message", content: "depuis le navigateur", id: 7 }));
        const fromWeb = await alice.until((l) => l.type === "message" && l.from === "Zoé");
        assert.equal(fromWeb.content, "depuis le navigateur");
        await alice.send({ type: "message", content: "vu, Zoé !" });
        assert.equal((await frame((f) => f.content === "vu, Zoé !")).from, "alice");
        await seen(alice, (users) => users.includes("Zoé"));
        // A state set on node 2 is heard on node 1.
        ws.send(JSON.stringify({ type: "status", state: "away" }));
        await alice.until((l) => l.type === "status" && l.user === "Zoé" && l.state === "away");
        // The page's resume token works on the other node too (one secret for the cluster).
        await using onA = await a.connect();
        await ask(onA, { type: "hello", version: 2 });
        const resumed = await ask(onA, { type: "resume", token: login.resume_token });
        assert.deepEqual([resumed.status, resumed.username], ["ok", "Zoé"]);
      } finally {
        ws.close();
        await new Promise((resolve) => ws.onclose = resolve);
      }
    } finally {
      for (const n of [a, b]) await n[Symbol.asyncDispose]();
    }
  },
);

Deno.test(
  "a private message to a user offline everywhere waits for their login on any node, once",
  needs("nats-server"),
  async () => {
    await using nats = await startNatsCluster();
    const [a, b] = await nodes(nats, 2);
    try {
      {
        await using carol = await a.connect();
        await carol.loginAs("carol");
      }
      await using bob = await b.connect();
      await bob.loginAs("bob");
      await ask(bob, { type: "hello", version: 2 });
      // Node 2 no longer sees carol online (her node says so within 200 ms).
      await seen(bob, (users) => !users.includes("carol"));
      const ack = await ask(bob, {
        type: "message",
        subtype: "private",
        to: "carol",
        content: "à lire plus tard",
        id: 1,
      });
      assert.equal(ack.type, "ack");
      // She logs in on node 1: the message written through node 2 is there.
      {
        await using carol = await a.connect();
        await carol.login("carol");
        const waiting = await carol.until((l) => l.type === "message");
        assert.deepEqual([waiting.from, waiting.content, waiting.seq], [
          "bob",
          "à lire plus tard",
          ack.seq,
        ]);
      }
      // Then on node 2: delivered already, not again.
      {
        await using carol = await b.connect();
        await carol.login("carol");
        await carol.send({ type: "ping" });
        const next = await carol.until((l) => l.type !== "status");
        assert.equal(next.type, "pong", `nothing waiting any more, got ${JSON.stringify(next)}`);
      }
    } finally {
      for (const n of [a, b]) await n[Symbol.asyncDispose]();
    }
  },
);

Deno.test(
  "two nodes registering one name at once: exactly one wins",
  needs("nats-server"),
  async () => {
    await using nats = await startNatsCluster();
    const [a, b] = await nodes(nats, 2);
    try {
      for (let round = 0; round < 5; round++) {
        await using x = await a.connect();
        await using y = await b.connect();
        const name = `même${round}`;
        const replies = await Promise.all(
          [x, y].map((c) => c.request({ type: "register", username: name, password: "pw" })),
        );
        const ok = replies.filter((r) => r.status === "ok").length;
        const taken = replies.filter((r) => r.message === "Username already exists.").length;
        assert.deepEqual([ok, taken], [1, 1], JSON.stringify(replies));
      }
    } finally {
      for (const n of [a, b]) await n[Symbol.asyncDispose]();
    }
  },
);

Deno.test(
  "failed logins count on every node; a mute, a kick and a ban from one node reach the others",
  needs("nats-server"),
  async () => {
    await using nats = await startNatsCluster();
    const [a, b] = await nodes(nats, 2);
    try {
      {
        await using c = await a.connect();
        await c.loginAs("victim");
        await c.loginAs("prof");
      }
      // prof becomes an administrator through node 1's admin socket (as `user promote` does).
      const promoted = await askServer(`${a.db}.sock`, { op: "promote", name: "prof" });
      assert.equal(promoted.ok, true, JSON.stringify(promoted));

      // Wrong passwords on node 1 until it slows the account down...
      const free = DEFAULT_LIMITS.loginFreeFailures;
      await using guess = await a.connect();
      let tries = 0;
      for (;;) {
        const r = await guess.request({ type: "login", username: "victim", password: `x${tries}` });
        if (r.code === "rate_limited") break;
        assert.ok(++tries <= free + 1, "node 1 throttles");
      }
      // ...and node 2 slows it down too, sooner than it would on its own (free + 1 tries).
      await using other = await b.connect();
      let more = 0;
      for (;;) {
        const r = await other.request({ type: "login", username: "victim", password: `y${more}` });
        if (r.code === "rate_limited") break;
        more++;
      }
      assert.ok(more < free, `node 2 needed ${more} more failures, alone it needs ${free + 1}`);

      // An administrator on node 2 mutes then kicks a student on node 1.
      await using student = await a.connect();
      await student.loginAs("élève");
      await using prof = await b.connect();
      await prof.login("prof");
      await seen(prof, (users) => users.includes("élève"));
      assert.equal((await ask(prof, { type: "mute", user: "élève", duration: 60 })).status, "ok");
      // The mute reaches node 1 within a watch's delay (shared without waiting for the bucket):
      // until then a message is accepted, and acknowledged (prof hears it: skipped below).
      const deadline = Date.now() + 5_000;
      let refused: Record<string, unknown>;
      for (let i = 0;; i++) {
        refused = await ask(student, { type: "message", content: "chut ?", id: `m${i}` });
        if (refused.type !== "ack" || Date.now() > deadline) break;
      }
      assert.equal(refused.code, "forbidden", JSON.stringify(refused));
      await prof.send({ type: "kick", user: "élève" });
      const kicked = await prof.until((l) => l.type !== "status" && l.type !== "message");
      assert.equal(kicked.status, "ok", JSON.stringify(kicked));
      const last = await student.until((l) => l.type === "error");
      assert.equal(last.code, "forbidden");
      await assert.rejects(student.json(), /closed/i);
      // A ban given on node 2 refuses the login on node 1.
      assert.equal((await ask(prof, { type: "ban", user: "élève", duration: 60 })).status, "ok");
      await using again = await a.connect();
      const banned = await again.request({ type: "login", username: "élève", password: "secret" });
      assert.equal(banned.code, "forbidden", JSON.stringify(banned));

      // A second node under a name that is running is refused.
      await assert.rejects(
        startTestServer({ nats: nats.urls, nodeName: "node1" }),
        /Another node named "node1" is running/,
      );
    } finally {
      for (const n of [a, b]) await n[Symbol.asyncDispose]();
    }
  },
);

/** The seqs of a channel's whole history as one node serves it, oldest first. */
async function wholeHistory(client: TestClient, channel = "#général"): Promise<number[]> {
  const seqs: number[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await ask(client, { type: "history", channel, limit: 200, before });
    const messages = page.messages as { seq: number }[];
    seqs.unshift(...messages.map((m) => m.seq));
    if (!page.more || messages.length === 0) return seqs;
    before = messages[0].seq;
  }
}

Deno.test(
  "with one NATS server killed the cluster keeps serving; a node on an empty store rebuilds its history",
  needs("nats-server"),
  async () => {
    await using nats = await startNatsCluster();
    const dir = await Deno.makeTempDir({ prefix: "classcord_cluster_" });
    const start = (i: number) =>
      startTestServer({
        nats: nats.urls,
        nodeName: `node${i}`,
        db: `${dir}/node${i}.kv`,
        limits: FLOOD_LIMITS,
      });
    let [a, b] = [await start(1), await start(2)];
    try {
      await using alice = await a.connect();
      await alice.loginAs("alice");
      await ask(alice, { type: "hello", version: 2 });
      // Someone on each node hears every message: each node's reading of the stream goes on.
      await using onA = await a.connect();
      await onA.loginAs("lecteur A");
      const onB = await b.connect();
      await onB.loginAs("lecteur B");
      const heard = (c: TestClient, content: string) =>
        c.until((l) => l.type === "message" && l.content === content, 30_000);
      const acked: number[] = [];
      const send = async (content: string) => {
        const ack = await ask(alice, { type: "message", content, id: content });
        assert.equal(ack.type, "ack", JSON.stringify(ack));
        acked.push(ack.seq as number);
      };
      for (let i = 0; i < 20; i++) await send(`avant ${i}`);

      // A NATS server dies: its leaders are elected again elsewhere; publishes wait, then go on.
      await nats.kill(0);
      for (let i = 0; i < 20; i++) await send(`pendant ${i}`);
      await heard(onA, "pendant 19");
      await heard(onB, "pendant 19");
      onB.close();
      await nats.restart(0);

      // Node 2 restarts on an empty store: it reads the stream again before it serves.
      await b[Symbol.asyncDispose]();
      await Deno.remove(`${dir}/node2.kv`);
      b = await start(2);
      await using bob = await b.connect();
      await bob.loginAs("bob");
      await ask(bob, { type: "hello", version: 2 });
      const fromA = await wholeHistory(alice);
      assert.deepEqual(fromA, acked, "every acknowledged message, once, in order");
      assert.deepEqual(await wholeHistory(bob), fromA, "the rebuilt node serves the same history");
    } finally {
      await a[Symbol.asyncDispose]();
      await b[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
