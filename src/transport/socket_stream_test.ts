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
function read(stream: SocketStream, buffer: Uint8Array): Promise<number | null> {
  return new Promise((resolve, reject) => stream.read(buffer, resolve, reject));
}

/** Reads `n` bytes through `stream` with a buffer of `size`. */
async function readBytes(stream: SocketStream, n: number, size: number): Promise<string> {
  let text = "";
  while (text.length < n) {
    const buf = new Uint8Array(size);
    const got = await read(stream, buf);
    assert.notEqual(got, null, `ended after ${text.length} of ${n} bytes`);
    text += dec(buf.subarray(0, got!));
  }
  return text;
}

Deno.test("SocketStream hands a chunk larger than the read's buffer over in pieces, in order", async () => {
  const { stream, client } = await pair();
  const sent = "x".repeat(1000) + "y".repeat(1000);
  await client.write(enc(sent));
  assert.equal(await readBytes(stream, sent.length, 128), sent);
  client.close();
  stream.close();
});

Deno.test("SocketStream pauses the socket while delivered bytes wait for a read", async () => {
  const { stream, socket, client } = await pair();
  await client.write(enc("first line that is longer than the buffer\n"));
  const buf = new Uint8Array(8);
  assert.equal(await read(stream, buf), 8);
  // The rest waits in the stream: the socket is not read ahead of it.
  assert.equal(socket.isPaused(), true);
  // A read of bytes already there answers after it returns, never inside it.
  let answered = false;
  const early = new Uint8Array(4);
  stream.read(early, () => answered = true, () => {});
  assert.equal(answered, false);
  await Promise.resolve();
  assert.equal(answered, true);
  const rest = await readBytes(stream, 42 - 8 - 4, 64);
  assert.equal(dec(buf) + dec(early) + rest, "first line that is longer than the buffer\n");
  // Nothing waits any more: the next read lets the socket flow again.
  const next = read(stream, new Uint8Array(64));
  assert.equal(socket.isPaused(), false);
  await client.write(enc("second\n"));
  assert.equal(await next, 7);
  client.close();
  stream.close();
});

Deno.test("SocketStream reads a half-close as the end, after the bytes sent before it, and still writes", async () => {
  const { stream, client } = await pair();
  await client.write(enc("ping\n"));
  await client.closeWrite();
  assert.equal(await readBytes(stream, 5, 64), "ping\n");
  assert.equal(await read(stream, new Uint8Array(64)), null);
  assert.equal(await read(stream, new Uint8Array(64)), null);
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
  const waiting = read(stream, new Uint8Array(64));
  stream.close();
  await assert.rejects(waiting, /closed/);
  await assert.rejects(read(stream, new Uint8Array(64)), /closed/);
  await assert.rejects(stream.write(enc("late\n")), /closed/);
  // The peer sees the end.
  assert.equal(await client.read(new Uint8Array(64)), null);
  client.close();
});

Deno.test("SocketStream ends a waiting read when the peer resets; the next write fails", async () => {
  const { stream, client } = await pair();
  const waiting = read(stream, new Uint8Array(64));
  // The client closes with bytes it has not read: its system answers with a reset, which this
  // runtime's node:net reports as an end.
  await stream.write(enc("unread\n"));
  await new Promise((resolve) => setTimeout(resolve, 50));
  client.close();
  assert.equal(await waiting, null);
  await assert.rejects(stream.write(enc("late\n")), /EPIPE|closed/);
  stream.close();
});
