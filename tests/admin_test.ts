// Admin accounts (made with `deno task user add --admin`) moderate through protocol requests:
// kick, mute, ban, announce; everyone else is refused with forbidden.
import assert from "node:assert/strict";
import { FakeClock } from "./helpers/fake_clock.ts";
import { launch, runClasscord } from "./helpers/process.ts";
import { startTestServer, TestClient } from "./helpers/test_server.ts";

/** `deno task user add [--admin] <name>` with the password piped on stdin. */
async function addUser(db: string, name: string, admin: boolean): Promise<void> {
  // --create: the store does not exist before the server's first start.
  const args = ["add", ...(admin ? ["--admin"] : []), "--create", name, "--db", db];
  const { code, out, err } = await runClasscord(["user", ...args], { stdin: "pw\n" });
  assert.equal(code, 0, err);
  assert.match(out, admin ? /Added administrator/ : /Added user/);
}

async function classroom(clock?: FakeClock) {
  const dir = await Deno.makeTempDir({ prefix: "classcord_admin_" });
  const db = `${dir}/classcord.kv`;
  await addUser(db, "prof", true);
  const srv = await startTestServer({ db, clock });
  const prof = await srv.connect();
  const bob = await srv.connect();
  await prof.login("prof", "pw");
  await bob.loginAs("bob");
  await prof.json(); // bob online
  return {
    srv,
    prof,
    bob,
    db,
    async [Symbol.asyncDispose]() {
      prof.close();
      bob.close();
      await srv[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function lastLines(c: TestClient): Promise<Record<string, unknown>[]> {
  return (await c.closed()).map((l) => JSON.parse(l));
}

Deno.test("kick, mute, ban and announce are refused to non-admins with forbidden", async () => {
  await using room = await classroom();
  for (
    const req of [
      { type: "kick", user: "prof" },
      { type: "mute", user: "prof", duration: 60 },
      { type: "ban", user: "prof", duration: 60 },
      { type: "unban", user: "prof" },
      { type: "bans" },
      { type: "announce", content: "hi" },
    ]
  ) {
    assert.equal((await room.bob.request(req)).code, "forbidden", req.type);
  }
});

Deno.test("an admin kicks a user: a last error, the connection closed, offline for the others", async () => {
  await using room = await classroom();
  await room.prof.send({ type: "kick", user: "BOB", id: 1 });
  // bob leaves during the kick: his offline status comes first, then the reply.
  assert.deepEqual(await room.prof.json(), { type: "status", user: "bob", state: "offline" });
  assert.deepEqual(await room.prof.json(), {
    type: "kick",
    status: "ok",
    user: "BOB",
    sessions: 1,
    id: 1,
  });
  const last = await lastLines(room.bob);
  assert.equal(last.at(-1)!.code, "forbidden");
  assert.equal((await room.prof.request({ type: "kick", user: "bob" })).code, "unknown_user");
});

Deno.test("an admin mutes a user for a while: their messages are refused until it ends", async () => {
  const clock = new FakeClock();
  await using room = await classroom(clock);
  const reply = await room.prof.request({ type: "mute", user: "bob", duration: 60 });
  assert.equal(reply.status, "ok");
  const refused = await room.bob.request({ type: "message", content: "let me speak" });
  assert.equal(refused.code, "forbidden");
  assert.equal(refused.retry_after_ms, 60_000);
  assert.equal((await room.bob.request({ type: "status", state: "away" })).code, "forbidden");
  await room.prof.expectNothingPending();
  await using guest = await room.srv.connect();
  await guest.send({ type: "message", content: "x", from: "BOB2" });
  assert.deepEqual(await room.prof.json(), { type: "status", user: "BOB2", state: "online" });
  assert.equal((await room.prof.json()).content, "x", "another name is not muted");
  await room.prof.request({ type: "mute", user: "carol", duration: 60 });
  await using carol = await room.srv.connect();
  const muted = await carol.request({ type: "message", content: "x", from: "carol" });
  assert.equal(muted.code, "forbidden", "a muted name cannot come back as a guest");
  await room.prof.expectNothingPending(); // and was never announced online
  clock.advance(60_000);
  await room.bob.send({ type: "message", content: "thanks" });
  assert.equal((await room.prof.json()).content, "thanks");
});

Deno.test("an admin bans a name: disconnected, then refused at login and as a guest until it ends", async () => {
  const clock = new FakeClock();
  await using room = await classroom(clock);
  const reply = await room.prof.call({ type: "ban", user: "bob", duration: 3600 });
  assert.equal(reply.status, "ok");
  assert.equal(reply.sessions, 1);
  assert.match(String((await lastLines(room.bob)).at(-1)!.message), /^Banned until/);
  await using again = await room.srv.connect();
  const login = await again.request({ type: "login", username: "bob", password: "secret" });
  assert.equal(login.code, "forbidden");
  assert.match(String(login.message), /banned until/);
  const guest = await again.request({ type: "message", content: "x", from: "Bob" });
  assert.ok(guest.code === "forbidden" || guest.code === "name_taken", JSON.stringify(guest));
  clock.advance(3600_000);
  assert.equal(
    (await again.request({ type: "login", username: "bob", password: "secret" })).status,
    "ok",
  );
});

Deno.test("an admin's announcement reaches everyone as a marked global message", async () => {
  await using room = await classroom();
  await using guest = await room.srv.connect();
  await guest.send({ type: "message", content: "hello", from: "visitor" });
  await room.prof.json();
  await room.prof.json();
  await room.bob.json();
  await room.bob.json();
  assert.deepEqual(await room.prof.request({ type: "announce", content: "Exam at 10", id: 9 }), {
    type: "announce",
    status: "ok",
    id: 9,
  });
  for (const c of [room.bob, guest]) {
    const msg = await c.json();
    assert.equal(msg.type, "message");
    assert.equal(msg.announce, true);
    assert.equal(msg.from, "prof");
    assert.equal(msg.content, "Exam at 10");
  }
});

Deno.test("an admin lists the bans and lifts one: the name logs in again", async () => {
  const clock = new FakeClock();
  await using room = await classroom(clock);
  await room.prof.call({ type: "ban", user: "bob", duration: 3600 });
  await room.prof.call({ type: "ban", user: "zed", duration: 60 });
  const until = (s: number) => new Date(clock.now() + s * 1000);
  const bans = await room.prof.call({ type: "bans", id: "b" });
  assert.deepEqual((bans.bans as { user: string }[]).map((b) => b.user), ["bob", "zed"]);
  assert.equal(bans.id, "b");
  assert.equal(
    new Date(String((bans.bans as { until: string }[])[0].until)).getTime(),
    until(3600).getTime(),
  );
  assert.deepEqual(await room.prof.call({ type: "unban", user: "Bob", id: 2 }), {
    type: "unban",
    status: "ok",
    user: "Bob",
    id: 2,
  });
  assert.equal((await room.prof.call({ type: "unban", user: "bob" })).code, "unknown_user");
  await using again = await room.srv.connect();
  await again.login("bob", "secret");
  assert.deepEqual(
    ((await room.prof.call({ type: "bans" })).bans as { user: string }[]).map((b) => b.user),
    ["zed"],
  );
});

Deno.test("moderation is logged at info with who did what to whom, never what was said", async () => {
  const dir = await Deno.makeTempDir({ prefix: "classcord_admin_" });
  try {
    const db = `${dir}/classcord.kv`;
    await addUser(db, "prof", true);
    await addUser(db, "bob", false);
    const server = await launch([
      "--host=127.0.0.1",
      "--port=0",
      "--metrics-port=0",
      `--db=${db}`,
      "--log-format=json",
    ]);
    const prof = await TestClient.connect(server.port);
    const bob = await TestClient.connect(server.port);
    try {
      await prof.login("prof", "pw");
      await bob.login("bob", "pw");
      await prof.json(); // bob online
      for (
        const req of [
          { type: "mute", user: "bob", duration: 60 },
          { type: "announce", content: "secret-exam-subject" },
          { type: "kick", user: "bob" },
          { type: "ban", user: "bob", duration: 60 },
          { type: "unban", user: "bob" },
        ]
      ) {
        assert.equal((await prof.call(req)).status, "ok", JSON.stringify(req));
      }
    } finally {
      prof.close();
      bob.close();
    }
    server.child.kill("SIGTERM");
    const { code, out } = await server.exit();
    assert.equal(code, 0);
    const moderation = out.trim().split("\n").map((l) => JSON.parse(l))
      .filter((r) => r.message.startsWith("Moderation:"));
    assert.deepEqual(moderation.map((r) => [r.level, r.message]), [
      ["INFO", 'Moderation: "prof" from "127.0.0.1" muted "bob"'],
      ["INFO", 'Moderation: "prof" from "127.0.0.1" announced to "everyone"'],
      ["INFO", 'Moderation: "prof" from "127.0.0.1" kicked "bob"'],
      ["INFO", 'Moderation: "prof" from "127.0.0.1" banned "bob"'],
      ["INFO", 'Moderation: "prof" from "127.0.0.1" unbanned "bob"'],
    ]);
    assert.equal(moderation[3].properties.remote, "127.0.0.1");
    assert.ok(!out.includes("secret-exam-subject"), "an announcement's text is not logged");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
