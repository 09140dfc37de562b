// docs/protocol.md §4 over real sockets: hello, acks, channels, history, offline delivery,
// presence.
import assert from "node:assert/strict";
import { loginAll, startTestServer, type TestClient } from "./helpers/test_server.ts";

async function hello(c: TestClient): Promise<Record<string, unknown>> {
  return await c.request({ type: "hello", version: 2 });
}

Deno.test("hello answers with the server, protocol, features and limits", async () => {
  await using srv = await startTestServer();
  await using c = await srv.connect();
  const reply = await c.request({ type: "hello", version: 2, id: "h" });
  assert.equal(reply.type, "hello");
  assert.equal(reply.server, "classcord");
  assert.equal(reply.protocol, 2);
  assert.match(String(reply.version), /^\d+\.\d+\.\d+$/);
  assert.ok((reply.features as string[]).includes("history"));
  assert.equal((reply.limits as Record<string, number>).max_line_bytes, 65536);
  assert.equal(reply.id, "h");
});

Deno.test("a message with an id is acknowledged with its seq once stored; legacy ones are not", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"]);
  await alice.send({ type: "message", content: "no id" });
  await alice.send({ type: "message", content: "with id", id: 7 });
  const ack = await alice.json();
  assert.equal(ack.type, "ack");
  assert.equal(ack.id, 7);
  const first = await bob.json();
  const second = await bob.json();
  assert.equal(second.content, "with id");
  assert.equal(second.id, undefined, "the sender's id is not forwarded");
  assert.equal(ack.seq, second.seq);
  assert.equal(ack.timestamp, second.timestamp);
  assert.equal(first.seq, (second.seq as number) - 1);
  await alice.expectNothingPending(); // no ack for the message without id
});

Deno.test("channel messages reach the channel's members only; posting joins", async () => {
  await using srv = await startTestServer();
  const [alice, bob, carol] = [await srv.connect(), await srv.connect(), await srv.connect()];
  try {
    for (const c of [alice, bob, carol]) await hello(c);
    await loginAll([alice, "alice"], [bob, "bob"], [carol, "carol"]);
    assert.deepEqual(await bob.request({ type: "join", channel: "#sisr", id: 1 }), {
      type: "join",
      status: "ok",
      channel: "#sisr",
      id: 1,
    });
    await alice.send({ type: "message", channel: "sisr", content: "hello sisr" });
    const got = await bob.json();
    assert.equal(got.content, "hello sisr");
    assert.equal(got.channel, "sisr", "forwarded lines keep channel as sent");
    await carol.expectNothingPending();
    // alice joined by posting: she now receives the channel's messages.
    await bob.send({ type: "message", channel: "#SISR", content: "reply" });
    assert.equal((await alice.json()).content, "reply");
    await carol.expectNothingPending();
    // Legacy messages and the legacy spelling of the default channel reach everybody.
    await carol.send({ type: "message", content: "to all", channel: "général" });
    assert.equal((await alice.json()).content, "to all");
    assert.equal((await bob.json()).content, "to all");
    const channels = await carol.request({ type: "channels" });
    assert.deepEqual(channels, {
      type: "channels",
      channels: [{ name: "#général", members: 3 }, { name: "#sisr", members: 2 }],
    });
    assert.equal((await bob.request({ type: "leave", channel: "#général" })).code, "forbidden");
    assert.equal((await bob.request({ type: "leave", channel: "#sisr" })).status, "ok");
    await alice.send({ type: "message", channel: "#sisr", content: "gone?" });
    await bob.expectNothingPending();
    assert.equal((await alice.request({ type: "join", channel: "two words" })).code, "bad_request");
  } finally {
    for (const c of [alice, bob, carol]) c.close();
  }
});

Deno.test("a legacy session's channel field is kept but routes to everybody", async () => {
  await using srv = await startTestServer();
  const [alice, bob, carol] = [await srv.connect(), await srv.connect(), await srv.connect()];
  try {
    await hello(bob);
    await loginAll([alice, "alice"], [bob, "bob"], [carol, "carol"]);
    await bob.request({ type: "join", channel: "#sisr" });
    // A Java client that always adds its own channel name, even one with a space.
    await alice.send({ type: "message", channel: "Salon principal", content: "hi all" });
    for (const peer of [bob, carol]) {
      const got = await peer.json();
      assert.equal(got.content, "hi all");
      assert.equal(got.channel, "Salon principal");
    }
    const history = await bob.request({ type: "history", channel: "#général" });
    assert.deepEqual((history.messages as { content: string }[]).map((m) => m.content), ["hi all"]);
  } finally {
    for (const c of [alice, bob, carol]) c.close();
  }
});

Deno.test("history pages a channel backwards, oldest first, in the forwarded shape with seq", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await hello(alice);
  await alice.loginAs("alice");
  for (let i = 1; i <= 5; i++) await alice.send({ type: "message", content: `m${i}`, extra: i });
  await alice.send({ type: "message", channel: "#sisr", content: "elsewhere" });
  const page = await alice.request({ type: "history", channel: "#général", limit: 3 });
  const messages = page.messages as Record<string, unknown>[];
  assert.deepEqual(messages.map((m) => m.content), ["m3", "m4", "m5"]);
  assert.equal(page.more, true);
  assert.equal(messages[0].from, "alice");
  assert.equal(messages[0].extra, 3);
  assert.equal(typeof messages[0].seq, "number");
  const older = await alice.request({ type: "history", limit: 3, before: messages[0].seq });
  assert.deepEqual((older.messages as { content: string }[]).map((m) => m.content), ["m1", "m2"]);
  assert.equal(older.more, false);
  const sisr = await alice.request({ type: "history", channel: "sisr" });
  assert.deepEqual((sisr.messages as { content: string }[]).map((m) => m.content), ["elsewhere"]);
});

Deno.test("history with someone is the caller's private conversation only", async () => {
  await using srv = await startTestServer();
  const [alice, bob, carol] = [await srv.connect(), await srv.connect(), await srv.connect()];
  try {
    await alice.loginAs("alice");
    await bob.loginAs("bob");
    await carol.loginAs("carol");
    await alice.send({ type: "message", subtype: "private", to: "bob", content: "a→b" });
    await bob.send({ type: "message", subtype: "private", to: "alice", content: "b→a" });
    await carol.send({ type: "message", subtype: "private", to: "bob", content: "c→b" });
    await bob.send({ type: "message", subtype: "private", to: "carol", content: "b→c", id: 1 });
    while ((await bob.json()).type !== "ack");
    const ab = await alice.call({ type: "history", with: "BOB" });
    assert.deepEqual((ab.messages as { content: string }[]).map((m) => m.content), ["a→b", "b→a"]);
    const ac = await alice.call({ type: "history", with: "carol" });
    assert.deepEqual(ac.messages, []);
  } finally {
    for (const c of [alice, bob, carol]) c.close();
  }
});

Deno.test("history needs a name, and bad paging is a clear bad_request", async () => {
  await using srv = await startTestServer();
  await using c = await srv.connect();
  assert.equal((await c.request({ type: "history" })).code, "not_logged_in");
  await c.loginAs("alice");
  assert.equal(
    (await c.request({ type: "history", limit: 1000 })).message,
    'Field "limit" must be at most 200',
  );
  assert.equal(
    (await c.request({ type: "history", channel: "#a", with: "b" })).message,
    'Field "with" cannot be given with "channel"',
  );
});

Deno.test("offline private messages come right after the next login reply, oldest first, once", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using carol = await srv.connect();
  await loginAll([alice, "alice"], [carol, "carol"]);
  await alice.request({ type: "register", username: "bob", password: "pw" });
  const stamps: string[] = [];
  for (const content of ["first", "second"]) {
    await alice.send({ type: "message", subtype: "private", to: "bob", content, id: content });
    const ack = await alice.json();
    assert.equal(ack.type, "ack", "stored for bob, acknowledged");
    stamps.push(String(ack.timestamp));
  }
  // carol chats while bob logs in: nothing may come between the reply and the inbox.
  const chatter = Array.from(
    { length: 20 },
    (_, i) => carol.send({ type: "message", content: `c${i}` }),
  );
  const bob = await srv.connect();
  try {
    await bob.send({ type: "login", username: "bob", password: "pw" });
    await Promise.all(chatter);
    assert.equal((await bob.json()).type, "login");
    const first = await bob.json();
    const second = await bob.json();
    assert.deepEqual([first.content, second.content], ["first", "second"]);
    assert.deepEqual([first.timestamp, second.timestamp], stamps, "original timestamps");
    assert.equal(first.from, "alice");
    assert.equal(first.subtype, "private");
    bob.close();
    await using again = await srv.connect();
    await again.send({ type: "login", username: "bob", password: "pw" });
    assert.equal((await again.json()).type, "login");
    await again.expectNothingPending();
  } finally {
    bob.close();
  }
});

Deno.test("a private message to nobody registered: unknown_user for hello'd senders, silence for legacy", async () => {
  await using srv = await startTestServer();
  await using legacy = await srv.connect();
  await using modern = await srv.connect();
  await legacy.loginAs("legacy");
  await hello(modern);
  await modern.loginAs("modern");
  await legacy.json(); // modern online
  await legacy.send({ type: "message", subtype: "private", to: "ghost", content: "x" });
  await legacy.expectNothingPending();
  const reply = await modern.request({
    type: "message",
    subtype: "private",
    to: "ghost",
    content: "x",
  });
  assert.equal(reply.code, "unknown_user");
});

Deno.test("users adds details for hello'd sessions only", async () => {
  await using srv = await startTestServer();
  await using legacy = await srv.connect();
  await using modern = await srv.connect();
  await legacy.loginAs("legacy");
  await hello(modern);
  await modern.send({ type: "message", content: "hi", from: "Zoé" });
  await legacy.json(); // Zoé online
  await legacy.json(); // her message
  await legacy.send({ type: "status", state: "away" });
  await modern.json(); // legacy is away
  const plain = await legacy.request({ type: "users" });
  assert.deepEqual(plain, { type: "users", users: ["legacy", "Zoé"] });
  const rich = await modern.request({ type: "users" });
  assert.deepEqual(rich.users, ["legacy", "Zoé"]);
  const details = rich.details as Record<string, unknown>[];
  assert.deepEqual(details.map((d) => [d.user, d.state, d.guest]), [
    ["legacy", "away", false],
    ["Zoé", "online", true],
  ]);
  assert.match(String(details[0].since), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$/);
});
