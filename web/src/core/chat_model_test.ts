import assert from "node:assert/strict";
import { CATCH_UP_CAP, ChatModel, shouldNotify } from "./chat_model.ts";
import { I18n } from "./i18n.ts";
import { FakeServer, FakeTimers, fixedRandom, flush, MemoryTokens } from "../../test/fakes.ts";

interface Rig {
  chat: ChatModel;
  server: FakeServer;
  timers: FakeTimers;
}

function rig(): Rig {
  const server = new FakeServer();
  const timers = new FakeTimers();
  const chat = new ChatModel({
    url: "ws://127.0.0.1/ws",
    createSocket: server.createSocket,
    timers,
    tokens: new MemoryTokens(),
    random: fixedRandom(0),
    lang: new I18n("fr"),
    localTime: () => "2026-03-02T15:00:00.000",
  });
  return { chat, server, timers };
}

async function ready(r: Rig): Promise<void> {
  r.chat.login("alice", "secret1");
  await flush();
  assert.equal(r.chat.status.state, "ready");
}

const seqs = (c: ChatModel, key: string) => c.state.conversations.get(key)!.order.map((m) => m.seq);

Deno.test("ChatModel after login: users, channels, the newest page of #général", async () => {
  const r = rig();
  for (let i = 0; i < 260; i++) r.server.add({ from: "bob", content: `m${i}` });
  await ready(r);
  const types = r.server.socket.sent.map((q) => q.type);
  assert.deepEqual(types.slice(0, 4), ["hello", "login", "users", "channels"]);
  assert.ok(types.includes("history"));
  assert.equal(seqs(r.chat, "#général").length, 200, "a page is the server's maximum");
  assert.equal(r.chat.state.conversations.get("#général")!.hasMore, true);
  assert.equal(r.chat.state.conversations.get("#général")!.unread, 0);
  assert.deepEqual(r.chat.sortedPeople().map((p) => p.name), ["alice", "bob"]);
  r.chat.dispose();
});

Deno.test("ChatModel marks the private messages after the login reply as received while away", async () => {
  const r = rig();
  const away = r.server.add({
    from: "bob",
    content: "Tu as le sujet ?",
    subtype: "private",
    to: "alice",
  });
  r.server.offline.push(away);
  await ready(r);
  const conv = r.chat.state.conversations.get("@bob")!;
  assert.equal(conv.order[0].offline, true);
  assert.equal(conv.unread, 1);
  // a later live private message is not
  r.server.socket.receive(r.server.line(
    r.server.add({ from: "bob", content: "Alors ?", subtype: "private", to: "alice" }),
  ));
  assert.deepEqual(conv.order.map((m) => m.offline), [true, false]);
  r.chat.dispose();
});

Deno.test("ChatModel routes a legacy `channel` it has not joined to #général", async () => {
  const r = rig();
  await ready(r);
  r.server.socket.receive({
    type: "message",
    content: "hello",
    channel: "Salon principal",
    from: "java",
    timestamp: "2026-03-02T14:59:00.000",
    seq: 900,
  });
  r.server.socket.receive({
    type: "message",
    content: "hi",
    channel: "sisr",
    from: "java",
    timestamp: "2026-03-02T14:59:01.000",
    seq: 901,
  });
  assert.deepEqual(seqs(r.chat, "#général").slice(-2), [900, 901]);
  r.chat.dispose();
});

Deno.test("ChatModel join() validates with the server's rules and joins", async () => {
  const r = rig();
  await ready(r);
  assert.match(String(await r.chat.join("deux mots")), /^Le nom du salon doit être un seul mot/);
  assert.equal(r.server.socket.ofType("join").length, 0);
  assert.equal(await r.chat.join("#SISR"), undefined);
  assert.ok(r.chat.joined.has("#sisr"));
  assert.equal(r.chat.state.active, "#sisr");
  assert.deepEqual(r.server.socket.ofType("join").map((q) => q.channel), ["#SISR"]);
  r.chat.dispose();
});

Deno.test("ChatModel local echo: envoi… → sent on ack; refused → failed → Renvoyer", async () => {
  const r = rig();
  await ready(r);
  r.chat.send("#général", "Bonjour");
  assert.equal(r.chat.state.pendingOf("#général")[0].state, "sending");
  await flush();
  assert.equal(r.chat.state.pendingOf("#général").length, 0);
  assert.equal(r.chat.state.conversations.get("#général")!.order.at(-1)!.content, "Bonjour");
  r.server.overrides.set("message", (req, s) => {
    queueMicrotask(() =>
      s.receive({
        type: "error",
        code: "server_busy",
        message: "Message could not be stored, send it again",
        id: req.id,
      })
    );
    return true;
  });
  r.chat.send("#général", "Encore");
  await flush();
  const [failed] = r.chat.state.pendingOf("#général");
  assert.equal(failed.state, "failed");
  assert.match(r.chat.alert.text, /non envoyé/i);
  r.server.overrides.delete("message");
  r.chat.resend(failed.id);
  await flush();
  assert.equal(r.chat.state.pendingOf("#général").length, 0);
  assert.equal(r.chat.state.conversations.get("#général")!.order.at(-1)!.content, "Encore");
  r.chat.dispose();
});

Deno.test("ChatModel: a muted post is refused, the text goes back to the composer, a countdown starts", async () => {
  const r = rig();
  await ready(r);
  r.server.overrides.set("message", (req, s) => {
    queueMicrotask(() =>
      s.receive({
        type: "error",
        code: "forbidden",
        message: "You are muted for 299 more seconds",
        retry_after_ms: 298_798,
        id: req.id,
      })
    );
    return true;
  });
  r.chat.send("#général", "mais monsieur !");
  await flush();
  assert.equal(r.chat.state.pendingOf("#général").length, 0);
  assert.deepEqual(r.chat.restoredDraft?.text, "mais monsieur !");
  assert.equal(r.chat.mutedUntil, r.timers.now() + 298_798);
  assert.match(r.chat.alert.text, /muet/);
  r.chat.dispose();
});

Deno.test("ChatModel: sends while disconnected wait and leave in order on reconnection, once", async () => {
  const r = rig();
  await ready(r);
  r.server.autoOpen = false;
  r.server.socket.serverClose();
  await flush();
  r.chat.send("#général", "pendant la coupure 1");
  r.chat.send("#général", "pendant la coupure 2");
  assert.deepEqual(r.chat.state.pendingOf("#général").map((p) => p.state), ["queued", "queued"]);
  r.server.autoOpen = true;
  await r.timers.advance(1000);
  await flush();
  assert.equal(r.chat.status.state, "ready");
  assert.deepEqual(r.server.messages.map((m) => m.content), [
    "pendant la coupure 1",
    "pendant la coupure 2",
  ]);
  assert.equal(r.chat.state.pendingOf("#général").length, 0);
  r.chat.dispose();
});

Deno.test("ChatModel sends one message per conversation at a time, in the order typed", async () => {
  const r = rig();
  await ready(r);
  const out: string[] = [];
  const held: (() => void)[] = [];
  r.server.overrides.set("message", (req, s) => {
    out.push(String(req.content));
    held.push(() => {
      const m = r.server.add({ from: "alice", content: String(req.content) });
      s.receive({ type: "ack", seq: m.seq, timestamp: m.timestamp, id: req.id });
    });
    return true;
  });
  for (let i = 1; i <= 5; i++) r.chat.send("#général", `m${i}`);
  await flush();
  assert.deepEqual(out, ["m1"], "the next waits for the ack");
  while (held.length > 0) {
    held.shift()!();
    await flush();
  }
  assert.deepEqual(out, ["m1", "m2", "m3", "m4", "m5"]);
  const contents = r.chat.state.conversations.get("#général")!.order.map((m) => m.content);
  assert.deepEqual(contents, ["m1", "m2", "m3", "m4", "m5"]);
  r.chat.dispose();
});

Deno.test("ChatModel: a rate-limited message is sent again after retry_after_ms, never shown failed", async () => {
  const r = rig();
  await ready(r);
  let refusals = 3;
  r.server.overrides.set("message", (req, s) => {
    if (refusals-- <= 0) return false;
    queueMicrotask(() =>
      s.receive({
        type: "error",
        code: "rate_limited",
        message: "Too many requests: wait 197 ms",
        retry_after_ms: 197,
        id: req.id,
      })
    );
    return true;
  });
  r.chat.send("#général", "premier");
  r.chat.send("#général", "second");
  await flush();
  assert.deepEqual(r.chat.state.pendingOf("#général").map((p) => p.state), ["queued", "queued"]);
  assert.equal(r.server.socket.ofType("message").length, 1, "nothing overtakes the refused one");
  await r.timers.advance(197);
  await r.timers.advance(197);
  assert.equal(r.server.messages.length, 0);
  await r.timers.advance(197);
  await flush();
  assert.deepEqual(r.server.messages.map((m) => m.content), ["premier", "second"]);
  assert.equal(r.chat.state.pendingOf("#général").length, 0);
  assert.equal(r.chat.alert.text, "");
  r.chat.dispose();
});

Deno.test("ChatModel follows `muted` events: locked with the time left, unlocked on until null", async () => {
  const r = rig();
  await ready(r);
  r.server.socket.receive({
    type: "muted",
    until: "2026-03-02T14:20:09.123",
    remaining_ms: 900_000,
  });
  await flush();
  assert.equal(r.chat.mutedUntil, r.timers.now() + 900_000);
  r.server.socket.receive({ type: "muted", until: null });
  await flush();
  assert.equal(r.chat.mutedUntil, undefined);
  r.chat.dispose();
});

Deno.test("ChatModel lists private conversations from the server and tells it what was read", async () => {
  const r = rig();
  r.server.features = [...r.server.features, "conversations"];
  const last = r.server.add({ from: "bob", content: "deux", subtype: "private", to: "alice" });
  const reads: Record<string, unknown>[] = [];
  r.server.overrides.set("conversations", (req, s) => {
    queueMicrotask(() =>
      s.receive({
        type: "conversations",
        conversations: [{ with: "Bob", last: r.server.line(last), unread: 2 }],
        id: req.id,
      })
    );
    return true;
  });
  r.server.overrides.set("read", (req, s) => {
    reads.push(req);
    queueMicrotask(() => s.receive({ type: "read", status: "ok", id: req.id }));
    return true;
  });
  await ready(r);
  const conv = r.chat.state.conversations.get("@bob")!;
  assert.equal(conv.name, "Bob");
  assert.equal(conv.unread, 2);
  assert.equal(conv.order.at(-1)!.content, "deux");
  assert.equal(reads.length, 0);
  r.chat.open("@bob");
  await flush();
  assert.equal(conv.unread, 0);
  assert.deepEqual(reads.map((q) => [q.with, q.seq]), [["Bob", last.seq]]);
  r.chat.dispose();
});

Deno.test("shouldNotify: private messages, and my name as a whole word in any case", () => {
  const me = "Élodie";
  assert.equal(shouldNotify({ content: "salut", subtype: "private", to: "élodie" }, me), true);
  assert.equal(shouldNotify({ content: "@élodie tu viens ?" }, me), true);
  assert.equal(shouldNotify({ content: "merci ELODIE" }, "elodie"), true);
  assert.equal(shouldNotify({ content: "Élodie, regarde" }, me), true);
  assert.equal(shouldNotify({ content: "Élodies et Élodiea" }, me), false);
  assert.equal(shouldNotify({ content: "bonjour à tous" }, me), false);
});

Deno.test("ChatModel resume: re-join, users, channels, history after, every gap line once", async () => {
  const r = rig();
  for (let i = 0; i < 5; i++) r.server.add({ from: "bob", content: `old${i}` });
  await ready(r);
  await r.chat.join("sisr");
  await flush();
  r.chat.open("#général");
  r.chat.send("#général", "in doubt, stored");
  r.server.overrides.set("message", () => true); // stored, but the ack is lost
  r.chat.send("#général", "in doubt, lost");
  await flush();
  r.server.overrides.delete("message");
  // the first one reached the server before the drop
  r.server.socket.serverClose();
  await flush();
  assert.equal(r.chat.status.state, "reconnecting");
  // while away: 3 in #général, 2 in #sisr
  for (let i = 0; i < 3; i++) r.server.add({ from: "bob", content: `gap-g${i}` });
  for (let i = 0; i < 2; i++) r.server.add({ from: "bob", content: `gap-s${i}`, channel: "sisr" });
  await r.timers.advance(1000);
  assert.equal(r.chat.status.state, "ready");
  const sent = r.server.socket.sent.map((q) => q.type);
  assert.deepEqual(sent.slice(0, 4), ["hello", "resume", "join", "users"]);
  const histories = r.server.socket.ofType("history");
  assert.ok(histories.every((h) => typeof h.after === "number"), JSON.stringify(histories));
  const general = r.chat.state.conversations.get("#général")!;
  const contents = general.order.map((m) => m.content);
  for (const c of ["gap-g0", "gap-g1", "gap-g2"]) {
    assert.equal(contents.filter((x) => x === c).length, 1, c);
  }
  const order = general.order.map((m) => m.seq);
  assert.deepEqual(order, [...order].sort((a, b) => a - b));
  assert.equal(r.chat.state.conversations.get("#sisr")!.unread, 2);
  // the stored one is now a plain message; the lost one was sent again, once
  await flush();
  const after = general.order.map((m) => m.content);
  assert.equal(after.filter((x) => x === "in doubt, stored").length, 1);
  assert.equal(after.filter((x) => x === "in doubt, lost").length, 1);
  assert.deepEqual(r.chat.state.pendingOf("#général"), []);
  assert.match(r.chat.notice.text + " ", /./);
  r.chat.dispose();
});

Deno.test("ChatModel resume stops at 1,000 messages per conversation with a gap marker", async () => {
  const r = rig();
  r.server.add({ from: "bob", content: "before" });
  await ready(r);
  r.server.socket.serverClose();
  await flush();
  for (let i = 0; i < CATCH_UP_CAP + 150; i++) r.server.add({ from: "bob", content: `g${i}` });
  await r.timers.advance(1000);
  assert.equal(r.chat.status.state, "ready");
  const conv = r.chat.state.conversations.get("#général")!;
  assert.equal(conv.order.length, 1 + CATCH_UP_CAP);
  assert.equal(conv.gapAfterSeq, conv.order.at(-1)!.seq);
  await r.chat.loadGap("#général");
  assert.equal(conv.order.length, 1 + CATCH_UP_CAP + 150);
  assert.equal(conv.gapAfterSeq, undefined);
  r.chat.dispose();
});

Deno.test("ChatModel resume pages private conversations back from the newest to the last seen", async () => {
  const r = rig();
  r.server.add({ from: "bob", content: "p0", subtype: "private", to: "alice" });
  await ready(r);
  r.chat.openPrivate("bob");
  await flush();
  assert.equal(r.chat.state.conversations.get("@bob")!.order.length, 1);
  r.server.socket.serverClose();
  await flush();
  for (let i = 1; i <= 250; i++) {
    r.server.add({ from: "bob", content: `p${i}`, subtype: "private", to: "alice" });
  }
  await r.timers.advance(1000);
  const conv = r.chat.state.conversations.get("@bob")!;
  assert.equal(conv.order.length, 251);
  const withs = r.server.socket.ofType("history").filter((h) => h.with !== undefined);
  assert.equal(withs.length, 2);
  assert.equal(withs[0].after, undefined);
  r.chat.dispose();
});

Deno.test("ChatModel announces new messages politely, at most one text every 2 s", async () => {
  const r = rig();
  await ready(r);
  await r.chat.join("sisr");
  r.chat.open("#général");
  await r.timers.advance(5000);
  const before = r.chat.notice.n;
  for (let i = 0; i < 3; i++) {
    r.server.socket.receive(
      r.server.line(r.server.add({ from: "bob", content: `s${i}`, channel: "sisr" })),
    );
  }
  await r.timers.advance(0);
  assert.equal(r.chat.notice.n, before + 1);
  assert.equal(r.chat.notice.text, "3 nouveaux messages dans #sisr");
  r.server.socket.receive(
    r.server.line(r.server.add({ from: "bob", content: "x", channel: "sisr" })),
  );
  await r.timers.advance(1999);
  assert.equal(r.chat.notice.n, before + 1, "not within 2 s");
  await r.timers.advance(1);
  assert.equal(r.chat.notice.n, before + 2);
  assert.equal(r.chat.notice.text, "1 nouveau message dans #sisr");
  r.chat.dispose();
});
