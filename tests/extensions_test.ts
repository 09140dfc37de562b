// What a hello'd session gets beyond the legacy protocol (docs/protocol.md, section 11): a direct
// reply to every request with an id, its own mute told as it starts, changes and ends, its
// private conversations with unread counts, and registered names for completion; and what the
// teacher console needs: the running mutes, unmute, no moderation of oneself, a ban's end.
import assert from "node:assert/strict";
import { startTestServer, storeWithAdmin, TestClient } from "./helpers/test_server.ts";

/** A session that said hello, then registered and logged in (or logged in, `existing`). */
async function helloed(c: TestClient, name: string, existing = false): Promise<void> {
  assert.equal((await c.request({ type: "hello", version: 2 })).type, "hello");
  if (!existing) await c.request({ type: "register", username: name, password: "secret" });
  const login = await c.request({ type: "login", username: name, password: "secret" });
  assert.equal(login.status, "ok", JSON.stringify(login));
}

/** Lines until one of `type` (an event among others), with a deadline per line. */
async function next(c: TestClient, type: string): Promise<Record<string, unknown>> {
  for (;;) {
    const line = await c.json();
    if (line.type === type) return line;
  }
}

Deno.test("every request with an id from a hello'd session gets exactly one direct reply with it", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await helloed(alice, "alice");
  await bob.loginAs("bob"); // legacy: never says hello
  assert.equal((await alice.json()).type, "status"); // bob online
  const requests = [
    { type: "status", state: "away" },
    { type: "join", channel: "#sisr" },
    { type: "message", channel: "#sisr", content: "x" },
    { type: "leave", channel: "#sisr" },
    { type: "channels" },
    { type: "users" },
    { type: "who" },
    { type: "history", channel: "#général" },
    { type: "ping" },
    { type: "conversations" },
    { type: "directory", prefix: "b" },
    { type: "message", subtype: "private", to: "bob", content: "psst" },
    { type: "read", with: "bob", seq: 1 },
  ];
  for (const [i, req] of requests.entries()) {
    const id = `r${i}`;
    await alice.send({ ...req, id });
    const reply = await alice.json();
    assert.equal(reply.id, id, `${req.type}: ${JSON.stringify(reply)}`);
    assert.notEqual(reply.type, "error", `${req.type}: ${JSON.stringify(reply)}`);
  }
  await alice.expectNothingPending(); // one reply each, nothing more
  assert.deepEqual(await alice.request({ type: "status", state: "dnd", id: 9 }), {
    type: "status",
    status: "ok",
    state: "dnd",
    id: 9,
  });
  // A legacy session's status stays unanswered, as every legacy client expects.
  await bob.json(); // alice away
  await bob.json(); // the private message
  await bob.json(); // alice dnd
  await bob.send({ type: "status", state: "away", id: 1 });
  await bob.expectNothingPending();
});

Deno.test("a hello'd session is told of its mute as it starts, changes and ends; a legacy one is not", async () => {
  await using store = await storeWithAdmin("prof", "secret");
  await using srv = await startTestServer({ db: store.db });
  await using prof = await srv.connect();
  await prof.login("prof", "secret");
  await using page = await srv.connect();
  await using java = await srv.connect();
  await helloed(page, "léa");
  await java.login("léa", "secret");
  const mute = await prof.call({ type: "mute", user: "Léa", duration: 900 });
  const event = await next(page, "muted");
  assert.equal(event.until, mute.until);
  assert.ok(Number(event.remaining_ms) > 899_000 && Number(event.remaining_ms) <= 900_000);
  await prof.call({ type: "mute", user: "léa", duration: 60 });
  assert.ok(Number((await next(page, "muted")).remaining_ms) <= 60_000, "changed");
  // Logging in again while muted: told right after the login reply.
  await using again = await srv.connect();
  await again.send({ type: "hello" });
  await again.json();
  await again.send({ type: "login", username: "léa", password: "secret" });
  assert.equal((await again.json()).type, "login");
  assert.equal((await again.json()).type, "muted");
  assert.deepEqual(await prof.call({ type: "unmute", user: "LÉA" }), {
    type: "unmute",
    status: "ok",
    user: "LÉA",
  });
  assert.deepEqual(await next(page, "muted"), { type: "muted", until: null });
  assert.deepEqual(await next(again, "muted"), { type: "muted", until: null });
  assert.equal((await prof.call({ type: "unmute", user: "léa" })).code, "unknown_user");
  // A mute that runs out by itself is told too.
  await prof.call({ type: "mute", user: "léa", duration: 1 });
  assert.notEqual((await next(page, "muted")).until, null);
  assert.deepEqual(await next(page, "muted"), { type: "muted", until: null });
  await java.expectNothingPending(); // the legacy session of the same account saw none of it
});

Deno.test("the console lists running mutes and bans by the names as shown, and a ban's end is machine-readable", async () => {
  await using store = await storeWithAdmin("prof", "secret");
  await using srv = await startTestServer({ db: store.db });
  await using prof = await srv.connect();
  await prof.login("prof", "secret");
  await using bob = await srv.connect();
  await bob.loginAs("Bob");
  await prof.json(); // Bob online
  await prof.call({ type: "mute", user: "zoé", duration: 600 }); // not even connected
  await prof.call({ type: "mute", user: "bob", duration: 60 });
  const mutes = await prof.call({ type: "mutes" });
  assert.deepEqual((mutes.mutes as { user: string }[]).map((m) => m.user), ["Bob", "zoé"]);
  const ban = await prof.call({ type: "ban", user: "bob", duration: 3600 });
  const kicked = (await bob.closed()).map((l) => JSON.parse(l)).at(-1)!;
  assert.equal(kicked.code, "forbidden");
  assert.equal(kicked.until, ban.until);
  assert.deepEqual(await prof.call({ type: "bans" }), {
    type: "bans",
    bans: [{ user: "Bob", until: ban.until }],
  });
  await using again = await srv.connect();
  const refused = await again.request({ type: "login", username: "bob", password: "secret" });
  assert.equal(refused.code, "forbidden");
  assert.equal(refused.until, ban.until);
});

Deno.test("a teacher cannot kick, mute or ban themselves", async () => {
  await using store = await storeWithAdmin("Prof", "secret");
  await using srv = await startTestServer({ db: store.db });
  await using prof = await srv.connect();
  await prof.login("prof", "secret");
  for (
    const req of [
      { type: "kick", user: "PROF" },
      { type: "mute", user: "prof", duration: 60 },
      { type: "ban", user: "Prof", duration: 60 },
    ]
  ) {
    const reply = await prof.request(req);
    assert.equal(reply.code, "forbidden", JSON.stringify(reply));
    assert.match(String(reply.message), /yourself/);
  }
  assert.deepEqual(await prof.request({ type: "bans" }), { type: "bans", bans: [] });
  assert.deepEqual(await prof.request({ type: "mutes" }), { type: "mutes", mutes: [] });
  await using again = await srv.connect();
  assert.equal(
    (await again.request({ type: "login", username: "prof", password: "secret" })).status,
    "ok",
  );
});

Deno.test("private conversations come back after a reload, with unread counts kept by the server", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await helloed(alice, "alice");
  await using bob = await srv.connect();
  await bob.loginAs("Bob");
  await using carol = await srv.connect();
  await carol.loginAs("carol");
  for (const [from, content] of [[bob, "un"], [bob, "deux"], [carol, "salut"]] as const) {
    await from.send({ type: "message", subtype: "private", to: "alice", content, id: 1 });
    assert.equal((await next(from, "ack")).type, "ack");
  }
  bob.close(); // the sender has left: the page must still find the conversation
  // F5: a new connection of the same account.
  await using page = await srv.connect();
  await helloed(page, "alice", true);
  const list = await page.call({ type: "conversations", id: "c" });
  const rows = list.conversations as {
    with: string;
    unread: number;
    last: { content: string; seq: number };
  }[];
  assert.deepEqual(rows.map((r) => [r.with, r.unread, r.last.content]), [
    ["carol", 1, "salut"],
    ["Bob", 2, "deux"],
  ]);
  await page.call({ type: "read", with: "bob", seq: rows[1].last.seq });
  const after = await page.call({ type: "conversations" });
  assert.deepEqual(
    (after.conversations as { with: string; unread: number }[]).map((r) => [r.with, r.unread]),
    [["carol", 1], ["Bob", 0]],
  );
  // A guest has no private conversations to list.
  await using guest = await srv.connect();
  await guest.send({ type: "message", content: "coucou" });
  assert.equal((await guest.call({ type: "conversations" })).code, "forbidden");
});

Deno.test("directory completes registered names, online or not, in any case", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await helloed(alice, "alice");
  for (const name of ["Albert", "alan", "Élodie"]) {
    await using c = await srv.connect();
    await c.request({ type: "register", username: name, password: "pw" });
  }
  assert.deepEqual(await alice.request({ type: "directory", prefix: "AL" }), {
    type: "directory",
    prefix: "AL",
    users: ["alan", "Albert", "alice"],
  });
  assert.deepEqual(
    (await alice.request({ type: "directory", prefix: "é", limit: 5 })).users,
    ["Élodie"],
  );
  assert.deepEqual((await alice.request({ type: "directory", prefix: "" })).users, []);
});
