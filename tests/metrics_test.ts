// The operator's view over real HTTP and TCP: /metrics moves with traffic, health endpoints, the
// GET_METRICS bridge of docs/protocol.md §9.1, and no names, passwords or contents in the metrics.
import assert from "node:assert/strict";
import { parseMetrics, startTestServer, TestClient } from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";

async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  return parseMetrics(await res.text());
}

Deno.test("/metrics counts connections, sessions, logins, messages, errors and bytes", async () => {
  await using srv = await startTestServer({ metricsPort: freePort() });
  const port = srv.server.metricsPort;
  const before = await scrape(port);
  assert.equal(before.get('classcord_connections_open{transport="tcp"}'), 0);
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await using guest = await srv.connect();
  await alice.loginAs("alice");
  await bob.loginAs("bob");
  await alice.json();
  await bob.request({ type: "login", username: "bob", password: "wrong" });
  await bob.request({ type: "register", username: "bob", password: "x" });
  await guest.send({ type: "message", content: "hi", from: "visitor" });
  await alice.json(); // visitor online
  await alice.json(); // visitor's message
  await bob.json();
  await bob.json();
  await bob.send({ type: "hello", version: 2 });
  await bob.json();
  await bob.send({ type: "message", channel: "#sisr", content: "alone here" });
  await alice.request({ type: "message", subtype: "private", to: "bob", content: "psst", id: 1 });
  await bob.json(); // the private message
  await alice.request({ type: "fly" });
  await alice.write(`{"type":"message","content":"${"x".repeat(70_000)}"}\n`);
  assert.equal((await alice.json()).code, "too_large");
  const m = await scrape(port);
  assert.equal(m.get('classcord_connections_open{transport="tcp"}'), 3);
  assert.equal(m.get('classcord_connections_total{transport="tcp"}'), 3);
  assert.equal(m.get('classcord_sessions{kind="user"}'), 2);
  assert.equal(m.get('classcord_sessions{kind="guest"}'), 1);
  assert.equal(m.get('classcord_logins_total{result="ok"}'), 2);
  assert.equal(m.get('classcord_logins_total{result="failed"}'), 1);
  assert.equal(m.get('classcord_registrations_total{result="ok"}'), 2);
  assert.equal(m.get('classcord_registrations_total{result="exists"}'), 1);
  assert.equal(m.get('classcord_messages_total{kind="global"}'), 1);
  assert.equal(m.get('classcord_messages_total{kind="channel"}'), 1);
  assert.equal(m.get('classcord_messages_total{kind="private"}'), 1);
  assert.equal(m.get("classcord_deliveries_total"), 3, "2 for the guest's message, 1 private");
  assert.equal(m.get('classcord_errors_total{code="auth_failed"}'), 1);
  assert.equal(m.get('classcord_errors_total{code="unknown_type"}'), 1);
  assert.equal(m.get('classcord_errors_total{code="too_large"}'), 1);
  assert.equal(m.get('classcord_limit_hits_total{limit="line_size"}'), 1);
  assert.ok(m.get("classcord_received_bytes_total")! > 70_000);
  assert.ok(m.get("classcord_sent_bytes_total")! > 500);
  // Sampled (at most one fan-out timed per 10 ms): at least one of the two is.
  assert.ok(m.get("classcord_message_latency_seconds_count")! >= 1);
  assert.ok(m.get("classcord_kv_commit_seconds_count")! >= 1);
  assert.ok(m.get("classcord_kv_batch_size_sum")! >= 3);
  assert.ok(m.get("process_resident_memory_bytes")! > 0);
  assert.ok(m.has("nodejs_eventloop_lag_p99_seconds"));
  guest.close();
  await alice.json(); // visitor offline: the server saw the close
  const after = await scrape(port);
  assert.equal(after.get('classcord_connections_open{transport="tcp"}'), 2);
  assert.equal(after.get('classcord_connections_closed_total{reason="client_closed"}'), 1);
  assert.equal(after.get('classcord_sessions{kind="guest"}'), 0);
});

Deno.test("/metrics never carries names, passwords or message contents", async () => {
  await using srv = await startTestServer({ metricsPort: freePort() });
  await using alice = await srv.connect();
  await using bob = await srv.connect();
  await alice.loginAs("alicesecretname", "hunter2-password");
  await bob.loginAs("bobsecretname");
  await alice.request({
    type: "message",
    subtype: "private",
    to: "bobsecretname",
    content: "private-content-marker",
    id: 1,
  });
  const text = await (await fetch(`http://127.0.0.1:${srv.server.metricsPort}/metrics`)).text();
  for (const secret of ["alicesecretname", "bobsecretname", "hunter2", "private-content-marker"]) {
    assert.ok(!text.includes(secret), secret);
  }
});

Deno.test("/healthz and /readyz answer 200 while the server runs", async () => {
  await using srv = await startTestServer({ metricsPort: freePort() });
  for (const path of ["/healthz", "/readyz"]) {
    const res = await fetch(`http://127.0.0.1:${srv.server.metricsPort}${path}`);
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
});

for (
  const [name, pieces] of [
    ["with a line end", ["GET_METRICS\n"]],
    ["without a line end", ["GET_METRICS"]],
    ["cut in two writes", ["GET_", "METRICS\r\n"]],
  ] as const
) {
  Deno.test(`GET_METRICS on the chat port gets the Prometheus text and a close, ${name}`, async () => {
    await using srv = await startTestServer();
    const c = await TestClient.connect(srv.port);
    try {
      for (const piece of pieces) await c.write(piece);
      const lines = await c.closed();
      assert.ok(lines.includes("# TYPE classcord_connections_open gauge"));
      assert.ok(lines.some((l) => /^classcord_build_info\{version="[\d.]+"\} 1$/.test(l)));
    } finally {
      c.close();
    }
  });
}

for (
  const [bridge, trusted, answered] of [
    ["trusted", "none", "untrusted"],
    ["off", "127.0.0.0/8,::1", "off"],
    ["any", "none", "yes"],
  ] as const
) {
  Deno.test(`GET_METRICS with --metrics-bridge ${bridge} from an address ${trusted === "none" ? "not " : ""}trusted: ${answered === "yes" ? "the text" : "one error"}`, async () => {
    await using srv = await startTestServer({ metricsBridge: bridge, trusted });
    await using c = await TestClient.connect(srv.port);
    await c.write("GET_METRICS\n");
    const lines = await c.closed();
    if (answered === "yes") {
      assert.ok(lines.includes("# TYPE classcord_connections_open gauge"));
      return;
    }
    assert.equal(lines.length, 1, lines.join("\n"));
    const error = JSON.parse(lines[0]);
    assert.equal(error.code, "forbidden");
    assert.match(error.message, /--metrics-bridge/);
    assert.match(
      error.message,
      answered === "off" ? /switched off/ : /only for trusted addresses/,
    );
  });
}

Deno.test("a chat client whose first bytes only look like GET_METRICS is served normally", async () => {
  await using srv = await startTestServer();
  await using c = await srv.connect();
  await c.write("GET_M");
  await c.write("ONEY\n");
  assert.equal((await c.json()).code, "bad_json");
  assert.deepEqual(await c.request({ type: "users" }), { type: "users", users: [] });
});
