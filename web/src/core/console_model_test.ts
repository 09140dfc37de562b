import assert from "node:assert/strict";
import { ConsoleModel, SESSIONS_EVERY_MS, STATS_EVERY_MS } from "./console_model.ts";
import { FakeTimers, flush } from "./testing.ts";
import type { Line } from "./wire.ts";

function model() {
  const timers = new FakeTimers();
  const requests: Record<string, unknown>[] = [];
  let messages = 100;
  const listeners = new Set<(line: Line) => void>();
  const m = new ConsoleModel({
    timers,
    request: (body) => {
      requests.push(body);
      switch (body.type) {
        case "stats":
          return Promise.resolve({
            type: "stats",
            connections: { tcp: 2, tls: 0, ws: 3 },
            sessions: { user: 4, guest: 1 },
            messages,
            limit_hits: { message_rate: 3 },
            started_at: "2026-03-02T08:00:00.000",
          });
        case "sessions":
          return Promise.resolve({
            type: "sessions",
            sessions: [{
              user: "bob",
              guest: false,
              state: "online",
              transport: "ws",
              address: "10.0.3.17",
              since: "2026-03-02T14:05:09.123",
            }],
          });
        case "bans":
          return Promise.resolve({
            type: "bans",
            bans: [{ user: "eve", until: "2026-03-03T08:00:00.000" }],
          });
        case "mute":
          return Promise.resolve({ type: "mute", status: "ok", until: "2026-03-02T15:00:00.000" });
        case "export_ticket":
          return Promise.resolve({ type: "export_ticket", url: "/export?ticket=abc" });
        default:
          return Promise.resolve({ type: String(body.type), status: "ok" });
      }
    },
    onLine: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    onChange: () => {},
  });
  return {
    m,
    timers,
    requests,
    listeners,
    setMessages: (n: number) => (messages = n),
  };
}

Deno.test("ConsoleModel polls stats every 5 s and sessions every 10 s while shown", async () => {
  const t = model();
  t.m.start();
  await flush();
  const count = (type: string) => t.requests.filter((r) => r.type === type).length;
  assert.deepEqual([count("stats"), count("sessions"), count("bans")], [1, 1, 1]);
  await t.timers.advance(SESSIONS_EVERY_MS);
  assert.deepEqual([count("stats"), count("sessions")], [1 + 10_000 / STATS_EVERY_MS, 2]);
  assert.equal(t.m.sessions[0].transport, "ws");
  assert.equal(t.m.bans[0].user, "eve");
  t.m.stop();
  await t.timers.advance(60_000);
  assert.equal(count("stats"), 3);
  assert.equal(t.timers.pending, 0);
});

Deno.test("ConsoleModel: messages per second from the delta; a restart is dropped", () => {
  const t = model();
  t.m.addStats({ messages: 100 }, 0);
  assert.equal(t.m.rate, undefined);
  t.m.addStats({ messages: 125 }, 5000);
  assert.equal(t.m.rate, 5);
  t.m.addStats({ messages: 3 }, 10000); // restarted
  assert.equal(t.m.rate, undefined);
  t.m.addStats({ messages: 13 }, 15000);
  assert.equal(t.m.rate, 2);
  assert.deepEqual(t.m.spark, [5, 2]);
  for (let i = 0; i < 100; i++) t.m.addStats({ messages: 13 }, 20000 + i * 5000);
  assert.equal(t.m.spark.length, 60);
  assert.deepEqual(t.m.stats?.connections, {});
});

Deno.test("ConsoleModel refreshes sessions once for a burst of status lines", async () => {
  const t = model();
  t.m.start();
  await flush();
  for (let i = 0; i < 30; i++) {
    for (const fn of t.listeners) fn({ type: "status", user: `u${i}`, state: "online" });
  }
  await t.timers.advance(500);
  assert.equal(t.requests.filter((r) => r.type === "sessions").length, 2);
  t.m.stop();
});

Deno.test("ConsoleModel.mute() sends the duration; 1 s lifts a mute", async () => {
  const t = model();
  await t.m.mute("Bob", 300);
  assert.deepEqual(t.requests.at(-1), { type: "mute", user: "Bob", duration: 300 });
  await t.m.mute("bob", 1);
  assert.deepEqual(t.requests.at(-1), { type: "mute", user: "bob", duration: 1 });
});

Deno.test("ConsoleModel.exportTicket() asks the ticket with only the fields given", async () => {
  const t = model();
  assert.equal(await t.m.exportTicket("csv", " #sisr ", true), "/export?ticket=abc");
  assert.deepEqual(t.requests.at(-1), {
    type: "export_ticket",
    format: "csv",
    channel: "#sisr",
    bom: true,
  });
  await t.m.exportTicket("json", "", true);
  assert.deepEqual(t.requests.at(-1), { type: "export_ticket", format: "json" });
});
