// docs/protocol.md §3.13 and §12 over real sockets: anonymous silence, reply order, guests, several
// sessions.
import assert from "node:assert/strict";
import { startTestServer } from "./helpers/test_server.ts";

Deno.test("register and login replies are the very next lines while others chat", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await alice.loginAs("alice");
  const chatter = Array.from(
    { length: 50 },
    (_, i) => alice.send({ type: "message", content: `m${i}` }),
  );
  await bob.send({ type: "register", username: "bob", password: "pw" });
  await bob.send({ type: "login", username: "bob", password: "pw" });
  await Promise.all(chatter);
  assert.deepEqual(await bob.json(), { type: "register", status: "ok" });
  assert.deepEqual(await bob.json(), { type: "login", status: "ok", username: "bob" });
});

Deno.test("an anonymous connection receives nothing but its own replies", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using anon = await srv.connect();
  await alice.loginAs("alice");
  await alice.send({ type: "message", content: "hello" });
  await alice.send({ type: "status", state: "away" });
  await using carol = await srv.connect();
  await carol.loginAs("carol");
  carol.close();
  await alice.json(); // carol online
  await alice.json(); // carol offline: everything above has been routed
  await anon.expectNothingPending();
});

Deno.test("register does not log in", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await alice.loginAs("alice");
  await bob.request({ type: "register", username: "bob", password: "pw" });
  assert.equal((await bob.request({ type: "status", state: "away" })).code, "not_logged_in");
  await alice.send({ type: "message", content: "x" });
  await bob.expectNothingPending();
  assert.deepEqual(await alice.request({ type: "users" }), { type: "users", users: ["alice"] });
});

Deno.test("a guest chats under its from name, announced online then offline", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  const guest = await srv.connect();
  await alice.loginAs("alice");
  await guest.send({ type: "message", content: "salut", from: "Zoé" });
  assert.deepEqual(await alice.json(), { type: "status", user: "Zoé", state: "online" });
  const msg = await alice.json();
  assert.equal(msg.from, "Zoé");
  assert.equal(msg.content, "salut");
  await alice.send({ type: "message", content: "bienvenue" });
  assert.equal((await guest.json()).content, "bienvenue", "a guest receives broadcasts");
  guest.close();
  assert.deepEqual(await alice.json(), { type: "status", user: "Zoé", state: "offline" });
});

Deno.test("guests who keep a client's default pseudo chat as Pseudo, Pseudo2, Pseudo3", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await alice.loginAs("alice");
  const guests = [await srv.connect(), await srv.connect(), await srv.connect()];
  try {
    for (const [i, guest] of guests.entries()) {
      await guest.send({ type: "message", content: `bonjour ${i}`, from: "Pseudo" });
      const name = i === 0 ? "Pseudo" : `Pseudo${i + 1}`;
      assert.deepEqual(await alice.json(), { type: "status", user: name, state: "online" });
      assert.partialDeepStrictEqual(await alice.json(), { from: name, content: `bonjour ${i}` });
      // Later messages keep the name the guest got, whatever their from says.
      await guest.send({ type: "message", content: "encore", from: "Pseudo" });
      assert.partialDeepStrictEqual(await alice.json(), { from: name, content: "encore" });
      await guest.expectNothingPending();
    }
  } finally {
    for (const guest of guests) guest.close();
  }
});

Deno.test("a guest asking for a registered name gets a suffix, never the account's name", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await alice.request({ type: "register", username: "alice", password: "pw" });
  await using guest = await srv.connect();
  await guest.send({ type: "message", content: "x", from: "Alice", id: 1 });
  assert.equal((await guest.json()).type, "ack");
  assert.deepEqual(await guest.request({ type: "users" }), { type: "users", users: ["Alice2"] });
});

Deno.test("a user with two sessions gets private messages on both and goes offline once", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  const bob1 = await srv.connect();
  await using bob2 = await srv.connect();
  await alice.loginAs("alice");
  await bob1.loginAs("bob");
  await bob2.login("bob");
  assert.deepEqual(await alice.json(), { type: "status", user: "bob", state: "online" });
  await alice.send({ type: "message", subtype: "private", to: "bob", content: "both" });
  assert.equal((await bob1.json()).content, "both");
  assert.equal((await bob2.json()).content, "both");
  bob1.close();
  await alice.expectNothingPending(); // bob is still online through bob2
  assert.deepEqual(await alice.request({ type: "users" }), {
    type: "users",
    users: ["alice", "bob"],
  });
  bob2.close();
  assert.deepEqual(await alice.json(), { type: "status", user: "bob", state: "offline" });
});

Deno.test("every direct reply echoes the request id, string or number", async () => {
  await using srv = await startTestServer();
  await using c = await srv.connect();
  const replies = [
    await c.request({ type: "register", username: "alice", password: "pw", id: "r1" }),
    await c.request({ type: "login", username: "alice", password: "pw", id: 2 }),
    await c.request({ type: "users", id: 3.5 }),
    await c.request({ type: "login", username: "alice", password: "no", id: "r4" }),
    await c.request({ type: "status", id: "r5" }),
  ];
  assert.deepEqual(replies.map((r) => r.id), ["r1", 2, 3.5, "r4", "r5"]);
});

Deno.test("an invalid name is refused with invalid_name", async () => {
  await using srv = await startTestServer();
  await using c = await srv.connect();
  for (const username of ["", " bob", "x".repeat(65), "bo\u200bb"]) {
    const reply = await c.request({ type: "register", username, password: "pw" });
    assert.equal(reply.code, "invalid_name", JSON.stringify(username));
  }
});

Deno.test("a login typed as a chat line is refused with how to log in, and reaches nobody", async () => {
  await using srv = await startTestServer({ lang: "fr" });
  await using alice = await srv.connect();
  await alice.loginAs("alice");
  await using console = await srv.connect();
  for (const content of ["/login Léa616 secret123", "/REGISTER Léa616 secret123"]) {
    const reply = await console.request({ type: "message", content, from: "Léa616" });
    assert.equal(reply.code, "not_logged_in");
    assert.match(String(reply.message), /"type":"login"/);
    assert.match(String(reply.message), /^Message non envoyé/);
  }
  // Still anonymous: no guest came online, and nothing reached the class or the history.
  await alice.expectNothingPending();
  const history = await alice.request({ type: "history", channel: "#général" });
  assert.deepEqual(history.messages, []);
  // A guest typing it later is refused the same way.
  await console.send({ type: "message", content: "bonjour", from: "Léa" });
  assert.equal((await alice.json()).type, "status");
  assert.equal((await alice.json()).content, "bonjour");
  const later = await console.request({ type: "message", content: "/login Léa616 secret123" });
  assert.equal(later.code, "not_logged_in");
  await alice.expectNothingPending();
  // A user may still write about it.
  await alice.send({ type: "message", content: "/login sert à se connecter" });
  assert.equal((await console.json()).content, "/login sert à se connecter");
});
