// The inspector over real sockets (docs/protocol.md §11.8): a student's web session sees the lines
// of their own TCP client, with the server's reading and a hint; never another account's, never
// a password; a teacher sees every connection's health and inspects an anonymous one; a legacy
// client never sees a line of it.
import assert from "node:assert/strict";
import { startTestServer, storeWithAdmin, TestClient } from "./helpers/test_server.ts";
import { WsStream } from "./helpers/ws_stream.ts";

type Line = Record<string, unknown>;

/** A hello'd web session over WebSocket, logged in as `name`. */
async function webSession(port: number, name: string, register = true): Promise<TestClient> {
  const ws = TestClient.over(await WsStream.connect(port));
  await ws.request({ type: "hello", version: 1 });
  await (register ? ws.loginAs(name) : ws.login(name));
  return ws;
}

/** The next `inspect_line` for connection `conn` (skipping other lines), with a deadline. */
function nextLine(client: TestClient, conn: number, dir?: "in" | "out"): Promise<Line> {
  return client.until((l) =>
    l.type === "inspect_line" && l.conn === conn && (dir === undefined || l.dir === dir)
  );
}

Deno.test("a student's inspector shows their TCP client's lines, readings and hints, masked", async () => {
  await using srv = await startTestServer({ web: true });
  await using web = await webSession(srv.server.webPort, "alice");
  assert.deepEqual(await web.request({ type: "inspect", id: 1 }), { type: "inspect", id: 1 });

  // The student's Java client: mistakes before logging in, then the login.
  await using tcp = await srv.connect();
  await tcp.write('{"type":"msg","content":"salut"}\n');
  assert.equal((await tcp.json()).code, "unknown_type");
  await tcp.write('{"type":"message" "content":"oups"}\n');
  assert.equal((await tcp.json()).code, "bad_json");
  await tcp.send({ type: "login", username: "alice", password: "secret" });
  assert.equal((await tcp.json()).status, "ok");

  // Once it logs in, the inspector gets the connection, then what it sent before, in order.
  const opened = await web.until((l) => l.type === "inspect_conn");
  assert.equal(opened.event, "identified");
  const info = opened.conn as Line;
  assert.equal(info.transport, "tcp");
  assert.equal(info.name, "alice");
  const conn = info.conn as number;
  const first = await nextLine(web, conn);
  assert.equal(first.dir, "in");
  assert.equal(first.line, '{"type":"msg","content":"salut"}');
  assert.deepEqual((first.reading as Line).hint, {
    kind: "unknown_type",
    type: "msg",
    suggestion: "message",
  });
  assert.equal(((first.reading as Line).error as Line).code, "unknown_type");
  const reply = await nextLine(web, conn);
  assert.equal(reply.dir, "out");
  assert.match(reply.line as string, /"code":"unknown_type"/);
  const badJson = await nextLine(web, conn, "in");
  assert.deepEqual((badJson.reading as Line).hint, { kind: "bad_json", position: 18 });
  await nextLine(web, conn, "out");
  const login = await nextLine(web, conn, "in");
  assert.equal(login.line, '{"type":"login","username":"alice","password":"••••••"}');
  assert.deepEqual(login.reading, { request: "login" });
  const loginReply = await nextLine(web, conn, "out");
  assert.match(loginReply.line as string, /"status":"ok"/);

  // Live from now on: a line without its end, then the end, then one in Windows-1252.
  await tcp.write('{"type":"message","content":"ça');
  const partial = await nextLine(web, conn, "in");
  assert.equal(partial.partial, true);
  assert.equal(partial.line, '{"type":"message","content":"ça');
  assert.equal(((partial.reading as Line).hint as Line).kind, "no_newline");
  await tcp.write(' va"}\n');
  const whole = await nextLine(web, conn, "in");
  assert.equal(whole.partial, undefined);
  assert.deepEqual(whole.reading, { request: "message" });
  await tcp.write(
    new Uint8Array([
      ...new TextEncoder().encode('{"type":"message","content":"caf'),
      0xe9,
      0x22,
      0x7d,
      0x0a,
    ]),
  );
  const cp1252 = await nextLine(web, conn, "in");
  assert.equal(cp1252.line, '{"type":"message","content":"café"}');
  assert.deepEqual(cp1252.reading, { request: "message", hint: { kind: "encoding" } });
});

Deno.test("a student never sees another account's connections", async () => {
  await using srv = await startTestServer({ web: true });
  await using web = await webSession(srv.server.webPort, "alice");
  await web.request({ type: "inspect" });
  await using bob = await srv.connect();
  await bob.write('{"type":"oops"}\n');
  await bob.json();
  await bob.loginAs("bob");
  // Bob's own attempt to inspect Alice's connection by its number is refused.
  await using bobWeb = await webSession(srv.server.webPort, "bob", false);
  const refused = await bobWeb.request({ type: "inspect", conn: 1 });
  assert.equal(refused.code, "forbidden");
  // Alice's own TCP client is the first connection she is shown.
  await using mine = await srv.connect();
  await mine.login("alice", "secret");
  const opened = await web.until((l) => l.type === "inspect_conn");
  assert.equal((opened.conn as Line).name, "alice");
  const conn = (opened.conn as Line).conn;
  // Everything the inspector got, up to the reply to a request sent now: her client's lines only.
  await web.send({ type: "users", id: "end" });
  for (;;) {
    const line = await web.json();
    if (line.id === "end") break;
    if (line.type === "inspect_line") assert.equal(line.conn, conn, JSON.stringify(line));
    assert.notEqual(line.type, "inspect_conn", JSON.stringify(line));
  }
});

Deno.test("a teacher sees every connection's health and inspects an anonymous one", async () => {
  await using store = await storeWithAdmin("prof", "secret");
  await using srv = await startTestServer({ web: true, db: store.db });
  await using teacher = await webSession(srv.server.webPort, "prof", false);
  await using anon = await srv.connect();
  await anon.write("hello\n");
  await anon.json();
  await anon.write('{"type":"login","username":"x","password":"hunter2"}\n');
  await anon.json();
  const list = await teacher.request({ type: "connections", id: "c" });
  assert.equal(list.type, "connections");
  const row = (list.connections as Line[]).find((c) => c.state === "anonymous")!;
  assert.equal(row.transport, "tcp");
  assert.deepEqual(row.health, {
    lines: 2,
    errors: 2,
    bad_json: 1,
    unknown_types: 0,
    limits: 0,
    last_error: (row.health as Line).last_error,
  });
  assert.equal(((row.health as Line).last_error as Line).code, "auth_failed");
  const conn = row.conn as number;
  assert.deepEqual(await teacher.request({ type: "inspect", conn }), { type: "inspect", conn });
  const watched = await teacher.until((l) => l.type === "inspect_conn");
  assert.equal((watched.conn as Line).state, "anonymous");
  // What it sent so far, then live; the password never shows.
  assert.equal((await nextLine(teacher, conn, "in")).line, "hello");
  await nextLine(teacher, conn, "out");
  const login = await nextLine(teacher, conn, "in");
  assert.doesNotMatch(login.line as string, /hunter2/);
  await anon.write('{"type":"users"}\n');
  assert.deepEqual((await nextLine(teacher, conn, "in")).reading, { request: "users" });
  anon.close();
  const closed = await teacher.until((l) => l.type === "inspect_conn" && l.event === "closed");
  assert.equal((closed.conn as Line).conn, conn);
});

Deno.test("a legacy client is refused the inspector and never sees a line of it", async () => {
  await using srv = await startTestServer({ web: true });
  await using legacy = await srv.connect();
  await legacy.loginAs("alice");
  const refused = await legacy.request({ type: "inspect" });
  assert.equal(refused.code, "forbidden");
  // Watched by its own web session, it still gets only its usual lines.
  await using web = await webSession(srv.server.webPort, "alice", false);
  await web.request({ type: "inspect" });
  const conn = ((await web.until((l) => l.type === "inspect_conn")).conn as Line).conn as number;
  await legacy.send({ type: "message", content: "bonjour" });
  assert.deepEqual((await nextLine(web, conn, "in")).reading, { request: "message" });
  await legacy.expectNothingPending();
});
