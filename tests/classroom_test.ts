// What a real classroom runs into, over real sockets: clients that connect before the student
// types, guest modes that register a long name at every start, a class behind one address,
// dialects of real clients, and error texts in French.
import assert from "node:assert/strict";
import { FakeClock } from "./helpers/fake_clock.ts";
import { loginAll, parseMetrics, startTestServer, TestClient } from "./helpers/test_server.ts";

/** What a guest mode builds: a first name and a 13-digit time. */
const guestName = (first: string, i: number) => `Invité_${first}_${1732890000000 + i}`;

/** Connects `n` clients at once; each is either admitted or refused with one line. */
async function connectMany(port: number, n: number) {
  const clients = await Promise.all(Array.from({ length: n }, () => TestClient.connect(port)));
  const admitted: TestClient[] = [];
  const refused: Record<string, unknown>[] = [];
  await Promise.all(clients.map(async (c) => {
    const reply = await c.request({ type: "users" }).catch(() => undefined);
    if (reply?.type === "users") admitted.push(c);
    else {
      refused.push(reply ?? { closed: true });
      c.close();
    }
  }));
  return { admitted, refused, [Symbol.dispose]: () => clients.forEach((c) => c.close()) };
}

Deno.test("a client may wait at its login window; a register starts the time to log in again", async () => {
  // The time to identify runs on the gate's clock, moved by hand: exact, however loaded the
  // machine.
  let mono = 0;
  await using srv = await startTestServer({
    monotonic: () => mono,
    limits: { identifyTimeoutMs: 1000 },
  });
  // Connected first: once the student has an answer, the server has accepted both (it accepts in
  // order) and started their time to identify at 0.
  const idle = await srv.connect();
  await using student = await srv.connect();
  try {
    assert.deepEqual(await student.request({ type: "users" }), { type: "users", users: [] });
    mono += 600; // the student types a name and a password
    assert.equal(
      (await student.request({ type: "register", username: "léa", password: "pw" })).status,
      "ok",
    );
    mono += 600; // reads the screen: 1.2 s after connecting
    // The deadline check that closes the idle window would close the student's too, had the
    // register not started its time again.
    const last = (await idle.closed()).map((l) => JSON.parse(l));
    assert.deepEqual(last.map((l) => [l.code, l.message]), [
      ["timeout", "Log in within the time allowed after connecting"],
    ]);
    assert.equal(
      (await student.request({ type: "login", username: "léa", password: "pw" })).status,
      "ok",
    );
    await student.expectNothingPending();
  } finally {
    idle.close();
  }
});

Deno.test("anonymous connections of one address: the oldest idle one makes room for a new one", async () => {
  let mono = 0;
  await using srv = await startTestServer({
    trusted: "none",
    monotonic: () => mono,
    limits: { maxAnonymousPerAddress: 3 },
  });
  const [a, b, c] = [await srv.connect(), await srv.connect(), await srv.connect()];
  try {
    // Just connected: about to log in, not closed for a newcomer, which is refused instead.
    await using early = await srv.connect();
    assert.deepEqual((await early.closed()).map((l) => JSON.parse(l).code), ["server_busy"]);
    mono += 6000;
    await using d = await srv.connect();
    const evicted = (await a.closed()).map((l) => JSON.parse(l));
    assert.deepEqual(evicted.map((l) => [l.code, l.message]), [
      [
        "anonymous_cap",
        "Too many connections waiting to log in from your address " +
        "(--max-anonymous-per-address 3): closing this one, idle the longest",
      ],
    ]);
    // A logged-in connection is no longer anonymous: room for one more without closing any.
    await b.loginAs("bob");
    await using e = await srv.connect();
    for (const still of [c, d, e]) await still.expectNothingPending();
  } finally {
    for (const client of [a, b, c]) client.close();
  }
});

Deno.test("35 students behind one address, each with a leaked login window: nobody's window is closed", async () => {
  let mono = 0;
  await using srv = await startTestServer({ trusted: "none", monotonic: () => mono });
  // One after the other: the server takes them in this order.
  const open = async (n: number) => {
    const clients = [];
    for (let i = 0; i < n; i++) clients.push(await srv.connect());
    return clients;
  };
  // One Java client leaks a socket per guest use: a silent connection per student, then each
  // student's login window, which registers (a valid request) and waits for the student.
  const windows = await open(35);
  const late: TestClient[] = [];
  const leaked: TestClient[] = [];
  try {
    await Promise.all(windows.map(async (w, i) => {
      const reg = await w.request({ type: "register", username: `étudiant${i}`, password: "pw" });
      assert.equal(reg.status, "ok", JSON.stringify(reg));
    }));
    // The sockets leaked come after the windows: younger, but they never sent a byte.
    mono += 1;
    leaked.push(...await open(35));
    // 20 more windows open a while later: past the cap of 80, room is made among the silent.
    mono += 6000;
    late.push(...await open(20));
    const closed = await Promise.all(leaked.slice(0, 10).map((c) => c.closed()));
    for (const lines of closed) {
      assert.deepEqual(lines.map((l) => JSON.parse(l).code), ["anonymous_cap"]);
      assert.match(JSON.parse(lines[0]).message, /--max-anonymous-per-address 80/);
    }
    await Promise.all(windows.map(async (w, i) => {
      const login = await w.request({ type: "login", username: `étudiant${i}`, password: "pw" });
      assert.equal(login.status, "ok", JSON.stringify(login));
    }));
    const metrics = parseMetrics(await srv.server.metrics.text());
    assert.equal(metrics.get('classcord_connections_closed_total{reason="anonymous_cap"}'), 10);
    assert.equal(metrics.get('classcord_limit_hits_total{limit="anonymous_connections"}'), 10);
  } finally {
    for (const c of [...leaked, ...windows, ...late]) c.close();
  }
});

Deno.test("with default flags, a conformance run from loopback: 100 connections, 80 registrations", async () => {
  await using srv = await startTestServer();
  using run = await connectMany(srv.port, 100);
  assert.deepEqual(run.refused, []);
  const replies = await Promise.all(
    run.admitted.slice(0, 80).map((c, i) =>
      c.request({ type: "register", username: `conformance${i}`, password: "pw" })
    ),
  );
  assert.deepEqual(replies.filter((r) => r.status !== "ok"), []);
  const logins = await Promise.all(
    run.admitted.slice(0, 80).map((c, i) =>
      c.request({ type: "login", username: `conformance${i}`, password: "pw" })
    ),
  );
  assert.deepEqual(logins.filter((r) => r.status !== "ok"), []);
});

Deno.test("a class of 35 behind one untrusted address, whose guest mode registers at each start, is served", async () => {
  await using srv = await startTestServer({ trusted: "none" });
  await using teacher = await srv.connect();
  await teacher.loginAs("prof");
  for (const start of [0, 1]) { // the whole class starts its clients, then restarts them once
    const clients = await Promise.all(Array.from({ length: 35 }, () => srv.connect()));
    try {
      await Promise.all(clients.map(async (c, i) => {
        const name = guestName(`Élève${i}`, start * 100 + i);
        const reg = await c.request({ type: "register", username: name, password: "invite" });
        assert.equal(reg.status, "ok", JSON.stringify(reg));
        const login = await c.request({ type: "login", username: name, password: "invite" });
        assert.equal(login.status, "ok", JSON.stringify(login));
      }));
      const online = new Set<string>();
      while (online.size < 35) {
        const line = await teacher.json();
        assert.equal(line.state, "online", JSON.stringify(line));
        online.add(String(line.user));
      }
      await clients[0].send({ type: "message", content: `Bonjour ${start}` });
      assert.equal((await teacher.json()).content, `Bonjour ${start}`);
    } finally {
      for (const c of clients) c.close();
    }
    for (let i = 0; i < 35; i++) assert.equal((await teacher.json()).state, "offline");
  }
});

Deno.test("--trusted-addresses none: a flood of connections from loopback meets the per-address caps", async () => {
  {
    // 80 anonymous connections per address; newcomers are refused while those are young.
    await using srv = await startTestServer({ trusted: "none" });
    using flood = await connectMany(srv.port, 100);
    assert.equal(flood.admitted.length, 80);
    assert.equal(flood.refused.length, 20);
    assert.ok(
      flood.refused.every((r) => r.code === "server_busy" || r.closed),
      JSON.stringify(flood.refused),
    );
  }
  {
    // 120 new connections per 10 s, whether or not they log in.
    await using srv = await startTestServer({ trusted: "none" });
    const clients: TestClient[] = [];
    try {
      for (let i = 0; i < 120; i++) {
        const c = await srv.connect();
        clients.push(c);
        await c.loginAs(`flood${i}`);
      }
      await using refused = await srv.connect();
      assert.deepEqual((await refused.closed()).map((l) => JSON.parse(l).code), ["server_busy"]);
    } finally {
      for (const c of clients) c.close();
    }
  }
});

Deno.test("--trusted-addresses none: registrations and failed logins per address are capped", async () => {
  const clock = new FakeClock();
  await using srv = await startTestServer({
    trusted: "none",
    clock,
    limits: { registrationsPerAddress: 5, loginFailuresPerAddress: 4, loginFreeFailures: 100 },
  });
  await using c = await srv.connect();
  for (let i = 0; i < 5; i++) {
    assert.equal(
      (await c.request({ type: "register", username: `r${i}`, password: "pw" })).status,
      "ok",
    );
  }
  assert.equal(
    (await c.request({ type: "register", username: "r5", password: "pw" })).code,
    "rate_limited",
  );
  for (let i = 0; i < 4; i++) {
    const reply = await c.request({ type: "login", username: `r${i}`, password: "wrong" });
    assert.equal(reply.code, "auth_failed");
  }
  assert.equal(
    (await c.request({ type: "login", username: "r4", password: "pw" })).code,
    "rate_limited",
  );
});

Deno.test("a trusted address (loopback by default) has no per-address caps", async () => {
  await using srv = await startTestServer({
    limits: { registrationsPerAddress: 2, maxConnectionsPerAddress: 2, maxAnonymousPerAddress: 2 },
  });
  using run = await connectMany(srv.port, 6);
  assert.equal(run.admitted.length, 6);
  for (const [i, c] of run.admitted.entries()) {
    assert.equal(
      (await c.request({ type: "register", username: `t${i}`, password: "pw" })).status,
      "ok",
    );
  }
});

Deno.test("waiting private messages reach a legacy client one at a time, a quarter second apart", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await alice.loginAs("alice");
  await alice.request({ type: "register", username: "bob", password: "pw" });
  for (const content of ["un", "deux"]) {
    await alice.send({ type: "message", subtype: "private", to: "bob", content, id: content });
    assert.equal((await alice.json()).type, "ack");
  }
  await using bob = await srv.connect();
  await bob.send({ type: "login", username: "bob", password: "pw" });
  assert.equal((await bob.json()).type, "login");
  // Its chat window asks for the users at once: that reply comes alone, then each message.
  assert.equal((await bob.request({ type: "users" })).type, "users");
  const times = [performance.now()];
  for (const content of ["un", "deux"]) {
    assert.equal((await bob.json()).content, content);
    times.push(performance.now());
  }
  // The server writes them 250 ms apart; loopback may shave a few milliseconds off the reads.
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i] - times[i - 1] >= 200, `${times[i] - times[i - 1]} ms apart`);
  }
  assert.deepEqual(await alice.json(), { type: "status", user: "bob", state: "online" });
  bob.close();
  assert.deepEqual(await alice.json(), { type: "status", user: "bob", state: "offline" });
  await alice.send({ type: "message", subtype: "private", to: "bob", content: "trois", id: 3 });
  await alice.json();
  await using again = await srv.connect();
  await again.send({ type: "login", username: "bob", password: "pw" });
  assert.equal((await again.json()).type, "login");
  // No request follows: it comes anyway, a moment later.
  assert.equal((await again.json(3000)).content, "trois");
});

Deno.test("a Python client's dialect: private and who", async () => {
  await using srv = await startTestServer();
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"]);
  await alice.send({ type: "private", to: "bob", content: "psst" });
  const pm = await bob.json();
  assert.deepEqual(
    [pm.type, pm.subtype, pm.from, pm.to, pm.content],
    ["message", "private", "alice", "bob", "psst"],
  );
  assert.deepEqual(await bob.request({ type: "who", channel: "#général" }), {
    type: "who",
    channel: "#général",
    users: ["alice", "bob"],
  });
  await bob.request({ type: "hello", version: 2 });
  await bob.request({ type: "join", channel: "#sisr" });
  assert.deepEqual(await alice.request({ type: "who", channel: "sisr" }), {
    type: "who",
    channel: "sisr",
    users: ["bob"],
  });
  assert.deepEqual((await alice.request({ type: "who" })).users, ["alice", "bob"]);
  assert.equal((await alice.request({ type: "whois", user: "bob" })).code, "unknown_type");
  assert.equal((await alice.request({ type: "private", content: "x" })).code, "bad_request");
});

Deno.test("--lang fr: every error text in French, the two legacy strings and the codes unchanged", async () => {
  await using srv = await startTestServer({
    lang: "fr",
    trusted: "none",
    limits: { maxConnectionsPerAddress: 3 },
  });
  await using c = await srv.connect();
  await c.request({ type: "register", username: "zoé", password: "pw" });
  const replies = [
    await c.request({ type: "register", username: "zoé", password: "pw" }),
    await c.request({ type: "login", username: "zoé", password: "non" }),
    await c.request({ type: "register", username: "x".repeat(65), password: "pw" }),
    await c.request({ type: "status", state: "away" }),
    await c.request({ type: "fly" }),
    await c.request({ type: "message" }),
  ].map((r) => [r.code, r.message, r.error]);
  assert.deepEqual(replies, [
    ["user_exists", "Username already exists.", "Username already exists."],
    ["auth_failed", "Login failed.", "Login failed."],
    [
      "invalid_name",
      "Le nom doit faire au plus 64 caractères",
      "Le nom doit faire au plus 64 caractères",
    ],
    [
      "not_logged_in",
      "Connectez-vous d'abord (ou envoyez un message en tant qu'invité)",
      "Connectez-vous d'abord (ou envoyez un message en tant qu'invité)",
    ],
    ["unknown_type", 'Type "fly" inconnu', 'Type "fly" inconnu'],
    ["bad_request", 'Le champ "content" est manquant', 'Le champ "content" est manquant'],
  ]);
  await using d = await srv.connect();
  await using e = await srv.connect();
  await using refused = await srv.connect();
  assert.deepEqual((await refused.closed()).map((l) => JSON.parse(l).message), [
    "Trop de connexions, réessayez plus tard",
  ]);
  await d.expectNothingPending();
  await e.expectNothingPending();
});
