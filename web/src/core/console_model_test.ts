import assert from "node:assert/strict";
import {
  COMPLETE_AFTER_MS,
  ConsoleModel,
  isSelf,
  SESSIONS_EVERY_MS,
  sinceText,
  STATS_EVERY_MS,
  whenText,
} from "./console_model.ts";
import { I18n } from "./i18n.ts";
import { FakeTimers, flush } from "../../test/fakes.ts";
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
        case "connections":
          return Promise.resolve({
            type: "connections",
            connections: [{
              conn: 4,
              state: "anonymous",
              transport: "tcp",
              address: "10.0.3.18",
              since: "2026-03-02T14:05:09.123",
              helloed: false,
              health: {
                lines: 2,
                errors: 2,
                bad_json: 1,
                unknown_types: 0,
                limits: 0,
                last_error: {
                  code: "bad_json",
                  text: "Invalid JSON",
                  at: "2026-03-02T14:05:11.020",
                },
              },
            }],
          });
        case "bans":
          return Promise.resolve({
            type: "bans",
            bans: [{ user: "eve", until: "2026-03-03T08:00:00.000" }],
          });
        case "mute":
          return Promise.resolve({ type: "mute", status: "ok", until: "2026-03-02T15:00:00.000" });
        case "mutes":
          return Promise.resolve({
            type: "mutes",
            mutes: [{ user: "Bob", until: "2026-03-02T15:00:00.000" }, { until: "no user" }],
          });
        case "directory":
          return Promise.resolve({
            type: "directory",
            prefix: body.prefix,
            users: [`${body.prefix}an`, `${body.prefix}ice`, 3],
          });
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
  assert.deepEqual([count("stats"), count("sessions"), count("bans"), count("mutes")], [
    1,
    1,
    1,
    1,
  ]);
  await t.timers.advance(SESSIONS_EVERY_MS);
  assert.deepEqual([count("stats"), count("sessions"), count("mutes"), count("connections")], [
    1 + 10_000 / STATS_EVERY_MS,
    2,
    2, // a mute runs out without a line: asked again with the sessions
    2, // the connections' health too
  ]);
  const [anonymous] = t.m.connections;
  assert.equal(anonymous.state, "anonymous");
  assert.deepEqual(anonymous.health.lastError, {
    code: "bad_json",
    text: "Invalid JSON",
    at: "2026-03-02T14:05:11.020",
  });
  assert.equal(t.m.sessions[0].transport, "ws");
  assert.equal(t.m.bans[0].user, "eve");
  assert.deepEqual(t.m.mutes, [{ user: "Bob", until: "2026-03-02T15:00:00.000" }]);
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
  assert.equal(t.requests.filter((r) => r.type === "connections").length, 2);
  t.m.stop();
});

Deno.test("ConsoleModel: mute and unmute are followed by the running mutes", async () => {
  const t = model();
  await t.m.mute("Bob", 300);
  assert.deepEqual(t.requests.slice(-2), [
    { type: "mute", user: "Bob", duration: 300 },
    { type: "mutes" },
  ]);
  assert.equal(t.m.muteOf("BOB")?.until, "2026-03-02T15:00:00.000");
  assert.equal(t.m.muteOf("eve"), undefined);
  await t.m.unmute("bob");
  assert.deepEqual(t.requests.slice(-2), [{ type: "unmute", user: "bob" }, { type: "mutes" }]);
  await t.m.unban("Eve"); // an unban lifts a mute too (docs/protocol.md §6.4)
  assert.deepEqual(t.requests.slice(-3).map((r) => r.type).sort(), ["bans", "mutes", "unban"]);
});

Deno.test("ConsoleModel.complete() asks the directory once typing pauses", async () => {
  const t = model();
  let changes = 0;
  const m = new ConsoleModel({
    timers: t.timers,
    request: (body) => {
      t.requests.push(body);
      return Promise.resolve({ type: "directory", users: [`${body.prefix}é`, 3] });
    },
    onLine: () => () => {},
    onChange: () => changes++,
  });
  for (const prefix of ["z", "zo", " zo "]) m.complete(prefix);
  await t.timers.advance(COMPLETE_AFTER_MS - 1);
  assert.equal(t.requests.length, 0, "nothing while typing");
  await t.timers.advance(1);
  assert.deepEqual(t.requests, [{ type: "directory", prefix: "zo", limit: 10 }]);
  assert.deepEqual(m.names, ["zoé"]);
  m.complete("");
  assert.deepEqual(m.names, []);
  assert.equal(changes, 2);
  m.complete("a");
  m.stop();
  await t.timers.advance(COMPLETE_AFTER_MS);
  assert.equal(t.requests.length, 1, "stopped: no request");
});

Deno.test("isSelf: the teacher's own name in any letter case", () => {
  assert.equal(isSelf("PROF", "prof"), true);
  assert.equal(isSelf("Léa", "prof"), false);
  assert.equal(isSelf("prof", undefined), false);
});

Deno.test("whenText and sinceText phrase server times as sentences in French and English", () => {
  const fr = new I18n("fr");
  const en = new I18n("en");
  const now = new Date(2026, 11, 7, 10, 30); // 7 December 2026, 10:30 local
  const cases: [string, string, string][] = [
    ["2026-12-07T04:40:09.123", "aujourd’hui à 04:40", "today at 04:40"],
    ["2026-12-06T23:10:00.000", "hier à 23:10", "yesterday at 23:10"],
    ["2026-12-08T09:05:00.000", "demain à 09:05", "tomorrow at 09:05"],
    ["2026-12-03T04:40:00.000", "le 3 décembre à 04:40", "on December 3 at 04:40"],
    ["2026-12-01T16:00:00.000", "le 1er décembre à 16:00", "on December 1 at 16:00"],
    ["2025-01-01T08:00:00.000", "le 1er janvier 2025 à 08:00", "on January 1, 2025 at 08:00"],
  ];
  for (const [timestamp, inFrench, inEnglish] of cases) {
    assert.equal(whenText(fr, timestamp, now), inFrench);
    assert.equal(whenText(en, timestamp, now), inEnglish);
  }
  assert.equal(whenText(fr, "not a time", now), "not a time");
  const at = now.getTime();
  assert.equal(sinceText(fr, "2026-12-07T05:40:00.000", at), "4 h 50 min");
  assert.equal(sinceText(fr, "2026-12-05T07:30:00.000", at), "2 j 3 h");
  assert.equal(sinceText(en, "2026-12-05T07:30:00.000", at), "2 d 3 h");
  assert.equal(sinceText(en, "2026-12-07T10:29:15.000", at), "45 s");
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
