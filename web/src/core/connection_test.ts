import assert from "node:assert/strict";
import { CONNECT_TIMEOUT_MS, Connection, type ConnStatus, type Session } from "./connection.ts";
import { FakeServer, FakeTimers, fixedRandom, flush, MemoryTokens } from "../../test/fakes.ts";
import type { Line } from "./wire.ts";

interface Rig {
  conn: Connection;
  server: FakeServer;
  timers: FakeTimers;
  tokens: MemoryTokens;
  states: string[];
  sessions: Session[];
  lines: Line[];
  online: { value: boolean };
}

function rig(options: { random?: number; autoReady?: boolean } = {}): Rig {
  const server = new FakeServer();
  const timers = new FakeTimers();
  const tokens = new MemoryTokens();
  const states: string[] = [];
  const sessions: Session[] = [];
  const lines: Line[] = [];
  const online = { value: true };
  let conn: Connection | undefined = undefined;
  conn = new Connection({
    url: "ws://127.0.0.1:8080/ws",
    createSocket: server.createSocket,
    timers,
    tokens,
    isOnline: () => online.value,
    random: fixedRandom(options.random ?? 0.5),
    events: {
      onStatus: (s: ConnStatus) => {
        if (states[states.length - 1] !== s.state) states.push(s.state);
      },
      onLine: (line, matched) => {
        if (!matched) lines.push(line);
      },
      onSession: (s) => {
        sessions.push(s);
        if (options.autoReady !== false) conn?.markReady();
      },
      onClosed: () => {},
    },
  });
  return { conn, server, timers, tokens, states, sessions, lines, online };
}

async function loggedIn(options: { random?: number } = {}): Promise<Rig> {
  const r = rig(options);
  r.conn.login("Alice", "secret1");
  await flush();
  assert.equal(r.conn.status.state, "ready");
  return r;
}

Deno.test("Connection opens no socket before the form is sent", () => {
  const r = rig();
  assert.equal(r.conn.status.state, "idle");
  assert.equal(r.server.sockets.length, 0);
  r.conn.dispose();
});

Deno.test("Connection goes idle → connecting → authenticating → syncing → ready", async () => {
  const r = rig({ autoReady: false });
  r.conn.login("Alice", "secret1");
  assert.equal(r.server.sockets.length, 1);
  assert.equal(r.server.socket.url, "ws://127.0.0.1:8080/ws");
  await flush();
  assert.deepEqual(r.states, ["idle", "connecting", "authenticating", "syncing"]);
  assert.deepEqual(r.server.socket.sent.map((q) => q.type), ["hello", "login"]);
  assert.equal(r.server.socket.sent[0].version, 2);
  assert.ok(r.server.socket.sent.every((q) => typeof q.id === "string"));
  assert.equal(r.tokens.saved?.token, "token-1");
  assert.equal(r.tokens.saved?.user, "Alice");
  assert.deepEqual(r.sessions, [{ user: "Alice", admin: false, resumed: false }]);
  r.conn.markReady();
  assert.equal(r.conn.status.state, "ready");
  r.conn.dispose();
});

Deno.test("Connection registers, then logs in, on the same socket", async () => {
  const r = rig();
  r.conn.login("Zoé", "pw", true);
  await flush();
  assert.deepEqual(r.server.socket.sent.map((q) => q.type), ["hello", "register", "login"]);
  assert.equal(r.conn.status.state, "ready");
  r.conn.dispose();
});

Deno.test("Connection: a refused login goes back to the form with the reason, socket closed", async () => {
  const r = rig();
  r.server.overrides.set("login", (req, s) => {
    queueMicrotask(() =>
      s.receive({ type: "error", message: "Login failed.", code: "auth_failed", id: req.id })
    );
    return true;
  });
  r.conn.login("Alice", "wrong");
  await flush();
  assert.equal(r.conn.status.state, "idle");
  assert.equal(r.conn.status.reason?.code, "auth_failed");
  assert.equal(r.conn.status.user, "Alice");
  assert.ok(r.server.socket.closed);
  assert.equal(r.timers.pending, 0);
  r.conn.dispose();
});

Deno.test("Connection: an unreachable server at the form goes back to idle, no retry", async () => {
  const r = rig();
  r.server.autoOpen = false;
  r.conn.login("Alice", "secret1");
  r.server.socket.serverClose();
  await flush();
  assert.equal(r.conn.status.state, "idle");
  assert.equal(r.conn.status.reason?.code, "network");
  assert.equal(r.timers.pending, 0);
});

Deno.test("Connection gives up opening after 10 s", async () => {
  const r = rig();
  r.server.autoOpen = false;
  r.conn.login("Alice", "secret1");
  await r.timers.advance(CONNECT_TIMEOUT_MS - 1);
  assert.equal(r.conn.status.state, "connecting");
  await r.timers.advance(1);
  assert.equal(r.conn.status.state, "idle");
  assert.ok(r.server.socket.closed);
});

Deno.test("Connection: a close with no last line reconnects after a jittered delay, then resumes", async () => {
  const r = await loggedIn();
  const before = r.timers.now();
  r.server.socket.serverClose();
  await flush();
  assert.equal(r.conn.status.state, "reconnecting");
  assert.equal(r.conn.status.reason?.code, "network");
  // first ceiling 0.5 s, random 0.5
  assert.equal(r.conn.status.retryAt, before + 250);
  await r.timers.advance(250);
  assert.equal(r.server.sockets.length, 2);
  assert.deepEqual(r.server.socket.sent.map((q) => q.type), ["hello", "resume"]);
  assert.equal(r.server.socket.sent[1].token, "token-1");
  assert.equal(r.conn.status.state, "ready");
  assert.equal(r.tokens.saved?.token, "token-2");
  assert.deepEqual(r.sessions.map((s) => s.resumed), [false, true]);
  r.conn.dispose();
});

Deno.test("Connection: shutting_down reconnects after 0.5–5 s", async () => {
  for (const random of [0, 0.999]) {
    const r = await loggedIn({ random });
    r.server.socket.receive({
      type: "error",
      message: "Server is shutting down",
      code: "shutting_down",
    });
    r.server.socket.serverClose();
    await flush();
    assert.equal(r.conn.status.state, "reconnecting");
    assert.equal(r.conn.status.reason?.code, "shutting_down");
    const delay = (r.conn.status.retryAt ?? 0) - r.timers.now();
    assert.ok(delay >= 500 && delay <= 5000, `${delay}`);
    r.conn.dispose();
  }
});

Deno.test("Connection: server_busy and rate_limited wait at least retry_after_ms, else 5 s", async () => {
  const cases: [Record<string, unknown>, number][] = [
    [{ code: "server_busy", message: "Too many connections, try again later" }, 5000],
    [{ code: "rate_limited", message: "Too many requests: closing the connection" }, 5000],
    [{ code: "server_busy", message: "busy", retry_after_ms: 12000 }, 12000],
  ];
  for (const [line, min] of cases) {
    const r = await loggedIn();
    r.server.socket.receive({ type: "error", ...line });
    r.server.socket.serverClose();
    await flush();
    assert.equal(r.conn.status.state, "reconnecting");
    assert.equal((r.conn.status.retryAt ?? 0) - r.timers.now(), min);
    r.conn.dispose();
  }
});

Deno.test("Connection: a kick or a ban stops, with the reason and no timer", async () => {
  for (
    const message of ["Disconnected by an administrator", "Banned until 2026-11-25T18:50:12.531"]
  ) {
    const r = await loggedIn();
    r.server.socket.receive({ type: "error", message, code: "forbidden", error: message });
    r.server.socket.serverClose();
    await flush();
    assert.equal(r.conn.status.state, "stopped");
    assert.equal(r.conn.status.reason?.message, message);
    assert.equal(r.timers.pending, 0);
    // "Se reconnecter" resumes
    r.conn.retryNow();
    await flush();
    assert.equal(r.conn.status.state, "ready");
    r.conn.dispose();
  }
});

Deno.test("Connection: auth_failed after resume goes back to the form, name kept, token erased", async () => {
  const r = await loggedIn();
  r.server.overrides.set("resume", (req, s) => {
    queueMicrotask(() =>
      s.receive({
        type: "error",
        code: "auth_failed",
        message: "Session expired: log in again",
        id: req.id,
      })
    );
    return true;
  });
  r.server.socket.serverClose();
  await r.timers.advance(1000);
  assert.equal(r.conn.status.state, "idle");
  assert.equal(r.conn.status.reason?.code, "session_expired");
  assert.equal(r.conn.status.user, "Alice");
  assert.equal(r.tokens.saved, undefined);
  assert.ok(r.server.socket.closed);
  r.conn.dispose();
});

Deno.test("Connection waits for `online` while the browser is offline", async () => {
  const r = await loggedIn();
  r.online.value = false;
  r.server.socket.serverClose();
  await flush();
  assert.equal(r.conn.status.state, "reconnecting");
  assert.equal(r.conn.status.waitingForNetwork, true);
  assert.equal(r.conn.status.retryAt, undefined);
  await r.timers.advance(120_000);
  assert.equal(r.server.sockets.length, 1);
  r.online.value = true;
  r.conn.networkOnline();
  await flush();
  assert.equal(r.server.sockets.length, 2);
  assert.equal(r.conn.status.state, "ready");
  r.conn.dispose();
});

Deno.test("Connection: the browser's `offline` event drops the socket at once and waits for `online`", async () => {
  const r = await loggedIn();
  r.online.value = false;
  r.conn.networkOffline();
  assert.equal(r.conn.status.state, "reconnecting");
  assert.equal(r.conn.status.waitingForNetwork, true);
  assert.equal(r.server.socket.closed, true);
  await r.timers.advance(120_000);
  assert.equal(r.server.sockets.length, 1, "no attempt while offline");
  r.online.value = true;
  r.conn.networkOnline();
  await flush();
  assert.equal(r.conn.status.state, "ready");
  r.conn.dispose();
});

Deno.test("Connection tries at once when the page turns visible or on 'Réessayer maintenant'", async () => {
  const r = await loggedIn();
  r.server.autoOpen = false;
  r.server.socket.serverClose();
  await flush();
  r.conn.pageVisible();
  assert.equal(r.server.sockets.length, 2);
  r.server.socket.serverClose();
  await flush();
  assert.equal(r.conn.status.state, "reconnecting");
  r.conn.retryNow();
  assert.equal(r.server.sockets.length, 3);
  r.conn.dispose();
});

Deno.test("Connection backoff grows while failing and resets after 30 s in ready", async () => {
  const r = await loggedIn({ random: 0.999 });
  r.server.autoOpen = false;
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    r.server.socket.serverClose();
    await flush();
    const delay = (r.conn.status.retryAt ?? 0) - r.timers.now();
    delays.push(delay);
    await r.timers.advance(delay);
  }
  assert.deepEqual(delays, [499, 999, 1998, 3996]);
  // this attempt succeeds and stays up 30 s
  r.server.socket.open();
  await flush();
  assert.equal(r.conn.status.state, "ready");
  await r.timers.advance(30_000);
  r.server.socket.serverClose();
  await flush();
  assert.equal((r.conn.status.retryAt ?? 0) - r.timers.now(), 499);
  r.conn.dispose();
});

Deno.test("Connection pings every min(45 s, idle/3) and drops a socket that does not answer", async () => {
  const r = await loggedIn();
  await r.timers.advance(40_000);
  assert.equal(r.server.socket.ofType("ping").length, 1);
  r.server.overrides.set("ping", () => true); // no pong any more
  await r.timers.advance(40_000);
  assert.equal(r.server.socket.ofType("ping").length, 2);
  await r.timers.advance(10_000);
  assert.equal(r.conn.status.state, "reconnecting");
  r.conn.dispose();
});

Deno.test("Connection renews its token on the live socket before it expires", async () => {
  const r = await loggedIn();
  r.server.overrides.set("ping", () => false);
  await r.timers.advance(600_000);
  assert.equal(r.server.socket.ofType("resume").length, 1);
  assert.equal(r.tokens.saved?.token, "token-2");
  assert.equal(r.conn.status.state, "ready");
  r.conn.dispose();
});

Deno.test("Connection: logout closes, forgets the token and the name", async () => {
  const r = await loggedIn();
  r.conn.logout();
  assert.equal(r.conn.status.state, "idle");
  assert.equal(r.conn.status.user, undefined);
  assert.equal(r.tokens.saved, undefined);
  assert.ok(r.server.socket.closed);
  assert.equal(r.timers.pending, 0);
});

Deno.test("Connection resumes from a saved token at page load, unless expired", async () => {
  const r = rig();
  r.tokens.saved = { token: "old", user: "Alice", expiresAt: r.timers.now() - 1 };
  assert.equal(r.conn.resumeSaved(), false);
  assert.equal(r.tokens.saved, undefined);
  r.tokens.saved = { token: "t", user: "Alice", expiresAt: r.timers.now() + 1000 };
  assert.equal(r.conn.resumeSaved(), true);
  await flush();
  assert.deepEqual(r.server.socket.sent.map((q) => q.type), ["hello", "resume"]);
  assert.equal(r.conn.status.state, "ready");
  r.conn.dispose();
});

Deno.test("Connection: requests fail with `closed` when the socket goes", async () => {
  const r = await loggedIn();
  r.server.overrides.set("users", () => true);
  const pending = r.conn.request({ type: "users" });
  r.server.socket.serverClose();
  await assert.rejects(pending, (e: { info: { code: string } }) => e.info.code === "closed");
  await assert.rejects(
    r.conn.request({ type: "users" }),
    (e: { info: { code: string } }) => e.info.code === "closed",
  );
  r.conn.dispose();
});
