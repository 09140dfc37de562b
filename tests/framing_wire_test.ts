// docs/protocol.md §1: framing and encoding over a real socket: however the bytes are cut, lines
// come out.
import assert from "node:assert/strict";
import { FLOOD_LIMITS, loginAll, startTestServer, type TestClient } from "./helpers/test_server.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Sends `bytes` one write per slice, waiting for each write, so TCP sees separate segments. */
async function writeInPieces(c: TestClient, bytes: Uint8Array, size: number): Promise<void> {
  for (let i = 0; i < bytes.length; i += size) await c.write(bytes.subarray(i, i + size));
}

async function pair() {
  const srv = await startTestServer();
  const alice = await srv.connect();
  const bob = await srv.connect();
  await loginAll([alice, "alice"], [bob, "bob"]);
  return {
    srv,
    alice,
    bob,
    async [Symbol.asyncDispose]() {
      alice.close();
      bob.close();
      await srv[Symbol.asyncDispose]();
    },
  };
}

Deno.test("an object split byte by byte arrives as one message", async () => {
  await using p = await pair();
  await writeInPieces(p.alice, enc('{"type":"message","content":"un à un 😀"}\n'), 1);
  assert.equal((await p.bob.json()).content, "un à un 😀");
});

Deno.test("several objects in one write are all handled, in order", async () => {
  await using p = await pair();
  await p.alice.write(
    '{"type":"message","content":"1"}\n{"type":"message","content":"2"}\r\n' +
      '{"type":"message","content":"3"}\n',
  );
  for (const n of ["1", "2", "3"]) assert.equal((await p.bob.json()).content, n);
});

Deno.test("bursts of lines of every size around the read buffers arrive whole, in order", async () => {
  // A TLS connection of the runtime reads into 128 bytes while idle and into 16 KiB in a burst; a
  // plain one gets what the socket delivered, up to 64 KiB at a time: lines under, at and over
  // those sizes, in bursts separated by lone small lines, cross every boundary between them.
  await using p = await pair();
  const sizes = [1, 480, 512, 1500, 16_384, 16_385, 30_000, 3]; // two rounds: within the rate
  const line = (n: number, i: number) => `{"type":"message","content":"${i}:${"é".repeat(n)}"}\n`;
  for (const round of [0, 1]) {
    await p.alice.write(sizes.map(line).join(""));
    for (const [i, n] of sizes.entries()) {
      const got = String((await p.bob.json()).content);
      // Compared whole, but only lengths are printed on a failure (lines run to 60 KB).
      assert.ok(got === `${i}:${"é".repeat(n)}`, `round ${round}, line ${i}: ${got.length} chars`);
    }
    await p.alice.write(line(2, 99));
    assert.equal((await p.bob.json()).content, `99:éé`);
  }
});

Deno.test("a multi-byte character cut between two writes is decoded whole", async () => {
  await using p = await pair();
  const bytes = enc('{"type":"message","content":"é"}\n');
  const cut = bytes.indexOf(0xc3) + 1; // between the two bytes of é
  await p.alice.write(bytes.subarray(0, cut));
  await p.alice.write(bytes.subarray(cut));
  assert.equal((await p.bob.json()).content, "é");
});

Deno.test("CRLF and lone CR end lines like LF", async () => {
  await using p = await pair();
  await p.alice.write('{"type":"message","content":"crlf"}\r\n');
  await p.alice.write('{"type":"message","content":"cr"}\r');
  await p.alice.write('{"type":"message","content":"lf"}\n');
  for (const n of ["crlf", "cr", "lf"]) assert.equal((await p.bob.json()).content, n);
  await p.alice.expectNothingPending();
});

Deno.test("a Windows-1252 line is decoded, and forwarded as ASCII escapes", async () => {
  await using p = await pair();
  // What a Java client on a French Windows sends for "Café à 5€".
  const text = '{"type":"message","content":"Caf\xe9 \xe0 5\x80"}\n';
  const bytes = Uint8Array.from([...text].map((c) => c.charCodeAt(0)));
  await p.alice.write(bytes);
  const line = await p.bob.line();
  assert.ok(line.includes("Caf\\u00e9 \\u00e0 5\\u20ac"));
  assert.equal(JSON.parse(line).content, "Café à 5€");
});

Deno.test("bad JSON and unknown types get an error and the connection stays", async () => {
  await using p = await pair();
  assert.equal((await p.alice.request("not json" as unknown as object)).code, "bad_request");
  await p.alice.write("{oops\n");
  assert.equal((await p.alice.json()).code, "bad_json");
  await p.alice.write("\xff\xfe garbage\n");
  assert.equal((await p.alice.json()).code, "bad_json");
  assert.deepEqual(await p.alice.request({ type: "dance", id: 4 }), {
    type: "error",
    message: 'Unknown type "dance"',
    code: "unknown_type",
    error: 'Unknown type "dance"',
    id: 4,
  });
  assert.equal((await p.alice.request({ type: "message" })).message, 'Field "content" is missing');
  await p.alice.send({ type: "message", content: "still here" });
  assert.equal((await p.bob.json()).content, "still here");
});

Deno.test("a line over 64 KiB gets too_large, is skipped, and the next line works", async () => {
  await using p = await pair();
  const big = `{"type":"message","content":"${"x".repeat(70 * 1024)}"}\n`;
  await p.alice.write(big + '{"type":"message","content":"after"}\n');
  const reply = await p.alice.json();
  assert.equal(reply.code, "too_large");
  assert.equal((await p.bob.json()).content, "after");
});

Deno.test("connections that come and go each read their own bytes, never another's", async () => {
  // Many connections, then half of them replaced, all writing at once: no read, buffer or
  // chunk is ever handed to another connection than the one whose bytes it holds.
  await using srv = await startTestServer({
    limits: { ...FLOOD_LIMITS, maxAnonymous: 10_000, maxConnections: 10_000 },
  });
  const open = (n: number) => Promise.all(Array.from({ length: n }, () => srv.connect()));
  /** Every client pings with its own id, all at once, and must get its own id back. */
  const pingAll = async (clients: TestClient[], round: string) => {
    await Promise.all(clients.map((c, i) => c.send({ type: "ping", id: `${round}-${i}` })));
    const replies = await Promise.all(clients.map((c) => c.json()));
    assert.deepEqual(
      replies.map((r) => r.id),
      clients.map((_, i) => `${round}-${i}`),
    );
  };
  const first = await open(600);
  await pingAll(first, "a");
  for (const c of first.slice(0, 300)) c.close();
  const second = [...first.slice(300), ...await open(300)];
  try {
    await pingAll(second, "b");
    await pingAll(second, "c");
  } finally {
    for (const c of second) c.close();
  }
});
