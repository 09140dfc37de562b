// Nothing corrupts a live store: the server holds its store's lock for its whole life; a second
// server, import and restore refuse it; reading commands work from a snapshot; account changes
// go through the running server and reach its sessions.
import assert from "node:assert/strict";
import { StoreLock } from "../src/store/lock.ts";
import { type CommandResult, launch, runClasscord } from "./helpers/process.ts";
import { kvEntries, writeOldMessages } from "./helpers/store_files.ts";
import {
  startTestServer,
  storeWithAdmin,
  TestClient,
  type TestServer,
} from "./helpers/test_server.ts";

const TIMEOUT_MS = 60_000;
const classcord = (args: string[], stdin?: string) =>
  runClasscord(args, { stdin, timeoutMs: TIMEOUT_MS });

/** A server on a temp KV file, with alice and bob registered and a message stored. */
async function withLiveServer(fn: (srv: TestServer, db: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "classcord_live_" });
  const db = `${dir}/classcord.kv`;
  try {
    await using srv = await startTestServer({ db });
    await using alice = await srv.connect();
    await alice.loginAs("alice");
    assert.equal((await alice.request({ type: "message", content: "bonjour", id: 1 })).type, "ack");
    await alice.request({ type: "register", username: "bob", password: "secret" });
    await fn(srv, db);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A refusal: exit 1, one line naming what holds the store. */
function assertRefused(result: CommandResult, db: string, holder = "classcord serve"): void {
  assert.equal(result.code, 1, result.err);
  const lines = result.err.trimEnd().split("\n");
  assert.equal(lines.length, 1, result.err);
  assert.match(lines[0], new RegExp(`Store "${db}" is in use by ${holder} \\(pid \\d+, since `));
  assert.match(lines[0], /stop it first$/);
}

Deno.test("a second server, an import and a restore refuse a live store and change nothing", async () => {
  await withLiveServer(async (_srv, db) => {
    const before = await kvEntries(db);
    const second = await launch(["--host=127.0.0.1", "--port=0", "--metrics-port=0", `--db=${db}`])
      .catch((err: Error) => err);
    assert.ok(second instanceof Error, "the second server did not start");
    assert.match(
      second.message,
      new RegExp(`Store "${db}" is in use by classcord serve \\(pid ${Deno.pid}`),
    );
    const dir = db.slice(0, db.lastIndexOf("/"));
    await Deno.writeTextFile(`${dir}/b.ndjson`, "");
    assertRefused(
      await classcord(["restore", "--in", `${dir}/b.ndjson`, "--force", "--db", db]),
      db,
    );
    // import reads its inputs first: a messages file of the old server, with one row.
    const old = `${dir}/old.db`;
    writeOldMessages(old);
    assertRefused(await classcord(["import", "--messages", old, "--db", db]), db);
    assert.equal(await kvEntries(db), before, "nothing was written");
  });
});

Deno.test("export and backup read a consistent snapshot of a live store; user list asks the server", async () => {
  await withLiveServer(async (_srv, db) => {
    const exported = await classcord(["export", "--out", "-", "--db", db]);
    assert.equal(exported.code, 0, exported.err);
    assert.equal(JSON.parse(exported.out)[0].content, "bonjour");
    const listed = await classcord(["user", "list", "--db", db]);
    assert.equal(listed.code, 0, listed.err);
    assert.deepEqual(listed.out.split("\n").filter((l) => l).map((l) => l.split("\t")[0]), [
      "alice",
      "bob",
    ]);
    const backup = await classcord(["backup", "--out", "-", "--db", db]);
    assert.equal(backup.code, 0, backup.err);
    assert.match(backup.out, /"bonjour"/);
  });
});

Deno.test("user changes on a live store go through the server, and its sessions feel them", async () => {
  await withLiveServer(async (srv, db) => {
    await using bob = await srv.connect();
    await bob.login("bob", "secret");
    // A new password: bob's session ends with a last error; the new one works, the old one not.
    const passwd = await classcord(["user", "passwd", "bob", "--db", db], "nouveau\n");
    assert.equal(passwd.code, 0, passwd.err);
    assert.equal(passwd.out, 'Changed the password of "bob", 1 session ended\n');
    const last = (await bob.closed()).map((l) => JSON.parse(l));
    assert.deepEqual(last.map((l) => [l.code, l.message]), [
      ["forbidden", "Your account was changed by an administrator: log in again"],
    ]);
    await using again = await srv.connect();
    assert.equal(
      (await again.request({ type: "login", username: "bob", password: "secret" })).code,
      "auth_failed",
    );
    await again.login("bob", "nouveau");
    // Promoted: an administrator at the next login.
    const promoted = await classcord(["user", "promote", "bob", "--db", db]);
    assert.equal(promoted.out, '"bob" is now an administrator\n', promoted.err);
    await using admin = await srv.connect();
    await admin.login("bob", "nouveau");
    assert.equal((await admin.call({ type: "announce", content: "Contrôle à 10 h" })).status, "ok");
    // Demoted: the administrator's sessions end.
    const demoted = await classcord(["user", "demote", "bob", "--db", db]);
    assert.equal(
      demoted.out,
      '"bob" is no longer an administrator, 2 sessions ended\n',
      demoted.err,
    );
    // A new account, made while the server runs, logs in at once.
    const added = await classcord(["user", "add", "--admin", "prof", "--db", db], "pw\n");
    assert.equal(added.out, 'Added administrator "prof"\n', added.err);
    await using prof = await srv.connect();
    await prof.login("prof", "pw");
    const deleted = await classcord(["user", "del", "prof", "--db", db]);
    assert.equal(deleted.out, 'Deleted user "prof" and their offline messages, 1 session ended\n');
    assert.deepEqual((await prof.closed()).map((l) => JSON.parse(l).code), ["forbidden"]);
    const taken = await classcord(["user", "add", "alice", "--db", db], "pw\n");
    assert.equal(taken.code, 1);
    assert.equal(taken.err, 'user: User "alice" already exists\n');
  });
});

Deno.test("a store another tool is writing refuses the user command too, naming that tool", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_live_" });
  const db = `${dir}/classcord.kv`;
  try {
    { // The store exists, then an import holds it.
      await using _srv = await startTestServer({ db });
    }
    using _lock = await StoreLock.acquire(db, "classcord import");
    const refused = await classcord(["user", "add", "zoe", "--db", db], "pw\n");
    assertRefused(refused, db, "classcord import");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a server killed with SIGKILL leaves no lock behind: the next one starts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_live_" });
  const db = `${dir}/classcord.kv`;
  try {
    const args = ["--host=127.0.0.1", "--port=0", "--metrics-port=0", `--db=${db}`];
    const first = await launch(args);
    first.child.kill("SIGKILL");
    await first.exit();
    const second = await launch(args);
    const c = await TestClient.connect(second.port);
    assert.deepEqual(await c.request({ type: "users" }), { type: "users", users: [] });
    c.close();
    second.child.kill("SIGTERM");
    assert.equal((await second.exit()).code, 0);
    assert.equal(await StoreLock.holder(db), undefined, "the lock is free once it stopped");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `user bans` as lines of [name, end of the ban in ms]. */
async function bans(db: string): Promise<[string, number][]> {
  const listed = await classcord(["user", "bans", "--db", db]);
  assert.equal(listed.code, 0, listed.err);
  return listed.out.split("\n").filter((l) => l).map((l) => {
    const [name, iso] = l.split("\t");
    assert.match(iso, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    return [name, Date.parse(iso)];
  });
}

Deno.test("user bans and unban go through the running server, and write the stopped server's store", async () => {
  await using admin = await storeWithAdmin("prof", "pw");
  const { db } = admin;
  let until: Map<string, number>;
  {
    await using srv = await startTestServer({ db });
    await using prof = await srv.connect();
    await prof.login("prof", "pw");
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    const before = Date.now();
    assert.equal((await prof.call({ type: "ban", user: "Bob", duration: 3600 })).status, "ok");
    assert.equal((await prof.call({ type: "ban", user: "zed", duration: 60 })).status, "ok");
    assert.equal((await prof.call({ type: "ban", user: "amy", duration: 600 })).status, "ok");
    const listed = await bans(db);
    assert.deepEqual(listed.map(([name]) => name), ["amy", "bob", "zed"]);
    until = new Map(listed);
    const bobUntil = until.get("bob")!;
    assert.ok(bobUntil >= before + 3600_000 && bobUntil <= Date.now() + 3600_000, "bob's end");
    // Lifted through the server: the name logs in again at once.
    const lifted = await classcord(["user", "unban", "zed", "--db", db]);
    assert.equal(lifted.code, 0, lifted.err);
    assert.equal(lifted.out, 'Lifted the ban on "zed"\n');
    assert.deepEqual((await bans(db)).map(([name]) => name), ["amy", "bob"]);
    await using zed = await srv.connect();
    await zed.loginAs("zed");
    const again = await classcord(["user", "unban", "zed", "--db", db]);
    assert.equal(again.code, 1);
    assert.equal(again.err, 'user: No running ban on "zed"\n');
  }
  // The server stopped: the store itself is read and written, its lock held.
  assert.deepEqual(await bans(db), [["amy", until.get("amy")], ["bob", until.get("bob")]]);
  const lifted = await classcord(["user", "unban", "BOB", "--db", db]);
  assert.equal(lifted.code, 0, lifted.err);
  assert.equal(lifted.out, 'Lifted the ban on "BOB"\n');
  assert.deepEqual((await bans(db)).map(([name]) => name), ["amy"]);
  const none = await classcord(["user", "unban", "bob", "--db", db]);
  assert.equal(none.code, 1);
  assert.equal(none.err, 'user: No running ban on "bob"\n');
  await using srv = await startTestServer({ db });
  await using bob = await srv.connect();
  assert.equal((await bob.login("bob")).status, "ok", "bob logs in after the unban");
  await using amy = await srv.connect();
  const refused = await amy.request({ type: "message", content: "x", from: "amy" });
  assert.equal(refused.code, "forbidden", "amy is still banned");
});
