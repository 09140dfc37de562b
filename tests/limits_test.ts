// Every limit of docs/protocol.md §5 over real sockets, over each transport alike (TCP, TLS and
// WebSocket, docs/protocol.md §7 and §11): its exact answer, and that the connection stays or
// closes as the protocol says. Small limits and fake clocks keep each case quick and exact.
import assert from "node:assert/strict";
import type { Limits } from "../src/config.ts";
import { FakeClock } from "./helpers/fake_clock.ts";
import { FLOOD_LIMITS, loginAll, type TestServer } from "./helpers/test_server.ts";
import { startOn, transportCases } from "./helpers/transports.ts";
import type { WsStream } from "./helpers/ws_stream.ts";

const SKIPS = [
  {
    test: "a stream without line end past the limit gets a final too_large and a close",
    transport: "ws",
    reason: "a WebSocket frame is a whole request, there is no line end to wait for",
  },
] as const;

const cases = transportCases([...SKIPS]);

cases.test("over the message rate: rate_limited with retry_after_ms; users polls always pass", async (transport) => {
  const clock = new FakeClock();
  await using srv = await startOn(transport, { clock, limits: { rateBurst: 3, ratePerSecond: 1 } });
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

cases.test("too many rate-limited requests in 10 s close the connection with a last error", async (transport) => {
  const clock = new FakeClock();
  await using srv = await startOn(transport, {
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

cases.test("too many bad lines in 10 s close the connection; fewer keep it", async (transport) => {
  await using srv = await startOn(transport, { limits: { maxBadLines: 3 } });
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

cases.test("oversized lines: too_large each, and the third in a minute closes", async (transport) => {
  await using srv = await startOn(transport, { limits: { maxLineBytes: 100 } });
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

cases.test("a stream without line end past the limit gets a final too_large and a close", async (transport) => {
  await using srv = await startOn(transport, {
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

cases.test("failed logins: free ones, then a delay during which even the right password waits", async (transport) => {
  const clock = new FakeClock();
  await using srv = await startOn(transport, { clock, limits: { loginFreeFailures: 2 } });
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

cases.test("registrations per address are capped with rate_limited", async (transport) => {
  await using srv = await startOn(transport, {
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

cases.test("a connection that does not identify in time gets timeout and is closed", async (transport) => {
  // The time to identify runs on the gate's clock, moved by hand: the user's own login never
  // races the 200 ms, however loaded the machine.
  let mono = 0;
  await using srv = await startOn(transport, {
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

cases.test("a hello'd session without ping is closed; a legacy one is not; ping answers pong", async (transport) => {
  await using srv = await startOn(transport, { limits: { idleTimeoutMs: 300 } });
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

cases.test("connection caps: per address, in total and per 10 s, answered server_busy then closed", async (transport) => {
  for (
    const limits of [
      { maxConnectionsPerAddress: 2 },
      { maxConnections: 2 },
      { newConnectionsPerAddress: 2 },
    ]
  ) {
    await using srv = await startOn(transport, { limits, trusted: "none" });
    await using a = await srv.connect();
    await using b = await srv.connect();
    await a.expectNothingPending();
    await b.expectNothingPending();
    const refused = await srv.connect();
    try {
      const lines = (await refused.closed()).map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.code), ["server_busy"], JSON.stringify(limits));
      // A WebSocket is refused once open (docs/protocol.md §11): "try again later".
      if (transport === "ws") assert.equal((refused.stream as WsStream).closeCode, 1013);
    } finally {
      refused.close();
    }
    await a.expectNothingPending();
  }
});

cases.test("--guests off: a message without logging in is refused with not_logged_in", async (transport) => {
  await using srv = await startOn(transport, { guests: false });
  await using c = await srv.connect();
  const reply = await c.request({ type: "message", content: "hi", from: "visitor" });
  assert.equal(reply.code, "not_logged_in");
  assert.deepEqual(await c.request({ type: "users" }), { type: "users", users: [] });
});

// docs/protocol.md §5.11: a client that never reads is cut off alone; everybody else keeps
// chatting.

const BIG = "x".repeat(60 * 1024);

/** Alice floods, bob reads everything, carol never reads; returns how many messages bob got. */
async function floodUntilCarolLeaves(srv: TestServer): Promise<number> {
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await using carol = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"], [carol, "carol"]);
  // Bounded in time and count; either bound is far beyond what cutting carol off takes.
  const deadline = Date.now() + 15_000;
  for (let sent = 1; sent <= 100_000 && Date.now() < deadline; sent++) {
    await alice.send({ type: "message", content: BIG });
    for (;;) {
      const line = await bob.json();
      if (line.type === "status") {
        assert.deepEqual(line, { type: "status", user: "carol", state: "offline" });
        return sent;
      }
      assert.equal(line.content, BIG, "bob gets every message, whole and in order");
      break;
    }
  }
  throw new Error("carol was never cut off");
}

const flooding = (limits: Partial<Limits>) => ({ limits: { ...FLOOD_LIMITS, ...limits } });

cases.test("a client that never reads is closed when its queue passes the cap", async (transport) => {
  await using srv = await startOn(
    transport,
    flooding({ maxQueueBytes: 1024 * 1024, writeDeadlineMs: 60_000 }),
  );
  const sent = await floodUntilCarolLeaves(srv);
  assert.ok(sent > 16, `carol was cut after ${sent} messages, not before her queue filled`);
});

cases.test("a client whose writes stall past the deadline is closed", async (transport) => {
  // A queue cap too large to be reached: only the write deadline can end carol.
  await using srv = await startOn(
    transport,
    flooding({ maxQueueBytes: 1024 * 1024 * 1024, writeDeadlineMs: 300 }),
  );
  await floodUntilCarolLeaves(srv);
});
