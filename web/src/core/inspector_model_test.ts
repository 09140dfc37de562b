import assert from "node:assert/strict";
import {
  around,
  clockTime,
  HEALTH_EVERY_MS,
  type Hint,
  hintText,
  InspectorModel,
  inspectorTexts,
  MAX_ENTRIES,
  readHint,
  readReply,
} from "./inspector_model.ts";
import { I18n } from "./i18n.ts";
import { RequestError } from "./server_link.ts";
import { FakeTimers, flush } from "../../test/fakes.ts";
import type { Line } from "./wire.ts";

const SINCE = "2026-03-02T14:05:09.123";

/** A connection as the server describes it (docs/protocol.md §11.8). */
function conn(n: number, patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    conn: n,
    state: "user",
    name: "alice",
    transport: "tcp",
    address: "10.0.3.17",
    since: SINCE,
    helloed: false,
    health: { lines: 3, errors: 2, bad_json: 1, unknown_types: 1, limits: 0 },
    ...patch,
  };
}

function event(kind: string, info: Record<string, unknown>): Line {
  return { type: "inspect_conn", event: kind, conn: info };
}

function line(n: number, dir: "in" | "out", text: string, extra: Record<string, unknown> = {}) {
  return {
    type: "inspect_line",
    conn: n,
    dir,
    at: "2026-03-02T14:05:10.512",
    line: text,
    ...extra,
  };
}

/** A model on a fake link: what it asked, and a way to push the server's events. */
function rig(options: { target?: number; admin?: boolean; refuse?: string } = {}) {
  const timers = new FakeTimers();
  const requests: Record<string, unknown>[] = [];
  const listeners = new Set<(line: Line) => void>();
  let changes = 0;
  const m = new InspectorModel({
    ...options,
    timers,
    request: (body) => {
      requests.push(body);
      if (body.type === "inspect" && options.refuse) {
        return Promise.reject(new RequestError({ code: options.refuse }));
      }
      if (body.type === "connections") {
        return Promise.resolve({
          type: "connections",
          connections: [conn(7, { health: { lines: 40, errors: 9 } }), { state: "no number" }],
        });
      }
      return Promise.resolve({ type: String(body.type) });
    },
    onLine: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    onChange: () => changes++,
  });
  const push = (...lines: Line[]) => {
    for (const l of lines) for (const fn of listeners) fn(l);
  };
  return { m, timers, requests, listeners, push, changes: () => changes };
}

Deno.test("InspectorModel asks inspect, then uninspect when stopped", async () => {
  const t = rig();
  await t.m.start();
  assert.deepEqual(t.requests, [{ type: "inspect" }, { type: "ping" }]);
  assert.equal(t.listeners.size, 1);
  t.m.stop();
  assert.deepEqual(t.requests.at(-1), { type: "uninspect" });
  assert.equal(t.listeners.size, 0);
  const one = rig({ target: 7 });
  await one.m.start();
  one.m.stop();
  assert.deepEqual(one.requests, [{ type: "inspect", conn: 7 }, { type: "ping" }, {
    type: "uninspect",
    conn: 7,
  }]);
});

Deno.test("InspectorModel logs a connection's lines with readings and error replies", async () => {
  const t = rig();
  await t.m.start();
  t.push(
    event("identified", conn(7)),
    line(7, "in", '{"type":"msg","content":"salut"}', {
      reading: {
        error: { code: "unknown_type", text: 'Unknown type "msg"' },
        hint: { kind: "unknown_type", type: "msg", suggestion: "message" },
      },
    }),
    line(7, "out", '{"type":"error","message":"Unknown type \\"msg\\"","code":"unknown_type"}'),
    line(8, "in", "not announced: dropped"),
    { type: "message", from: "bob", content: "not for the inspector" },
  );
  const [first, reply] = t.m.entries;
  assert.equal(t.m.entries.length, 2);
  assert.equal(first.dir, "in");
  assert.deepEqual(first.reading?.hint, {
    kind: "unknown_type",
    type: "msg",
    suggestion: "message",
  });
  assert.equal(first.reply, undefined);
  assert.deepEqual(reply.reply, { code: "unknown_type", text: 'Unknown type "msg"' });
  assert.equal(reply.reading, undefined, "a reading is for lines in only");
  assert.equal(t.m.conns.get(first.conn)?.address, "10.0.3.17");
});

Deno.test("InspectorModel replaces a partial line by the next ones, then by the whole line", async () => {
  const t = rig();
  await t.m.start();
  t.push(event("watched", conn(7)));
  const hint = { hint: { kind: "no_newline", bytes: 30 } };
  t.push(line(7, "in", '{"type":"message","content":"ç', { partial: true, reading: hint }));
  t.push(line(7, "out", '{"type":"message","from":"bob","content":"hello"}'));
  t.push(line(7, "in", '{"type":"message","content":"ça', { partial: true, reading: hint }));
  assert.deepEqual(t.m.entries.map((e) => [e.dir, e.partial]), [["out", false], ["in", true]]);
  t.push(
    line(7, "in", '{"type":"message","content":"ça va"}', { reading: { request: "message" } }),
  );
  assert.deepEqual(t.m.entries.map((e) => e.line), [
    '{"type":"message","from":"bob","content":"hello"}',
    '{"type":"message","content":"ça va"}',
  ]);
  // A partial line left when the connection closes is marked as never ended.
  t.push(line(7, "in", "{", { partial: true, reading: hint }));
  t.push(event("closed", conn(7, { state: "closed" })));
  assert.equal(t.m.entries.at(-1)?.unfinished, true);
  assert.equal(t.m.connections()[0].state, "closed");
});

Deno.test("InspectorModel keeps the last 500 lines; pause freezes the log, clear empties it", async () => {
  const t = rig();
  await t.m.start();
  t.push(event("watched", conn(7)));
  for (let i = 0; i < MAX_ENTRIES + 20; i++) t.push(line(7, "in", `{"n":${i}}`));
  assert.equal(t.m.entries.length, MAX_ENTRIES);
  assert.equal(t.m.entries[0].line, '{"n":20}');
  t.m.pause();
  t.push(line(7, "in", "a"), line(7, "in", "b"));
  assert.equal(t.m.entries.at(-1)?.line, `{"n":${MAX_ENTRIES + 19}}`, "frozen");
  assert.equal(t.m.held, 2);
  t.m.resume();
  assert.equal(t.m.entries.at(-1)?.line, "b");
  assert.equal(t.m.held, 0);
  t.m.clear();
  assert.equal(t.m.entries.length, 0);
  assert.equal(t.m.conns.size, 1, "the connections stay");
});

Deno.test("InspectorModel adds live lines to the figures, not the lines replayed before a login", async () => {
  const t = rig();
  await t.m.start();
  // Identified: the lines before the login, the login included, are in the figures already.
  t.push(
    event("identified", conn(7, { health: { lines: 3, errors: 2, bad_json: 1 } })),
    line(7, "in", "oops", { reading: { error: { code: "bad_json", text: "Invalid JSON" } } }),
    line(7, "out", '{"type":"error","message":"Invalid JSON","code":"bad_json"}'),
    line(7, "in", '{"type":"login"}', { reading: { request: "login" } }),
    line(7, "out", '{"type":"login","status":"ok"}'),
    line(7, "in", "{", { partial: true }),
    line(7, "in", "{]", { reading: { error: { code: "bad_json", text: "Invalid JSON" } } }),
    { ...line(7, "out", '{"type":"error","message":"Too many","code":"rate_limited"}') },
  );
  const h = t.m.connections()[0].health;
  assert.deepEqual(
    [h.lines, h.errors, h.badJson, h.unknownTypes, h.limits],
    [4, 3, 2, 0, 1],
  );
  assert.deepEqual(h.lastError, {
    code: "rate_limited",
    text: "Too many",
    at: "2026-03-02T14:05:10.512",
  });
  // An anonymous connection's early lines follow its announcement: counted already.
  const a = rig({ target: 9 });
  await a.m.start();
  a.push(
    event("watched", conn(9, { state: "anonymous", name: undefined })),
    line(9, "in", "hello", { reading: { error: { code: "bad_json", text: "x" } } }),
  );
  assert.equal(a.m.connections()[0].health.lines, 3);
});

Deno.test("InspectorModel after a reconnection: asked again, replayed lines once, ended ones closed", async () => {
  const t = rig();
  await t.m.start();
  t.push(
    event("watched", conn(7)),
    event("watched", conn(8, { since: "2026-03-02T14:06:00.000" })),
    line(7, "in", "early 1"),
    line(7, "in", "early 2"),
  );
  t.m.stop(); // the socket dropped
  await t.m.start();
  assert.deepEqual(t.requests.filter((r) => r.type === "inspect").length, 2);
  // Connection 7 is still there: announced again with its early lines, which are not doubled;
  // connection 8 ended while the page was away.
  t.push(event("watched", conn(7)), line(7, "in", "early 1"), line(7, "in", "early 2"));
  t.push(line(7, "in", "early 2")); // sent again by the client: a new line
  await flush();
  assert.deepEqual(t.m.entries.map((e) => e.line), ["early 1", "early 2", "early 2"]);
  const states = t.m.connections().map((c) => [c.conn, c.state]);
  assert.deepEqual(states, [[7, "user"], [8, "closed"]]);
});

Deno.test("InspectorModel: a number given again after a server restart is another connection", async () => {
  const t = rig();
  await t.m.start();
  t.push(event("watched", conn(1)), line(1, "in", "before"));
  t.push(event("watched", conn(1, { since: "2026-03-02T15:00:00.000" })), line(1, "in", "after"));
  const [before, after] = t.m.entries;
  assert.notEqual(before.conn, after.conn);
  assert.deepEqual(t.m.connections().map((c) => c.state), ["user", "closed"]);
  // A teacher's connection gone with the restart: nothing more is shown of it.
  const one = rig({ target: 1 });
  await one.m.start();
  one.push(event("watched", conn(1)));
  one.push(event("watched", conn(1, { since: "2026-03-02T15:00:00.000" })));
  assert.equal(one.m.gone, true);
  assert.deepEqual(one.requests.at(-1), { type: "uninspect", conn: 1 });
});

Deno.test("InspectorModel: a refusal is kept; an unknown connection is gone", async () => {
  const t = rig({ refuse: "forbidden" });
  await t.m.start();
  assert.equal(t.m.refused, "forbidden");
  const one = rig({ target: 3, refuse: "bad_request" });
  await one.m.start();
  assert.equal(one.m.gone, true);
  assert.equal(one.m.refused, undefined);
});

Deno.test("InspectorModel for a teacher refreshes the figures from connections", async () => {
  const t = rig({ target: 7, admin: true });
  await t.m.start();
  t.push(event("watched", conn(7)), event("watched", conn(8)), line(8, "in", "not the target"));
  assert.equal(t.m.conns.size, 1, "only the connection inspected");
  assert.equal(t.m.entries.length, 0);
  await t.timers.advance(HEALTH_EVERY_MS);
  assert.equal(t.requests.at(-1)?.type, "connections");
  assert.equal(t.m.connections()[0].health.lines, 40);
  assert.equal(t.m.connections()[0].health.errors, 9);
  t.m.stop();
  await t.timers.advance(HEALTH_EVERY_MS * 3);
  assert.equal(t.requests.filter((r) => r.type === "connections").length, 1);
  assert.equal(t.timers.pending, 0);
});

Deno.test("hintText words every hint in French and English", () => {
  const fr = inspectorTexts(new I18n("fr"));
  const en = inspectorTexts(new I18n("en"));
  const nb = "\u202f"; // French typography: a narrow no-break space before : ; ! ?
  const cases: [Hint, string, string][] = [
    [
      { kind: "no_newline", bytes: 31 },
      `Le serveur attend la fin de la ligne (\\n)${nb}: votre client n'a pas encore envoyé de retour à la ligne (31 octets reçus)`,
      "The server waits for the end of the line (\\n): your client has not sent a line break yet (31 bytes received)",
    ],
    [
      { kind: "bad_json", position: 18 },
      `JSON invalide${nb}: la lecture s'arrête au caractère 19, marqué ci-dessus. Vérifiez les guillemets, les virgules et les accolades juste avant`,
      "Invalid JSON: reading stops at character 19, marked above. Check the quotes, commas and braces just before it",
    ],
    [
      { kind: "unknown_type", type: "msg", suggestion: "message" },
      `Type «${nb}msg${nb}» inconnu${nb}: vouliez-vous dire «${nb}message${nb}»${nb}?`,
      "Unknown type “msg”: did you mean “message”?",
    ],
    [
      { kind: "unknown_type", type: "zzz" },
      `Type «${nb}zzz${nb}» inconnu du serveur`,
      "Type “zzz” is unknown to the server",
    ],
    [
      { kind: "field", field: "content", problem: "missing" },
      `Il manque le champ «${nb}content${nb}»`,
      "The field “content” is missing",
    ],
    [
      { kind: "field", field: "content", problem: "type", expected: "string" },
      `Le champ «${nb}content${nb}» doit être une chaîne de caractères, entre guillemets`,
      "The field “content” must be a string, in quotes",
    ],
    [
      { kind: "field", field: "x", problem: "type", expected: "bigint" },
      `Le champ «${nb}x${nb}» doit être bigint`,
      "The field “x” must be bigint",
    ],
  ];
  for (const [hint, inFrench, inEnglish] of cases) {
    assert.equal(hintText(fr, hint), inFrench);
    assert.equal(hintText(en, hint), inEnglish);
  }
  assert.match(hintText(fr, { kind: "encoding" }), /^Ligne reçue en Windows-1252, pas en UTF-8/);
  assert.match(hintText(fr, { kind: "encoding" }), /StandardCharsets\.UTF_8\)$/);
  assert.match(hintText(fr, { kind: "command_as_chat" }), /^«\u202f\/login\u202f»/);
  assert.equal(hintText(fr, { kind: "bad_json" }).startsWith("Ce n'est pas du JSON"), true);
});

Deno.test("readHint takes documented hints only; readReply reads error lines", () => {
  assert.deepEqual(readHint({ kind: "bad_json", position: 4 }), { kind: "bad_json", position: 4 });
  assert.equal(readHint({ kind: "unknown_type" }), undefined, "no type");
  assert.equal(readHint({ kind: "field", field: "to", problem: "odd" }), undefined);
  assert.equal(readHint({ kind: "later" }), undefined);
  assert.equal(readHint("bad_json"), undefined);
  assert.deepEqual(readReply('{"type":"error","code":"bad_json","message":"Invalid"}'), {
    code: "bad_json",
    text: "Invalid",
  });
  assert.equal(readReply('{"type":"login","status":"ok"}'), undefined);
  assert.equal(readReply("not json"), undefined);
});

Deno.test("around() marks where JSON parsing stopped, a whole emoji, the end of the line", () => {
  assert.deepEqual(around('{"type":"message" "content":"x"}', 18), {
    before: '{"type":"message" ',
    at: '"',
    after: 'content":"x"}',
  });
  assert.deepEqual(around('{"a":"😀"x', 6, 3), { before: '…":"', at: "😀", after: '"x' });
  assert.deepEqual(around("{", 1), { before: "{", at: "", after: "" });
  assert.deepEqual(around("abcdefghij", 5, 2), { before: "…de", at: "f", after: "gh…" });
  assert.deepEqual(around("ab", 99), { before: "ab", at: "", after: "" });
});

Deno.test("clockTime shows a server time to the second", () => {
  assert.equal(clockTime("2026-03-02T14:05:10.512"), "14:05:10");
  assert.equal(clockTime("later"), "later");
});
