// The teacher's tools on a cluster node's store (README, Cluster mode): the accounts, bans and
// mutes live in NATS, so `user` goes through a running node, and on a stopped node's store the
// commands that would read or write accounts refuse in one line saying where they are; a backup
// of it says it holds the history only.
import assert from "node:assert/strict";
import { startNatsCluster } from "../testing/nats_cluster.ts";
import { KvStore } from "../src/store/kv_store.ts";
import { type CommandResult, runClasscord } from "./helpers/process.ts";
import { kvEntries, writeOldMessages } from "./helpers/store_files.ts";
import { startTestServer } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

const TIMEOUT_MS = 60_000;
const classcord = (args: string[], stdin?: string) =>
  runClasscord(args, { stdin, timeoutMs: TIMEOUT_MS });

/** The refusal on a node's store: exit 1, one line saying where the accounts are, then `then`. */
function assertNodeRefusal(result: CommandResult, command: string, db: string, then: string) {
  assert.equal(result.code, 1, result.err);
  const lines = result.err.trimEnd().split("\n");
  assert.equal(lines.length, 1, result.err);
  assert.equal(
    lines[0],
    `${command}: Store "${db}" is a cluster node's copy (node "node-1"): accounts, bans and ` +
      `mutes live in NATS (bucket cc_users); ${then}`,
  );
}

const USER_THEN = "run user commands while the node runs: they go through it";

/** What every tool does on the stopped node's store at `db`; nothing in it changes. */
async function assertStoppedNodeRefused(dir: string, db: string): Promise<void> {
  const before = await kvEntries(db);
  assertNodeRefusal(await classcord(["user", "list", "--db", db]), "user", db, USER_THEN);
  assertNodeRefusal(await classcord(["user", "bans", "--db", db]), "user", db, USER_THEN);
  assertNodeRefusal(
    await classcord(["user", "passwd", "alice", "--db", db], "new-pw\n"),
    "user",
    db,
    USER_THEN,
  );
  assertNodeRefusal(
    await classcord(["user", "add", "zoe", "--db", db], "pw\n"),
    "user",
    db,
    USER_THEN,
  );
  assertNodeRefusal(await classcord(["user", "unban", "bob", "--db", db]), "user", db, USER_THEN);
  // The old server's messages file, one row: refused before anything is written.
  const old = `${dir}/old.db`;
  writeOldMessages(old);
  assertNodeRefusal(
    await classcord(["import", "--messages", old, "--db", db]),
    "import",
    db,
    "import into a single server's store",
  );
  // A backup is made, with one warning: the history only.
  const out = `${dir}/node.ndjson`;
  const backup = await classcord(["backup", "--db", db, "--out", out]);
  assert.equal(backup.code, 0, backup.err);
  const warnings = backup.err.trimEnd().split("\n");
  assert.deepEqual(warnings, [
    `backup: warning: Store "${db}" is a cluster node's copy (node "node-1"): the backup holds ` +
    "its history only; accounts, bans and mutes live in NATS (bucket cc_users), backed up with " +
    "NATS's own tools (README, Cluster mode)",
  ]);
  assertNodeRefusal(
    await classcord(["restore", "--in", out, "--db", db, "--force"]),
    "restore",
    db,
    "a node rebuilds its history from the NATS stream: start it on an empty --db",
  );
  assert.equal(await kvEntries(db), before, "nothing was written");
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_node_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test(
  "user lists accounts and bans and lifts a ban through a running cluster node; its store alone is refused",
  needs("nats-server"),
  async () => {
    await withTempDir(async (dir) => {
      const db = `${dir}/node/classcord.kv`;
      await using nats = await startNatsCluster();
      {
        await using node = await startTestServer({ db, nats: nats.urls, nodeName: "node-1" });
        // Accounts made through the node live in NATS; an administrator bans bob.
        const added = await classcord(["user", "add", "--admin", "prof", "--db", db], "pw\n");
        assert.equal(added.code, 0, added.err);
        await using alice = await node.connect();
        await alice.loginAs("alice");
        assert.equal((await alice.request({ type: "message", content: "hi", id: 1 })).type, "ack");
        await using prof = await node.connect();
        await prof.login("prof", "pw");
        for (const user of ["bob", "zed"]) {
          assert.equal((await prof.call({ type: "ban", user, duration: 600 })).status, "ok");
        }
        const listed = await classcord(["user", "list", "--db", db]);
        assert.equal(listed.code, 0, listed.err);
        assert.deepEqual(
          listed.out.trimEnd().split("\n").map((l) => [l.split("\t")[0], l.split("\t")[2]]),
          [["alice", undefined], ["prof", "admin"]],
        );
        const banned = await classcord(["user", "bans", "--db", db]);
        assert.equal(banned.code, 0, banned.err);
        assert.deepEqual(banned.out.trimEnd().split("\n").map((l) => l.split("\t")[0]), [
          "bob",
          "zed",
        ]);
        const lifted = await classcord(["user", "unban", "zed", "--db", db]);
        assert.equal(lifted.out, 'Lifted the ban on "zed"\n', lifted.err);
        await using zed = await node.connect();
        await zed.loginAs("zed");
      }
      // The node stopped: its store is its copy of the history, and says so.
      await assertStoppedNodeRefused(dir, db);
    });
  },
);

Deno.test("a store marked as a cluster node's copy is refused by user, import and restore, and its backup says it holds the history only", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/node/classcord.kv`;
    // A node's store as the node leaves it, marked through the code the node runs at its start.
    const store = await KvStore.open(db);
    await store.markClusterNode("node-1");
    store.close();
    await assertStoppedNodeRefused(dir, db);
  });
});
