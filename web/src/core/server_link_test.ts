import assert from "node:assert/strict";
import { CONNECT_TIMEOUT_MS, type LinkStatus, type LoginInfo, ServerLink } from "./server_link.ts";
import { FakeServer, FakeTimers, fixedRandom, flush, MemoryTokens } from "../../test/fakes.ts";
import type { Line } from "./wire.ts";

interface Rig {
  link: ServerLink;
  server: FakeServer;
  timers: FakeTimers;
  tokens: MemoryTokens;
  states: string[];
  logins: LoginInfo[];
  lines: Line[];
  online: { value: boolean };
}

function rig(options: { random?: number; autoReady?: boolean } = {}): Rig {
  const server = new FakeServer();
  const timers = new FakeTimers();
  const tokens = new MemoryTokens();
  const states: string[] = [];
  const logins: LoginInfo[] = [];
  const lines: Line[] = [];
  const online = { value: true };
  let link: ServerLink | undefined = undefined;
  link = new ServerLink({
    url: "ws://127.0.0.1:8080/ws",
    createSocket: server.createSocket,
    timers,
    tokens,
    isOnline: () => online.value,
    random: fixedRandom(options.random ?? 0.5),
    events: {
      onStatus: (s: LinkStatus) => {
        if (states[states.length - 1] !== s.state) states.push(s.state);
      },
      onLine: (line, matched) => {
        if (!matched) lines.push(line);
      },
      onLogin: (s) => {
        logins.push(s);
        if (options.autoReady !== false) link?.markReady();
      },
      onClosed: () => {},
    },
  });
  return { link, server, timers, tokens, states, logins, lines, online };
}

async function loggedIn(options: { random?: number } = {}): Promise<Rig> {
  const r = rig(options);
  r.link.login("Alice", "secret1");
  await flush();
  assert.equal(r.link.status.state, "ready");
  return r;
}

Deno.test("ServerLink opens no socket before the form is sent", () => {
  const r = rig();
  assert.equal(r.link.status.state, "idle");
  assert.equal(r.server.sockets.length, 0);
  r.link.dispose();
});

Deno.test("ServerLink goes idle → connecting → authenticating → syncing → ready", async () => {
  const r = rig({ autoReady: false });
  r.link.login("Alice", "secret1");
  assert.equal(r.server.sockets.length, 1);
  assert.equal(r.server.socket.url, "ws://127.0.0.1:8080/ws");
  await flush();
  assert.deepEqual(r.states, ["idle", "connecting", "authenticating", "syncing"]);
  assert.deepEqual(r.server.socket.sent.map((q) => q.type), ["hello", "login"]);
  assert.equal(r.server.socket.sent[0].version, 2);
  assert.ok(r.server.socket.sent.every((q) => typeof q.id === "string"));
  assert.equal(r.tokens.saved?.token, "token-1");
  assert.equal(r.tokens.saved?.user, "Alice");
  assert.deepEqual(r.logins, [{ user: "Alice", admin: false, resumed: false }]);
  r.link.markReady();
  assert.equal(r.link.status.state, "ready");
  r.link.dispose();
});

Deno.test("ServerLink registers, then logs in, on the same socket", async () => {
  const r = rig();
  r.link.login("Zoé", "pw", true);
  await flush();
  assert.deepEqual(r.server.socket.sent.map((q) => q.type), ["hello", "register", "login"]);
  assert.equal(r.link.status.state, "ready");
  r.link.dispose();
});

Deno.test("ServerLink: a refused login goes back to the form with the reason, socket closed", async () => {
  const r = rig();
  r.server.overrides.set("login", (req, s) => {
    queueMicrotask(() =>
      s.receive({ type: "error", message: "Login failed.", code: "auth_failed", id: req.id })
    );
    return true;
  });
  r.link.login("Alice", "wrong");
  await flush();
  assert.equal(r.link.status.state, "idle");
  assert.equal(r.link.status.reason?.code, "auth_failed");
  assert.equal(r.link.status.user, "Alice");
  assert.ok(r.server.socket.closed);
  assert.equal(r.timers.pending, 0);
  r.link.dispose();
});

Deno.test("ServerLink: an unreachable server at the form goes back to idle, no retry", async () => {
  const r = rig();
  r.server.autoOpen = false;
  r.link.login("Alice", "secret1");
  r.server.socket.serverClose();
  await flush();
  assert.equal(r.link.status.state, "idle");
  assert.equal(r.link.status.reason?.code, "network");
  assert.equal(r.timers.pending, 0);
});

Deno.test("ServerLink gives up opening after 10 s", async () => {
  const r = rig();
  r.server.autoOpen = false;
  r.link.login("Alice", "secret1");
  await r.timers.advance(CONNECT_TIMEOUT_MS - 1);
  assert.equal(r.link.status.state, "connecting");
  await r.timers.advance(1);
  assert.equal(r.link.status.state, "idle");
  assert.ok(r.server.socket.closed);
});

Deno.test("ServerLink: a close with no last line reconnects after a jittered delay, then resumes", async () => {
  const r = await loggedIn();
  const before = r.timers.now();
  r.server.socket.serverClose();
  await flush();
  assert.equal(r.link.status.state, "reconnecting");
  assert.equal(r.link.status.reason?.code, "network");
  // first ceiling 0.5 s, random 0.5
  assert.equal(r.link.status.retryAt, before + 250);
  await r.timers.advance(250);
  assert.equal(r.server.sockets.length, 2);
  assert.deepEqual(r.server.socket.sent.map((q) => q.type), ["hello", "resume"]);
  assert.equal(r.server.socket.sent[1].token, "token-1");
  assert.equal(r.link.status.state, "ready");
  assert.equal(r.tokens.saved?.token, "token-2");
  assert.deepEqual(r.logins.map((s) => s.resumed), [false, true]);
  r.link.dispose();
});

Deno.test("ServerLink: shutting_down reconnects after 0.5–5 s", async () => {
  for (const random of [0, 0.999]) {
    const r = await loggedIn({ random });
    r.server.socket.receive({
      type: "error",
      message: "Server is shutting down",
      code: "shutting_down",
    });
    r.server.socket.serverClose();
    await flush();
    assert.equal(r.link.status.state, "reconnecting");
    assert.equal(r.link.status.reason?.code, "shutting_down");
    const delay = (r.link.status.retryAt ?? 0) - r.timers.now();
    assert.ok(delay >= 500 && delay <= 5000, `${delay}`);
    r.link.dispose();
  }
});

Deno.test("ServerLink: server_busy and rate_limited wait at least retry_after_ms, else 5 s", async () => {
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
    assert.equal(r.link.status.state, "reconnecting");
    assert.equal((r.link.status.retryAt ?? 0) - r.timers.now(), min);
    r.link.dispose();
  }
});

Deno.test("ServerLink: a kick or a ban stops, with the reason and no timer", async () => {
  for (
    const message of ["Disconnected by an administrator", "Banned until 2026-11-25T18:50:12.531"]
  ) {
    const r = await loggedIn();
    r.server.socket.receive({ type: "error", message, code: "forbidden", error: message });
    r.server.socket.serverClose();
    await flush();
    assert.equal(r.link.status.state, "stopped");
    assert.equal(r.link.status.reason?.message, message);
    assert.equal(r.timers.pending, 0);
    // "Se reconnecter" resumes
    r.link.retryNow();
    await flush();
    assert.equal(r.link.status.state, "ready");
    r.link.dispose();
  }
});

Deno.test("ServerLink: auth_failed after resume goes back to the form, name kept, token erased", async () => {
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
  assert.equal(r.link.status.state, "idle");
  assert.equal(r.link.status.reason?.code, "session_expired");
  assert.equal(r.link.status.user, "Alice");
  assert.equal(r.tokens.saved, undefined);
  assert.ok(r.server.socket.closed);
  r.link.dispose();
});

Deno.test("ServerLink waits for `online` while the browser is offline", async () => {
  const r = await loggedIn();
  r.online.value = false;
  r.server.socket.serverClose();
  await flush();
  assert.equal(r.link.status.state, "reconnecting");
  assert.equal(r.link.status.waitingForNetwork, true);
  assert.equal(r.link.status.retryAt, undefined);
  await r.timers.advance(120_000);
  assert.equal(r.server.sockets.length, 1);
  r.online.value = true;
  r.link.networkOnline();
  await flush();
  assert.equal(r.server.sockets.length, 2);
  assert.equal(r.link.status.state, "ready");
  r.link.dispose();
});

Deno.test("ServerLink: the browser's `offline` event drops the socket at once and waits for `online`", async () => {
  const r = await loggedIn();
  r.online.value = false;
  r.link.networkOffline();
  assert.equal(r.link.status.state, "reconnecting");
  assert.equal(r.link.status.waitingForNetwork, true);
  assert.equal(r.server.socket.closed, true);
  await r.timers.advance(120_000);
  assert.equal(r.server.sockets.length, 1, "no attempt while offline");
  r.online.value = true;
  r.link.networkOnline();
  await flush();
  assert.equal(r.link.status.state, "ready");
  r.link.dispose();
});

Deno.test("ServerLink tries at once when the page turns visible or on 'Réessayer maintenant'", async () => {
  const r = await loggedIn();
  r.server.autoOpen = false;
  r.server.socket.serverClose();
  await flush();
  r.link.pageVisible();
  assert.equal(r.server.sockets.length, 2);
  r.server.socket.serverClose();
  await flush();
  assert.equal(r.link.status.state, "reconnecting");
  r.link.retryNow();
  assert.equal(r.server.sockets.length, 3);
  r.link.dispose();
});

Deno.test("ServerLink backoff grows while failing and resets after 30 s in ready", async () => {
  const r = await loggedIn({ random: 0.999 });
  r.server.autoOpen = false;
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    r.server.socket.serverClose();
    await flush();
    const delay = (r.link.status.retryAt ?? 0) - r.timers.now();
    delays.push(delay);
    await r.timers.advance(delay);
  }
  assert.deepEqual(delays, [499, 999, 1998, 3996]);
  // this attempt succeeds and stays up 30 s
  r.server.socket.open();
  await flush();
  assert.equal(r.link.status.state, "ready");
  await r.timers.advance(30_000);
  r.server.socket.serverClose();
  await flush();
  assert.equal((r.link.status.retryAt ?? 0) - r.timers.now(), 499);
  r.link.dispose();
});

Deno.test("ServerLink pings every min(45 s, idle/3) and drops a socket that does not answer", async () => {
  const r = await loggedIn();
  await r.timers.advance(40_000);
  assert.equal(r.server.socket.ofType("ping").length, 1);
  r.server.overrides.set("ping", () => true); // no pong any more
  await r.timers.advance(40_000);
  assert.equal(r.server.socket.ofType("ping").length, 2);
  await r.timers.advance(10_000);
  assert.equal(r.link.status.state, "reconnecting");
  r.link.dispose();
});

Deno.test("ServerLink renews its token on the live socket before it expires", async () => {
  const r = await loggedIn();
  r.server.overrides.set("ping", () => false);
  await r.timers.advance(600_000);
  assert.equal(r.server.socket.ofType("resume").length, 1);
  assert.equal(r.tokens.saved?.token, "token-2");
  assert.equal(r.link.status.state, "ready");
  r.link.dispose();
});

Deno.test("ServerLink: logout closes, forgets the token and the name", async () => {
  const r = await loggedIn();
  r.link.logout();
  assert.equal(r.link.status.state, "idle");
  assert.equal(r.link.status.user, undefined);
  assert.equal(r.tokens.saved, undefined);
  assert.ok(r.server.socket.closed);
  assert.equal(r.timers.pending, 0);
});

Deno.test("ServerLink resumes from a saved token at page load, unless expired", async () => {
  const r = rig();
  r.tokens.saved = { token: "old", user: "Alice", expiresAt: r.timers.now() - 1 };
  assert.equal(r.link.resumeSaved(), false);
  assert.equal(r.tokens.saved, undefined);
  r.tokens.saved = { token: "t", user: "Alice", expiresAt: r.timers.now() + 1000 };
  assert.equal(r.link.resumeSaved(), true);
  await flush();
  assert.deepEqual(r.server.socket.sent.map((q) => q.type), ["hello", "resume"]);
  assert.equal(r.link.status.state, "ready");
  r.link.dispose();
});

Deno.test("ServerLink: requests fail with `closed` when the socket goes", async () => {
  const r = await loggedIn();
  r.server.overrides.set("users", () => true);
  const pending = r.link.request({ type: "users" });
  r.server.socket.serverClose();
  await assert.rejects(pending, (e: { info: { code: string } }) => e.info.code === "closed");
  await assert.rejects(
    r.link.request({ type: "users" }),
    (e: { info: { code: string } }) => e.info.code === "closed",
  );
  r.link.dispose();
});
