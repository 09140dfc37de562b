// docs/protocol.md §3 request by request, over real TCP connections, as the legacy clients read the
// wire.
import assert from "node:assert/strict";
import { loginAll, startTestServer } from "./helpers/test_server.ts";

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$/;

Deno.test("a new connection gets no banner: its first line answers its first request", async () => {
  await using srv = await startTestServer();
  await using c = await srv.connect();
  assert.deepEqual(await c.request({ type: "users" }), { type: "users", users: [] });
});

Deno.test("register replies ok byte-for-byte, then the legacy text for a taken name", async () => {
  await using srv = await startTestServer();
  await using c = await srv.connect();
  await c.send({ type: "register", username: "alice", password: "pw" });
  assert.equal(await c.line(), '{"type":"register","status":"ok"}');
  await c.send({ type: "register", username: "alice", password: "other" });
  assert.deepEqual(await c.json(), {
    type: "error",
    message: "Username already exists.",
    code: "user_exists",
    error: "Username already exists.",
  });
  await c.send({ type: "register", username: "ALICE", password: "other" });
  assert.equal((await c.json()).code, "user_exists", "names differing by case are one account");
});

Deno.test("login replies ok with the username, and the legacy text when it fails", async () => {
  await using srv = await startTestServer();
  await using c = await srv.connect();
  await c.request({ type: "register", username: "alice", password: "pw" });
  await c.send({ type: "login", username: "alice", password: "wrong" });
  assert.deepEqual(await c.json(), {
    type: "error",
    message: "Login failed.",
    code: "auth_failed",
    error: "Login failed.",
  });
  await c.send({ type: "login", username: "nobody", password: "pw" });
  assert.equal((await c.json()).message, "Login failed.", "an unknown user reads the same");
  await c.send({ type: "login", username: "x".repeat(5000), password: "pw" });
  assert.equal((await c.json()).message, "Login failed.", "so does a name no account can have");
  await c.send({ type: "login", username: "alice", password: "pw" });
  assert.equal(await c.line(), '{"type":"login","status":"ok","username":"alice"}');
});

Deno.test("login announces online to the others, after the login reply", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await alice.loginAs("alice");
  await bob.request({ type: "register", username: "bob", password: "pw" });
  await bob.send({ type: "login", username: "bob", password: "pw" });
  assert.equal((await bob.json()).type, "login", "the reply is bob's next line");
  assert.deepEqual(await alice.json(), { type: "status", user: "bob", state: "online" });
  await bob.expectNothingPending(); // bob is not told about himself
});

Deno.test("a global message reaches every other session with every field kept", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await using carol = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"], [carol, "carol"]);
  await alice.send({
    type: "message",
    subtype: "global",
    content: "bonjour",
    from: "mallory",
    channel: "général",
    timestamp: "2020-01-01 10:00:00",
    extra: { kept: true },
  });
  for (const peer of [bob, carol]) {
    const msg = await peer.json();
    assert.match(String(msg.timestamp), TIMESTAMP);
    assert.equal(typeof msg.seq, "number", "the server adds the message's seq");
    assert.deepEqual({ ...msg, timestamp: "T", seq: 0 }, {
      type: "message",
      subtype: "global",
      content: "bonjour",
      from: "alice",
      channel: "général",
      timestamp: "T",
      seq: 0,
      extra: { kept: true },
    });
  }
  await alice.expectNothingPending(); // no echo
});

Deno.test("a message without subtype, or to global, is global", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"]);
  await alice.send({ type: "message", content: "one" });
  await alice.send({ type: "message", subtype: "private", to: "global", content: "two" });
  assert.equal((await bob.json()).content, "one");
  assert.equal((await bob.json()).content, "two");
});

Deno.test("a private message reaches its recipient only, with to and subtype kept", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await using carol = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"], [carol, "carol"]);
  await alice.send({ type: "message", subtype: "private", to: "bob", content: "psst" });
  const msg = await bob.json();
  assert.equal(msg.from, "alice");
  assert.equal(msg.to, "bob");
  assert.equal(msg.subtype, "private");
  assert.equal(msg.content, "psst");
  assert.match(String(msg.timestamp), TIMESTAMP);
  await carol.expectNothingPending();
  await alice.expectNothingPending();
});

Deno.test("a private message to nobody is dropped for legacy senders, answered with an id", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await alice.loginAs("alice");
  await alice.send({ type: "message", subtype: "private", to: "ghost", content: "hi" });
  await alice.expectNothingPending();
  const reply = await alice.request({
    type: "message",
    subtype: "private",
    to: "ghost",
    content: "hi",
    id: "m1",
  });
  assert.equal(reply.code, "unknown_user");
  assert.equal(reply.id, "m1");
});

Deno.test("users and userlist reply with plain strings", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"]);
  await alice.send({ type: "users" });
  assert.equal(await alice.line(), '{"type":"users","users":["alice","bob"]}');
  assert.deepEqual(await alice.request({ type: "userlist" }), {
    type: "users",
    users: ["alice", "bob"],
  });
});

Deno.test("status is relayed verbatim to the others, with the server's name for the user", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"]);
  for (const state of ["away", "dnd", "do not disturb", "invisible", "offline", "online"]) {
    await bob.send({ type: "status", state, user: "alice" });
    assert.deepEqual(await alice.json(), { type: "status", user: "bob", state });
  }
  await bob.expectNothingPending();
});

Deno.test("closing the socket announces offline to the others", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  const bob = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"]);
  bob.close();
  assert.deepEqual(await alice.json(), { type: "status", user: "bob", state: "offline" });
  assert.deepEqual(await alice.request({ type: "users" }), { type: "users", users: ["alice"] });
});

Deno.test("every line sent is pure ASCII JSON ending in one LF", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await loginAll([alice, "élodie"], [bob, "bob"]);
  await alice.send({ type: "message", content: "café 😀 \u2028 ok" });
  const bytes = await bob.lineBytes();
  assert.ok(bytes.every((b) => b < 0x80), "no byte above 0x7f");
  const text = new TextDecoder().decode(bytes);
  assert.ok(text.includes('"from":"\\u00e9lodie"'));
  assert.ok(text.includes("caf\\u00e9 \\ud83d\\ude00 \\u2028 ok"));
  assert.equal(JSON.parse(text).content, "café 😀 \u2028 ok");
});

Deno.test("a client that half-closes after its requests still reads every reply", async () => {
  await using srv = await startTestServer();
  // `printf '…\n…\n' | nc -q 2 host 12345`: the lines, then the end of the client's stream.
  await using script = await srv.connect();
  await script.write(
    JSON.stringify({ type: "register", username: "léa616", password: "secret123" }) + "\n" +
      JSON.stringify({ type: "login", username: "léa616", password: "secret123" }) + "\n" +
      JSON.stringify({ type: "message", content: "bonjour", id: 7 }) + "\n",
  );
  await script.closeWrite();
  const lines = (await script.closed()).map((l) => JSON.parse(l));
  assert.deepEqual(lines.slice(0, 2), [
    { type: "register", status: "ok" },
    { type: "login", status: "ok", username: "léa616" },
  ]);
  assert.partialDeepStrictEqual(lines[2], { type: "ack", id: 7 });
  assert.equal(lines.length, 3);
});
