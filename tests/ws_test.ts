// The web listener over real sockets: the chat over WebSocket (same protocol, limits and metrics
// as TCP, and together with TCP clients), the security of /ws and of the pages, the web app's
// extensions (resume tokens, history after, the console's requests) and export downloads.
import assert from "node:assert/strict";
import {
  parseMetrics,
  startTestServer,
  storeWithAdmin,
  type TestServer,
} from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";

/** A WebSocket client reading JSON frames, each read with a deadline. */
class WsClient implements AsyncDisposable {
  readonly #socket: WebSocket;
  readonly #frames: (string | { closed: CloseEvent })[] = [];
  #wake: (() => void) | undefined;
  closed = false;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (e) => this.#push(String(e.data));
    socket.onclose = (e) => {
      this.closed = true;
      this.#push({ closed: e });
    };
  }

  static async open(url: string, headers?: Record<string, string>): Promise<WsClient> {
    // Deno's WebSocket client takes extra headers (Origin, Host) as its second argument.
    const socket = new WebSocket(url, { headers } as unknown as string[]);
    const client = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = (e) => reject(new Error(`WebSocket failed: ${(e as ErrorEvent).message}`));
    });
    return client;
  }

  send(value: unknown): void {
    this.#socket.send(typeof value === "string" ? value : JSON.stringify(value));
  }

  sendBinary(bytes: Uint8Array): void {
    this.#socket.send(bytes);
  }

  /** The next frame as JSON; rejects at the deadline or when the socket closed. */
  async json(timeoutMs = 5000): Promise<Record<string, unknown>> {
    const frame = await this.#next(timeoutMs);
    if (typeof frame !== "string") throw new Error(`closed (${frame.closed.code})`);
    return JSON.parse(frame);
  }

  async request(value: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.send(value);
    return await this.json();
  }

  /** The frames left, and the close event, once the server closed the socket. */
  async closedWith(timeoutMs = 5000): Promise<{ frames: Record<string, unknown>[]; code: number }> {
    const frames: Record<string, unknown>[] = [];
    for (;;) {
      const frame = await this.#next(timeoutMs);
      if (typeof frame === "string") frames.push(JSON.parse(frame));
      else return { frames, code: frame.closed.code };
    }
  }

  close(): void {
    if (!this.closed) this.#socket.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return;
    this.#socket.close();
    while (!this.closed) await this.#next(5000).catch(() => undefined);
  }

  #push(frame: string | { closed: CloseEvent }): void {
    this.#frames.push(frame);
    this.#wake?.();
  }

  async #next(timeoutMs: number): Promise<string | { closed: CloseEvent }> {
    const deadline = Date.now() + timeoutMs;
    while (this.#frames.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("Timed out waiting for a frame");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.#frames.shift()!;
  }
}

const wsUrl = (srv: TestServer) => `ws://127.0.0.1:${srv.server.webPort}/ws`;
const webUrl = (srv: TestServer, path = "/") => `http://127.0.0.1:${srv.server.webPort}${path}`;

Deno.test("WebSocket and TCP clients chat together in #général and privately, accents included", async () => {
  await using srv = await startTestServer({ web: true, metricsPort: freePort() });
  await using tcp = await srv.connect();
  await tcp.loginAs("Zoé");
  await using ws = await WsClient.open(wsUrl(srv));
  assert.deepEqual(await ws.request({ type: "register", username: "élève", password: "pw" }), {
    type: "register",
    status: "ok",
  });
  assert.equal(
    (await ws.request({ type: "login", username: "élève", password: "pw" })).status,
    "ok",
  );
  assert.deepEqual(await tcp.json(), { type: "status", user: "élève", state: "online" });
  ws.send({ type: "message", content: "Ça déjà-vu, élève ?" });
  const got = await tcp.json();
  assert.deepEqual([got.from, got.content], ["élève", "Ça déjà-vu, élève ?"]);
  await tcp.send({ type: "message", subtype: "private", to: "ÉLÈVE", content: "psst 😀" });
  const pm = await ws.json();
  assert.deepEqual([pm.from, pm.subtype, pm.content], ["Zoé", "private", "psst 😀"]);
  const m = parseMetrics(
    await (await fetch(`http://127.0.0.1:${srv.server.metricsPort}/metrics`)).text(),
  );
  assert.equal(m.get('classcord_connections_open{transport="ws"}'), 1);
  assert.equal(m.get('classcord_connections_open{transport="tcp"}'), 1);
});

Deno.test("WebSocket frames meet the line's limits: too large, binary, bad JSON, rate", async () => {
  await using srv = await startTestServer({
    web: true,
    limits: { maxLineBytes: 200, rateBurst: 2, ratePerSecond: 1 },
  });
  await using ws = await WsClient.open(wsUrl(srv));
  const big = await ws.request({ type: "message", content: "é".repeat(150) }); // 300 bytes
  assert.deepEqual([big.code, big.message], ["too_large", "Line is longer than 200 bytes"]);
  ws.sendBinary(new Uint8Array([1, 2, 3]));
  const binary = await ws.json();
  assert.deepEqual([binary.code, binary.message], [
    "bad_request",
    "Binary frames are not read: send JSON as text",
  ]);
  assert.equal((await ws.request("{nope" as unknown as Record<string, unknown>)).code, "bad_json");
  ws.send({ type: "message", content: "a", from: "guest" }); // no echo (docs/protocol.md §3.3)
  ws.send({ type: "message", content: "b" });
  const limited = await ws.request({ type: "message", content: "c", id: 3 });
  assert.deepEqual([limited.code, limited.id], ["rate_limited", 3]);
});

Deno.test("a page from another origin cannot open /ws; an unknown Host is refused", async () => {
  await using srv = await startTestServer({ web: true, webOrigins: ["https://ent.lycee.example"] });
  const port = srv.server.webPort;
  const upgrade = async (headers: Record<string, string>) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const request = [
      "GET /ws HTTP/1.1",
      `Host: ${headers.host ?? `127.0.0.1:${port}`}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...(headers.origin ? [`Origin: ${headers.origin}`] : []),
      "",
      "",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(request));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    conn.close();
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
  };
  assert.match(await upgrade({ origin: "http://evil.test" }), /^HTTP\/1\.1 403/);
  assert.match(await upgrade({ origin: "null" }), /^HTTP\/1\.1 403/);
  assert.match(await upgrade({ origin: `http://127.0.0.1:${port}` }), /^HTTP\/1\.1 101/);
  assert.match(await upgrade({ origin: "https://ent.lycee.example" }), /^HTTP\/1\.1 101/);
  assert.match(await upgrade({}), /^HTTP\/1\.1 101/, "no Origin: not a browser, as on TCP");
  assert.match(
    await upgrade({ host: "evil.test", origin: "http://evil.test" }),
    /^HTTP\/1\.1 421/,
    "DNS rebinding: a foreign name for our address",
  );
  // The two refused origins are counted, for the operator's alerts.
  const m = parseMetrics(await srv.server.metrics.text());
  assert.equal(m.get('classcord_limit_hits_total{limit="web_origin"}'), 2);
});

Deno.test("the web app is served with strict headers, hashed files cached for good", async () => {
  await using srv = await startTestServer({ web: true });
  const page = await fetch(webUrl(srv));
  const html = await page.text();
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(page.headers.get("cache-control"), "no-cache");
  const csp = page.headers.get("content-security-policy")!;
  for (
    const directive of [
      "default-src 'none'",
      "script-src 'self'",
      `connect-src 'self' ws://127.0.0.1:${srv.server.webPort}`,
      "require-trusted-types-for 'script'",
      "trusted-types 'none'",
      "frame-ancestors 'none'",
    ]
  ) assert.ok(csp.includes(directive), directive);
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  assert.equal(page.headers.get("referrer-policy"), "no-referrer");
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  assert.equal(page.headers.get("set-cookie"), null);
  assert.doesNotMatch(html, /<script>[^<]/, "no inline script");
  const script = html.match(/src="\/?([^"]+\.js)"/)?.[1];
  assert.ok(script, html);
  const js = await fetch(webUrl(srv, `/${script}`));
  await js.body?.cancel();
  assert.equal(js.headers.get("cache-control"), "public, max-age=31536000, immutable");
  const again = await fetch(webUrl(srv, `/${script}`), {
    headers: { "if-none-match": js.headers.get("etag")! },
  });
  await again.body?.cancel();
  assert.equal(again.status, 304);
  const missing = await fetch(webUrl(srv, "/nope"));
  await missing.body?.cancel();
  assert.equal(missing.status, 404);
  const icon = await fetch(webUrl(srv, "/favicon.ico"));
  await icon.body?.cancel();
  assert.equal(icon.status, 204, "no error in the browser's console");
  const post = await fetch(webUrl(srv), { method: "POST" });
  await post.body?.cancel();
  assert.equal(post.status, 405);
});

Deno.test("resume: a page logs in again with its token, not its password; a new password ends it", async () => {
  await using srv = await startTestServer({ web: true });
  let ws = await WsClient.open(wsUrl(srv));
  await ws.request({ type: "hello", version: 2 });
  await ws.request({ type: "register", username: "alice", password: "pw" });
  const login = await ws.request({ type: "login", username: "alice", password: "pw", id: 1 });
  assert.equal(typeof login.resume_token, "string");
  assert.equal(login.resume_expires_ms, 900_000);
  assert.equal(login.admin, undefined);
  assert.deepEqual(Object.keys(login), [
    "type",
    "status",
    "username",
    "resume_token",
    "resume_expires_ms",
    "id",
  ], "the id last, as on every reply");
  ws.close();
  await ws.closedWith();
  ws = await WsClient.open(wsUrl(srv));
  await ws.request({ type: "hello", version: 2 });
  const resumed = await ws.request({ type: "resume", token: login.resume_token, id: 2 });
  assert.deepEqual([resumed.type, resumed.status, resumed.username, resumed.id], [
    "login",
    "ok",
    "alice",
    2,
  ]);
  assert.notEqual(resumed.resume_token, login.resume_token, "a fresh token");
  const bad = await ws.request({ type: "resume", token: "x.y", id: 3 });
  assert.deepEqual([bad.code, bad.message, bad.id], [
    "auth_failed",
    "Session expired: log in again",
    3,
  ]);
  // A page renews its token on its open connection, before it ends: the same reply, nothing else.
  const renewed = await ws.request({ type: "resume", token: resumed.resume_token, id: 5 });
  assert.deepEqual([renewed.status, renewed.username, renewed.id], ["ok", "alice", 5]);
  assert.notEqual(renewed.resume_token, resumed.resume_token);
  assert.deepEqual(await ws.request({ type: "ping", id: 6 }), { type: "pong", id: 6 });
  // A legacy TCP session never sees a token.
  await using tcp = await srv.connect();
  assert.deepEqual(await tcp.request({ type: "login", username: "alice", password: "pw" }), {
    type: "login",
    status: "ok",
    username: "alice",
  });
  // A new password (here written to the store directly) ends every token given before it.
  const { KvStore } = await import("../src/store/kv_store.ts");
  const store = await KvStore.open(srv.db);
  await store.setPasswordHash("alice", "$argon2id$changed");
  store.close();
  const ended = await ws.request({ type: "resume", token: resumed.resume_token, id: 4 });
  assert.equal(ended.code, "auth_failed");
  await ws[Symbol.asyncDispose]();
});

Deno.test("history after a seq pages forward: a page catches up with no gap and no duplicate", async () => {
  await using srv = await startTestServer({ web: true });
  await using tcp = await srv.connect();
  await tcp.loginAs("tcp");
  const seqs: number[] = [];
  for (let i = 1; i <= 5; i++) {
    seqs.push(Number((await tcp.request({ type: "message", content: `m${i}`, id: i })).seq));
  }
  await using ws = await WsClient.open(wsUrl(srv));
  await ws.request({ type: "hello", version: 2 });
  await ws.request({ type: "register", username: "late", password: "pw" });
  await ws.request({ type: "login", username: "late", password: "pw" });
  const page = await ws.request({ type: "history", channel: "#général", after: seqs[1], limit: 2 });
  assert.deepEqual((page.messages as { content: string }[]).map((m) => m.content), ["m3", "m4"]);
  assert.equal(page.more, true);
  const rest = await ws.request({ type: "history", channel: "#général", after: seqs[3], limit: 2 });
  assert.deepEqual((rest.messages as { content: string }[]).map((m) => m.content), ["m5"]);
  assert.equal(rest.more, false);
  const both = await ws.request({ type: "history", after: 1, before: 3 });
  assert.equal(both.code, "bad_request");
});

Deno.test("the teacher console: admin flag, sessions, stats and a one-time export download", async () => {
  await using teacher = await storeWithAdmin("prof", "pw");
  const { db } = teacher;
  await using srv = await startTestServer({ db, web: true });
  await using student = await srv.connect();
  await student.loginAs("élève");
  await student.request({ type: "message", channel: "#sisr", content: "Résumé, «é»", id: 1 });
  await using ws = await WsClient.open(wsUrl(srv));
  await ws.request({ type: "hello", version: 2 });
  const login = await ws.request({ type: "login", username: "prof", password: "pw" });
  assert.equal(login.admin, true);
  const sessions = await ws.request({ type: "sessions", id: "s" });
  assert.deepEqual(
    (sessions.sessions as Record<string, unknown>[]).map((s) => [s.user, s.transport, s.address]),
    [["élève", "tcp", "127.0.0.1"], ["prof", "ws", "127.0.0.1"]],
  );
  const stats = await ws.request({ type: "stats" });
  assert.deepEqual(stats.connections, { tcp: 1, tls: 0, ws: 1 });
  assert.deepEqual(stats.sessions, { user: 2, guest: 0 });
  assert.equal(stats.messages, 1);
  const ticket = await ws.request({ type: "export_ticket", format: "csv", bom: true });
  const url = webUrl(srv, String(ticket.url));
  const download = await fetch(url);
  assert.equal(
    download.headers.get("content-disposition"),
    "attachment; filename*=UTF-8''messages.csv",
  );
  const bytes = new Uint8Array(await download.arrayBuffer());
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], "the BOM for Excel");
  assert.equal(
    new TextDecoder().decode(bytes.subarray(3)).split("\n")[0],
    "Username,Channel,Content,Timestamp",
  );
  const reused = await fetch(url);
  await reused.body?.cancel();
  assert.equal(reused.status, 410, "one download per ticket");
  // Others get forbidden.
  assert.equal((await student.call({ type: "sessions" })).code, "forbidden");
});

Deno.test("behind a balancer of --proxy-from, a page's address is the one it appended to X-Forwarded-For", async () => {
  await using teacher = await storeWithAdmin("prof", "pw");
  const { db } = teacher;
  const addressOf = async (proxyFrom: string) => {
    await using srv = await startTestServer({ db, web: true, proxyFrom });
    // What a client put first proves nothing; the balancer's own entry is the last one.
    await using ws = await WsClient.open(wsUrl(srv), {
      "x-forwarded-for": "10.9.8.7, 192.0.2.5",
    });
    await ws.request({ type: "hello", version: 2 });
    await ws.request({ type: "login", username: "prof", password: "pw" });
    const { sessions } = await ws.request({ type: "sessions" });
    return (sessions as { address: string }[])[0].address;
  };
  assert.equal(await addressOf("127.0.0.1"), "192.0.2.5");
  assert.equal(await addressOf("none"), "127.0.0.1", "from anyone else, the header is ignored");
});

Deno.test("a page that stops answering pings (a sleeping laptop) is closed; one that answers stays", async () => {
  await using srv = await startTestServer({ web: true, webHeartbeatMs: 100 });
  await using alive = await WsClient.open(wsUrl(srv)); // Deno's client answers pings by itself
  // A raw client that completes the handshake and then never reads nor answers.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.server.webPort });
  try {
    await conn.write(new TextEncoder().encode(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${srv.server.webPort}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    ));
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      conn.close();
    }, 5000);
    let received = new Uint8Array(0);
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null); // reset or end: closed either way
      if (n === null) break;
      received = new Uint8Array([...received, ...buf.subarray(0, n)]);
    }
    clearTimeout(deadline);
    assert.ok(!timedOut, "closed by the server within a few heartbeats");
    const text = new TextDecoder().decode(received);
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.ok(received.includes(0x89), "it was pinged (opcode 9) before being closed");
    // The other page answered every ping meanwhile: still served.
    assert.deepEqual(await alive.request({ type: "ping", id: 1 }), { type: "pong", id: 1 });
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
});
