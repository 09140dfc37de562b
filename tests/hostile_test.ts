// A hostile client population against a running server over loopback, bounded in count and time:
// malformed input by the thousand, a 10 MB line, slowloris, floods, impersonation, password
// guessing. A control client is checked between attacks; nothing here may crash the server or
// make it serve the others wrongly.
import assert from "node:assert/strict";
import fc from "fast-check";
import { FakeClock } from "./helpers/fake_clock.ts";
import { parseMetrics, startTestServer, TestClient } from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";

const enc = new TextEncoder();

/** Malformed lines of every kind, reproducible (fixed seed). */
function malformedLines(count: number): Uint8Array[] {
  const kinds = fc.oneof(
    // Random bytes without line ends: binary noise, invalid UTF-8.
    fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) =>
      b.map((x) => (x === 0x0a || x === 0x0d ? 0x20 : x))
    ),
    // Truncated or broken JSON.
    fc.string({ maxLength: 60 }).map((s) => enc.encode(`{"type":"message","content":"${s}`)),
    // Valid JSON that is not a request object.
    fc.jsonValue().filter((v) => typeof v !== "object" || v === null || Array.isArray(v))
      .map((v) => enc.encode(JSON.stringify(v))),
    // Objects with wrong or missing fields.
    fc.record({
      type: fc.oneof(
        fc.constantFrom("login", "register", "status", "history", "join", "kick"),
        fc.anything(),
      ),
      username: fc.anything(),
      password: fc.anything(),
      state: fc.anything(),
      limit: fc.anything(),
      channel: fc.anything(),
    }, { requiredKeys: [] }).map((r) => enc.encode(JSON.stringify(r) ?? "null")),
    // Unknown types, prototype names.
    fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "", "MESSAGE2")
      .map((t) => enc.encode(JSON.stringify({ type: t }))),
    // Deep nesting.
    fc.integer({ min: 1000, max: 20_000 }).map((n) => enc.encode("[".repeat(n))),
  );
  return fc.sample(kinds, { numRuns: count, seed: 42 }).filter((l) =>
    new TextDecoder().decode(l).trim() !== ""
  );
}

Deno.test("thousands of malformed lines: each gets one clear error; the control client is served", async () => {
  await using srv = await startTestServer({
    guests: false, // an anonymous message would otherwise make a guest, not an error
    limits: { maxBadLines: 1_000_000, rateBurst: 1_000_000, ratePerSecond: 1_000_000 },
  });
  await using control = await srv.connect();
  await control.loginAs("control");
  await using attacker = await srv.connect();
  const lines = malformedLines(3000);
  let errors = 0;
  let other = 0;
  const BATCH = 100;
  for (let i = 0; i < lines.length; i += BATCH) {
    const batch = lines.slice(i, i + BATCH);
    const joined = new Uint8Array(batch.reduce((n, l) => n + l.length + 1, 0));
    let off = 0;
    for (const l of batch) {
      joined.set(l, off);
      joined[off + l.length] = 0x0a;
      off += l.length + 1;
    }
    await attacker.write(joined);
    for (let j = 0; j < batch.length; j++) {
      const reply = await attacker.json();
      if (
        reply.type === "error" && typeof reply.code === "string" &&
        typeof reply.message === "string" && reply.message === reply.error
      ) errors++;
      else other++;
    }
    // Between batches, the control client is answered at once and correctly.
    assert.deepEqual(await control.request({ type: "users" }), {
      type: "users",
      users: ["control"],
    });
  }
  console.log(
    `hostile: ${lines.length} malformed lines, ${errors} clear errors, ${other} other replies ` +
      `(${(errors / lines.length * 100).toFixed(1)}% answered with an error)`,
  );
  assert.equal(errors + other, lines.length, "exactly one reply per line");
  assert.ok(errors / lines.length > 0.95, `only ${errors} errors`);
});

Deno.test("a 10 MB line without end: memory stays bounded, the sender is closed, others go on", async () => {
  await using srv = await startTestServer();
  await using control = await srv.connect();
  await control.loginAs("control");
  const attacker = await srv.connect();
  try {
    const before = Deno.memoryUsage().rss;
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    let sent = 0;
    try {
      while (sent < 10 * 1024 * 1024) {
        await attacker.write(chunk);
        sent += chunk.length;
      }
    } catch {
      // The server closed the connection mid-way: expected.
    }
    const last = (await attacker.closed()).map((l) => JSON.parse(l));
    assert.equal(last.at(-1)!.code, "too_large");
    const growth = Deno.memoryUsage().rss - before;
    console.log(
      `hostile: 10 MB line, ${sent} bytes written before close, RSS growth ${growth} bytes`,
    );
    assert.ok(growth < 32 * 1024 * 1024, `RSS grew by ${growth} bytes`);
    assert.deepEqual(await control.request({ type: "users" }), {
      type: "users",
      users: ["control"],
    });
  } finally {
    attacker.close();
  }
});

Deno.test("slowloris connections that never identify are timed out; the server keeps serving", async () => {
  // The time to identify runs on the gate's clock, moved by hand: neither the control's login nor
  // the 20 connects and writes race the 300 ms, however loaded the machine.
  let mono = 0;
  await using srv = await startTestServer({
    monotonic: () => mono,
    limits: { identifyTimeoutMs: 300 },
  });
  const loris = await Promise.all(Array.from({ length: 20 }, () => TestClient.connect(srv.port)));
  try {
    // One byte each, never a line end.
    await Promise.all(loris.map((c) => c.write("{")));
    // Connected after them: once it is logged in, the server has accepted every loris (it
    // accepts in order) and started their time to identify.
    await using control = await srv.connect();
    await control.loginAs("control");
    mono += 300;
    const closes = await Promise.all(loris.map((c) => c.closed()));
    for (const lines of closes) assert.equal(JSON.parse(lines.at(-1)!).code, "timeout");
    assert.deepEqual(await control.request({ type: "users" }), {
      type: "users",
      users: ["control"],
    });
  } finally {
    for (const c of loris) c.close();
  }
});

Deno.test("a 50,000-message flood is cut off by the rate limit; others see a bounded trickle", async () => {
  await using srv = await startTestServer({ metricsPort: freePort() });
  await using watcher = await srv.connect();
  await watcher.loginAs("watcher");
  const flooder = await srv.connect();
  try {
    await flooder.loginAs("flooder");
    await watcher.json(); // flooder online
    const line = enc.encode('{"type":"message","content":"spam"}\n');
    const burst = new Uint8Array(line.length * 50_000);
    for (let i = 0; i < 50_000; i++) burst.set(line, i * line.length);
    await flooder.write(burst).catch(() => {}); // closed mid-way is fine
    await flooder.closed();
    let delivered = 0;
    for (;;) {
      const got = await watcher.json();
      if (got.type === "status") break; // flooder offline: everything before it was routed
      delivered++;
    }
    assert.ok(delivered <= 21, `watcher got ${delivered} spam messages`);
    const m = parseMetrics(
      await (await fetch(`http://127.0.0.1:${srv.server.metricsPort}/metrics`)).text(),
    );
    assert.equal(m.get('classcord_connections_closed_total{reason="flood"}'), 1);
    assert.ok(m.get('classcord_limit_hits_total{limit="message_rate"}')! > 100);
  } finally {
    flooder.close();
  }
});

Deno.test("impersonation: names stay fixed, lookalikes are refused, taken names get a number", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using mallory = await srv.connect();
  await alice.loginAs("alice");
  await mallory.loginAs("mallory");
  await alice.json();
  await mallory.send({ type: "message", content: "I am alice", from: "alice", user: "alice" });
  assert.equal((await alice.json()).from, "mallory");
  await mallory.send({ type: "status", state: "away", user: "alice" });
  assert.deepEqual(await alice.json(), { type: "status", user: "mallory", state: "away" });
  for (const username of ["Alice", "ALICE", "alice"]) {
    assert.equal(
      (await mallory.request({ type: "register", username, password: "x" })).code,
      "user_exists",
    );
  }
  for (const username of ["alice\u200b", "al\u202eice", "alice ", "\u0000alice"]) {
    assert.equal(
      (await mallory.request({ type: "register", username, password: "x" })).code,
      "invalid_name",
    );
  }
  // A guest asking for a taken name never gets it: a number follows (ALICE2).
  await using guest = await srv.connect();
  await guest.send({ type: "message", content: "x", from: "ALICE" });
  assert.deepEqual(await alice.json(), { type: "status", user: "ALICE2", state: "online" });
  assert.partialDeepStrictEqual(await alice.json(), { from: "ALICE2", content: "x" });
  assert.equal(
    (await mallory.call({ type: "login", username: "alice", password: "guess" })).code,
    "auth_failed",
  );
  await alice.expectNothingPending();
});

Deno.test("200 wrong passwords: a handful are checked, the rest refused without a hash", async () => {
  // A clock that does not move: the first delay never ends during the test, whatever its speed.
  await using srv = await startTestServer({ metricsPort: freePort(), clock: new FakeClock() });
  await using victim = await srv.connect();
  await victim.request({ type: "register", username: "victim", password: "correct horse" });
  await using guesser = await srv.connect();
  const codes = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const reply = await guesser.request({
      type: "login",
      username: "victim",
      password: `guess${i}`,
    });
    codes.set(String(reply.code), (codes.get(String(reply.code)) ?? 0) + 1);
  }
  const m = parseMetrics(
    await (await fetch(`http://127.0.0.1:${srv.server.metricsPort}/metrics`)).text(),
  );
  console.log(`hostile: 200 wrong passwords -> ${JSON.stringify(Object.fromEntries(codes))}`);
  assert.equal(codes.get("auth_failed"), 6, "5 free failures, then the one that starts a delay");
  assert.equal(codes.get("rate_limited"), 194);
  assert.equal(m.get('classcord_logins_total{result="failed"}'), 6);
  assert.equal(m.get('classcord_logins_total{result="throttled"}'), 194);
  assert.equal(m.get('classcord_limit_hits_total{limit="login_failures"}'), 194);
  // The right password during the delay is refused too: guessing gains nothing by waiting less.
  assert.equal(
    (await guesser.request({ type: "login", username: "victim", password: "correct horse" })).code,
    "rate_limited",
  );
});
