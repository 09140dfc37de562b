// docs/protocol.md §7: the same protocol over TLS, checked with a real TLS client (openssl
// s_client) and with Deno's own, using a certificate the test makes with openssl.
import assert from "node:assert/strict";
import { launch } from "./helpers/process.ts";
import { parseMetrics, startTestServer } from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";
import { makeCertificate } from "./helpers/certs.ts";
import { needs } from "./helpers/tools.ts";

Deno.test(
  "openssl s_client registers, logs in and gets users over the TLS listener",
  needs("openssl"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_tls_" });
    try {
      const tls = await makeCertificate(dir);
      await using srv = await startTestServer({ tls: { cert: tls.cert, key: tls.key } });
      const child = new Deno.Command("openssl", {
        args: [
          "s_client",
          "-connect",
          `127.0.0.1:${srv.server.tlsPort}`,
          "-CAfile",
          tls.ca,
          "-verify_return_error",
          "-quiet",
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(
        '{"type":"register","username":"tls","password":"pw"}\n' +
          '{"type":"login","username":"tls","password":"pw"}\n{"type":"users"}\n',
      ));
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (out.split("\n").length < 4) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      await writer.close();
      child.kill("SIGTERM");
      await reader.cancel();
      await child.status;
      clearTimeout(killer);
      assert.deepEqual(out.trim().split("\n"), [
        '{"type":"register","status":"ok"}',
        '{"type":"login","status":"ok","username":"tls"}',
        '{"type":"users","users":["tls"]}',
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "TLS and plain TCP clients chat together; metrics label the transport",
  needs("openssl"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_tls_" });
    try {
      const tls = await makeCertificate(dir);
      await using srv = await startTestServer({
        tls: { cert: tls.cert, key: tls.key },
        metricsPort: freePort(),
      });
      await using plain = await srv.connect();
      await plain.loginAs("plain");
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: srv.server.tlsPort,
        caCerts: [await Deno.readTextFile(tls.ca)],
      });
      try {
        const enc = new TextEncoder();
        await conn.write(enc.encode(
          '{"type":"register","username":"secure","password":"pw"}\n' +
            '{"type":"login","username":"secure","password":"pw"}\n' +
            '{"type":"message","content":"over TLS","id":1}\n',
        ));
        const msg = await plain.json().then(async (first) =>
          first.type === "status" ? await plain.json() : first
        );
        assert.equal(msg.from, "secure");
        assert.equal(msg.content, "over TLS");
        const text = await (await fetch(`http://127.0.0.1:${srv.server.metricsPort}/metrics`))
          .text();
        const m = parseMetrics(text);
        assert.equal(m.get('classcord_connections_open{transport="tls"}'), 1);
        assert.equal(m.get('classcord_connections_open{transport="tcp"}'), 1);
      } finally {
        conn.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** A TLS client that trusts `ca` only; logs in as `name` and returns its connection. */
async function tlsUser(port: number, ca: string, name: string): Promise<Deno.TlsConn> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [await Deno.readTextFile(ca)],
  });
  try {
    await conn.handshake();
  } catch (err) {
    conn.close();
    throw err;
  }
  await conn.write(new TextEncoder().encode(
    `{"type":"register","username":"${name}","password":"pw"}\n` +
      `{"type":"login","username":"${name}","password":"pw"}\n`,
  ));
  return conn;
}

/** The next lines of a connection, until `count` have come. */
async function lines(conn: Deno.Conn, count: number): Promise<Record<string, unknown>[]> {
  let text = "";
  const buf = new Uint8Array(4096);
  while (text.split("\n").length <= count) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test(
  "SIGHUP reloads a renewed certificate: new TLS and HTTPS clients see it, sessions stay",
  needs("openssl"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_tls_" });
    try {
      await Deno.mkdir(`${dir}/old`);
      await Deno.mkdir(`${dir}/new`);
      const before = await makeCertificate(`${dir}/old`);
      const renewed = await makeCertificate(`${dir}/new`);
      const [cert, key] = [`${dir}/cert.pem`, `${dir}/key.pem`];
      await Deno.copyFile(before.cert, cert);
      await Deno.copyFile(before.key, key);
      const tlsPort = freePort();
      const webPort = freePort();
      const server = await launch([
        "--host=127.0.0.1",
        "--port=0",
        "--metrics-port=0",
        "--db=:memory:",
        `--web-port=${webPort}`,
        `--tls-port=${tlsPort}`,
        `--tls-cert=${cert}`,
        `--tls-key=${key}`,
      ]);
      try {
        const early = await tlsUser(tlsPort, before.ca, "early");
        assert.deepEqual((await lines(early, 2)).map((l) => l.status), ["ok", "ok"]);
        // Signed by the renewal's CA only: refused until the server reloads, HTTPS too.
        await assert.rejects(tlsUser(tlsPort, renewed.ca, "late"));
        const page = async (ca: string) => {
          using client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(ca)] });
          const res = await fetch(`https://127.0.0.1:${webPort}/`, { client });
          await res.body?.cancel();
          return res.status;
        };
        assert.equal(await page(before.ca), 200);
        await assert.rejects(page(renewed.ca));
        await Deno.copyFile(renewed.cert, cert);
        await Deno.copyFile(renewed.key, key);
        server.child.kill("SIGHUP");
        await server.output(/TLS listener reloaded/);
        const late = await tlsUser(tlsPort, renewed.ca, "late");
        assert.equal(await page(renewed.ca), 200);
        assert.deepEqual((await lines(late, 2)).map((l) => l.status), ["ok", "ok"]);
        // The session from before the reload is still there, and hears the newcomer.
        assert.deepEqual(await lines(early, 1), [{
          type: "status",
          user: "late",
          state: "online",
        }]);
        await early.write(new TextEncoder().encode('{"type":"users"}\n'));
        assert.deepEqual((await lines(early, 1))[0].users, ["early", "late"]);
        early.close();
        late.close();
      } finally {
        server.child.kill("SIGTERM");
      }
      const { code, out } = await server.exit();
      assert.equal(code, 0);
      assert.match(out, /Received SIGHUP/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "with a certificate the web listener speaks HTTPS and WSS, and the chat works over WSS",
  needs("openssl"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_wss_" });
    try {
      const tls = await makeCertificate(dir);
      await using srv = await startTestServer({ tls: { cert: tls.cert, key: tls.key }, web: true });
      const port = srv.server.webPort;
      const caCerts = [await Deno.readTextFile(tls.ca)];
      using client = Deno.createHttpClient({ caCerts });
      const page = await fetch(`https://127.0.0.1:${port}/`, { client });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<div id="app">/);
      // The page's own origin is https: its WebSocket is wss, and the CSP says so.
      assert.match(page.headers.get("content-security-policy")!, /connect-src 'self' wss:\/\/127/);

      await using tcp = await srv.connect();
      await tcp.loginAs("plain");
      const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts });
      try {
        const enc = new TextEncoder();
        await conn.write(enc.encode(
          `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: https://127.0.0.1:${port}\r\n` +
            "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ));
        const frames = wsFrames(conn);
        assert.match(await frames.head, /^HTTP\/1\.1 101 /);
        // RFC 6455 §1.3's example key and its answer.
        assert.match(await frames.head, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
        for (
          const request of [
            { type: "register", username: "secure", password: "pw" },
            { type: "login", username: "secure", password: "pw" },
            { type: "message", content: "sur WSS, éèà" },
          ]
        ) await conn.write(maskedTextFrame(JSON.stringify(request)));
        assert.equal((await frames.next()).status, "ok");
        assert.equal((await frames.next()).status, "ok");
        const first = await tcp.json();
        const msg = first.type === "status" ? await tcp.json() : first;
        assert.deepEqual([msg.from, msg.content], ["secure", "sur WSS, éèà"]);
      } finally {
        conn.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** A client's text frame: masked (RFC 6455 §5.3), short payloads only. */
function maskedTextFrame(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  assert.ok(payload.length < 126);
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const frame = new Uint8Array(6 + payload.length);
  frame.set([0x81, 0x80 | payload.length, ...mask]);
  payload.forEach((b, i) => frame[6 + i] = b ^ mask[i % 4]);
  return frame;
}

/** The HTTP head a WebSocket handshake answers, then its text frames as JSON (short ones). */
function wsFrames(
  conn: Deno.Conn,
): { head: Promise<string>; next(): Promise<Record<string, unknown>> } {
  let bytes = new Uint8Array(0);
  const more = async () => {
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    if (n === null) throw new Error("closed");
    const joined = new Uint8Array(bytes.length + n);
    joined.set(bytes);
    joined.set(buf.subarray(0, n), bytes.length);
    bytes = joined;
  };
  const head = (async () => {
    for (;;) {
      const end = new TextDecoder().decode(bytes).indexOf("\r\n\r\n");
      if (end >= 0) {
        const text = new TextDecoder().decode(bytes.subarray(0, end));
        bytes = bytes.slice(end + 4);
        return text;
      }
      await more();
    }
  })();
  return {
    head,
    async next() {
      await head;
      for (;;) {
        if (bytes.length >= 2 && bytes.length >= 2 + (bytes[1] & 0x7f)) {
          assert.ok((bytes[1] & 0x7f) < 126, "a short frame");
          const len = bytes[1] & 0x7f;
          const text = new TextDecoder().decode(bytes.subarray(2, 2 + len));
          bytes = bytes.slice(2 + len);
          return JSON.parse(text);
        }
        await more();
      }
    },
  };
}
