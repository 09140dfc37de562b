// Every limit of docs/protocol.md §5 over real sockets: its exact answer, and that the connection
// stays or closes as the protocol says. Small limits and a fake clock keep each test quick and
// exact.
import assert from "node:assert/strict";
import { FakeClock } from "./helpers/fake_clock.ts";
import { startTestServer, TestClient } from "./helpers/test_server.ts";

Deno.test("over the message rate: rate_limited with retry_after_ms; users polls always pass", async () => {
  const clock = new FakeClock();
  await using srv = await startTestServer({ clock, limits: { rateBurst: 3, ratePerSecond: 1 } });
  await using c = await srv.connect();
  await c.loginAs("alice");
  for (let i = 0; i < 3; i++) await c.send({ type: "message", content: `m${i}` });
  const refused = await c.request({ type: "message", content: "one too many", id: "m4" });
  assert.equal(refused.code, "rate_limited");
  assert.equal(refused.id, "m4");
  assert.equal(refused.retry_after_ms, 1000);
  assert.deepEqual(await c.request({ type: "users" }), { type: "users", users: ["alice"] });
  clock.advance(1000);
  assert.equal((await c.request({ type: "message", content: "again", id: 5 })).type, "ack");
});

Deno.test("too many rate-limited requests in 10 s close the connection with a last error", async () => {
  const clock = new FakeClock();
  await using srv = await startTestServer({
    clock,
    limits: { rateBurst: 1, ratePerSecond: 1, maxDropped: 5 },
  });
  await using watcher = await srv.connect();
  await watcher.loginAs("watcher");
  const flooder = await srv.connect();
  try {
    await flooder.loginAs("flooder");
    await watcher.json(); // flooder online
    for (let i = 0; i < 10; i++) await flooder.send({ type: "status", state: `s${i}` });
    const lines = (await flooder.closed()).map((l) => JSON.parse(l));
    assert.equal(
      lines.filter((l) => l.code === "rate_limited").length,
      7,
      "5 free, the 6th closes",
    );
    assert.equal(lines.at(-1).message, "Too many requests: closing the connection");
    assert.equal((await watcher.json()).state, "s0");
    assert.deepEqual(await watcher.json(), { type: "status", user: "flooder", state: "offline" });
  } finally {
    flooder.close();
  }
});

Deno.test("too many bad lines in 10 s close the connection; fewer keep it", async () => {
  await using srv = await startTestServer({ limits: { maxBadLines: 3 } });
  const c = await srv.connect();
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await c.request({ type: "nope" })).code, "unknown_type");
    }
    assert.deepEqual(await c.request({ type: "users" }), { type: "users", users: [] });
    await c.write("{not json\n");
    const last = (await c.closed()).map((l) => JSON.parse(l));
    assert.deepEqual(last.map((l) => l.code), ["bad_json", "bad_request"]);
    assert.equal(last[1].message, "Too many bad lines: closing the connection");
  } finally {
    c.close();
  }
});

Deno.test("oversized lines: too_large each, and the third in a minute closes", async () => {
  await using srv = await startTestServer({ limits: { maxLineBytes: 100 } });
  const c = await srv.connect();
  try {
    const big = `{"type":"message","content":"${"x".repeat(200)}"}\n`;
    await c.write(big);
    assert.equal((await c.json()).code, "too_large");
    await c.write(big);
    assert.equal((await c.json()).code, "too_large");
    assert.deepEqual(await c.request({ type: "users" }), { type: "users", users: [] });
    await c.write(big);
    const last = (await c.closed()).map((l) => JSON.parse(l));
    assert.deepEqual(last.map((l) => l.code), ["too_large", "too_large"]);
    assert.match(last[1].message, /closing/);
  } finally {
    c.close();
  }
});

Deno.test("a stream without line end past the limit gets a final too_large and a close", async () => {
  await using srv = await startTestServer({
    limits: { maxLineBytes: 100, maxUnterminatedBytes: 10_000 },
  });
  const c = await srv.connect();
  try {
    const chunk = "y".repeat(1000);
    let closed = false;
    // Bounded: 100 × 1000 bytes is ten times the limit.
    for (let i = 0; i < 100 && !closed; i++) await c.write(chunk).catch(() => closed = true);
    const lines = (await c.closed()).map((l) => JSON.parse(l));
    assert.equal(lines.at(-1).code, "too_large");
    assert.match(lines.at(-1).message, /No line end in 10000 bytes/);
  } finally {
    c.close();
  }
});

Deno.test("failed logins: free ones, then a delay during which even the right password waits", async () => {
  const clock = new FakeClock();
  await using srv = await startTestServer({ clock, limits: { loginFreeFailures: 2 } });
  await using c = await srv.connect();
  await c.request({ type: "register", username: "bob", password: "right" });
  for (let i = 0; i < 3; i++) {
    assert.equal(
      (await c.request({ type: "login", username: "bob", password: "wrong" })).code,
      "auth_failed",
    );
  }
  const delayed = await c.request({ type: "login", username: "bob", password: "right" });
  assert.equal(delayed.code, "rate_limited");
  assert.equal(delayed.retry_after_ms, 1000);
  clock.advance(1000);
  assert.equal(
    (await c.request({ type: "login", username: "bob", password: "right" })).status,
    "ok",
  );
});

Deno.test("registrations per address are capped with rate_limited", async () => {
  await using srv = await startTestServer({
    limits: { registrationsPerAddress: 2 },
    trusted: "none",
  });
  await using c = await srv.connect();
  for (const name of ["a1", "a2"]) {
    assert.equal(
      (await c.request({ type: "register", username: name, password: "pw" })).status,
      "ok",
    );
  }
  const refused = await c.request({ type: "register", username: "a3", password: "pw" });
  assert.equal(refused.code, "rate_limited");
  assert.ok((refused.retry_after_ms as number) > 0);
});

Deno.test("a connection that does not identify in time gets timeout and is closed", async () => {
  // The time to identify runs on the gate's clock, moved by hand: the user's own login never
  // races the 200 ms, however loaded the machine.
  let mono = 0;
  await using srv = await startTestServer({
    monotonic: () => mono,
    limits: { identifyTimeoutMs: 200 },
  });
  // Connected first: once the user is logged in, the server has accepted both (it accepts in
  // order) and started the idle one's time to identify at 0.
  const idle = await srv.connect();
  await using user = await srv.connect();
  try {
    await user.loginAs("alice");
    mono += 200;
    const last = (await idle.closed()).map((l) => JSON.parse(l));
    assert.deepEqual(last.map((l) => l.code), ["timeout"]);
    assert.deepEqual(await user.request({ type: "users" }), { type: "users", users: ["alice"] });
  } finally {
    idle.close();
  }
});

Deno.test("a hello'd session without ping is closed; a legacy one is not; ping answers pong", async () => {
  await using srv = await startTestServer({ limits: { idleTimeoutMs: 300 } });
  await using legacy = await srv.connect();
  await legacy.loginAs("legacy");
  const modern = await srv.connect();
  try {
    assert.equal((await modern.request({ type: "hello", version: 2 })).type, "hello");
    await modern.loginAs("modern");
    assert.deepEqual(await modern.request({ type: "ping", id: 1 }), { type: "pong", id: 1 });
    const last = await modern.closed();
    assert.equal(JSON.parse(last.at(-1)!).code, "timeout");
    // The legacy session, idle as long, is still served.
    assert.deepEqual(await legacy.json(), { type: "status", user: "modern", state: "online" });
    assert.deepEqual(await legacy.json(), { type: "status", user: "modern", state: "offline" });
    assert.deepEqual(await legacy.request({ type: "users" }), { type: "users", users: ["legacy"] });
  } finally {
    modern.close();
  }
});

Deno.test("connection caps: per address, in total and per 10 s, answered server_busy then closed", async () => {
  for (
    const limits of [
      { maxConnectionsPerAddress: 2 },
      { maxConnections: 2 },
      { newConnectionsPerAddress: 2 },
    ]
  ) {
    await using srv = await startTestServer({ limits, trusted: "none" });
    await using a = await srv.connect();
    await using b = await srv.connect();
    await a.expectNothingPending();
    await b.expectNothingPending();
    const refused = await TestClient.connect(srv.port);
    try {
      const lines = (await refused.closed()).map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.code), ["server_busy"], JSON.stringify(limits));
    } finally {
      refused.close();
    }
    await a.expectNothingPending();
  }
});

Deno.test("--guests off: a message without logging in is refused with not_logged_in", async () => {
  await using srv = await startTestServer({ guests: false });
  await using c = await srv.connect();
  const reply = await c.request({ type: "message", content: "hi", from: "visitor" });
  assert.equal(reply.code, "not_logged_in");
  assert.deepEqual(await c.request({ type: "users" }), { type: "users", users: [] });
});
