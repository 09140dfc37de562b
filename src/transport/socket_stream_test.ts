import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { SocketStream } from "./socket_stream.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A loopback pair: the server's side as a SocketStream, the client's as a Deno.Conn. */
async function pair(): Promise<{ stream: SocketStream; socket: Socket; client: Deno.TcpConn }> {
  const accepted = Promise.withResolvers<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, accepted.resolve);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const socket = await accepted.promise;
  server.close();
  return { stream: new SocketStream(socket), socket, client };
}

/** One read, as a promise. */
function read(stream: SocketStream): Promise<Uint8Array | null> {
  return new Promise((resolve, reject) =>
    stream.read({ readDone: (chunk) => resolve(chunk), readFailed: reject })
  );
}

/** Reads `n` bytes through `stream`. */
async function readBytes(stream: SocketStream, n: number): Promise<string> {
  let text = "";
  while (text.length < n) {
    const chunk = await read(stream);
    assert.notEqual(chunk, null, `ended after ${text.length} of ${n} bytes`);
    text += dec(chunk!);
  }
  return text;
}

Deno.test("SocketStream hands over what the socket delivers, in order", async () => {
  const { stream, client } = await pair();
  const sent = "x".repeat(100_000) + "y".repeat(100_000);
  const writing = (async () => {
    for (let off = 0; off < sent.length;) off += await client.write(enc(sent.slice(off)));
  })();
  assert.equal(await readBytes(stream, sent.length), sent);
  await writing;
  client.close();
  stream.close();
});

Deno.test("SocketStream pauses the socket while a chunk waits for a read", async () => {
  const { stream, socket, client } = await pair();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const paused = Promise.race([
    new Promise((resolve) => socket.once("pause", resolve)),
    // A guard, not a wait: the pause comes with the chunk.
    new Promise((_, reject) => timer = setTimeout(() => reject(new Error("never paused")), 5000)),
  ]).finally(() => clearTimeout(timer));
  // Nothing reads yet: the chunk waits in the stream, and the socket is not read ahead of it.
  await client.write(enc("first line\n"));
  await paused;
  assert.equal(socket.isPaused(), true);
  // A read of a chunk already there answers after it returns, never inside it.
  let answered: string | undefined;
  stream.read({ readDone: (chunk) => answered = dec(chunk!), readFailed: () => {} });
  assert.equal(answered, undefined);
  await Promise.resolve();
  assert.equal(answered, "first line\n");
  // Nothing waits any more: the next read lets the socket flow again.
  const next = read(stream);
  assert.equal(socket.isPaused(), false);
  await client.write(enc("second\n"));
  assert.equal(dec((await next)!), "second\n");
  client.close();
  stream.close();
});

Deno.test("SocketStream reads a half-close as the end, after the bytes sent before it, and still writes", async () => {
  const { stream, client } = await pair();
  await client.write(enc("ping\n"));
  await client.closeWrite();
  assert.equal(await readBytes(stream, 5), "ping\n");
  assert.equal(await read(stream), null);
  assert.equal(await read(stream), null);
  // The client half-closed: the answer still reaches it.
  assert.equal(await stream.write(enc("pong\n")), 5);
  stream.close();
  const answer = new Uint8Array(64);
  const n = await client.read(answer);
  assert.equal(dec(answer.subarray(0, n!)), "pong\n");
  client.close();
});

Deno.test("SocketStream fails a waiting read when it is closed, and writes after it", async () => {
  const { stream, client } = await pair();
  const waiting = read(stream);
  stream.close();
  await assert.rejects(waiting, /closed/);
  await assert.rejects(read(stream), /closed/);
  await assert.rejects(stream.write(enc("late\n")), /closed/);
  // The peer sees the end.
  assert.equal(await client.read(new Uint8Array(64)), null);
  client.close();
});

Deno.test("SocketStream ends a waiting read when the peer resets; the next write fails", async () => {
  const { stream, client } = await pair();
  const waiting = read(stream);
  // The client closes with bytes it has not read: its system answers with a reset, which this
  // runtime's node:net reports as an end.
  await stream.write(enc("unread\n"));
  await new Promise((resolve) => setTimeout(resolve, 50));
  client.close();
  assert.equal(await waiting, null);
  await assert.rejects(stream.write(enc("late\n")), /EPIPE|closed/);
  stream.close();
});
