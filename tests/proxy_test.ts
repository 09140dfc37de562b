// The PROXY protocol behind a real HAProxy (TCP mode, v1 and v2, TLS passed through): the server
// sees each client's own address, caps it per client, reads no header from anyone but the
// balancer, and closes the balancer's bad, silent or LOCAL connections without serving them.
// Every address is on loopback: HAProxy connects from 127.0.0.2 (the only one in --proxy-from),
// clients bind 127.0.0.x addresses of their own (node:net's localAddress).
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { KvStore } from "../src/store/kv_store.ts";
import { type Haproxy, proxyV2Header, startHaproxy } from "./helpers/haproxy.ts";
import { parseMetrics, startTestServer, type TestServer } from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";
import { needs } from "./helpers/tools.ts";
import { makeCertificate } from "./helpers/certs.ts";

const BALANCER = "127.0.0.2";
const READ_TIMEOUT_MS = 5000;
const encoder = new TextEncoder();

/** A line client over node:net (or node:tls) from a chosen local address. */
class NetClient implements AsyncDisposable {
  readonly #socket: net.Socket;
  #buffer = "";
  #ended = false;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      this.#buffer += text;
      this.#notify();
    });
    const end = () => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  /** Connects from `from` to 127.0.0.1:`port`, over TLS trusting `ca` when given. */
  static async connect(port: number, from: string, ca?: string): Promise<NetClient> {
    const raw = net.connect({ host: "127.0.0.1", port, localAddress: from });
    await new Promise<void>((resolve, reject) => {
      raw.once("connect", resolve);
      raw.once("error", reject);
    });
    if (!ca) return new NetClient(raw);
    const socket = tls.connect({ socket: raw, ca, servername: "localhost" });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", (err) => {
        raw.destroy();
        reject(err);
      });
    });
    return new NetClient(socket);
  }

  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (err) => err ? reject(err) : resolve());
    });
  }

  async request(value: unknown): Promise<Record<string, unknown>> {
    await this.write(JSON.stringify(value) + "\n");
    return JSON.parse(await this.line());
  }

  /** Sends a request and returns the first line of its type (or an error), skipping others. */
  async call(value: { type: string }): Promise<Record<string, unknown>> {
    await this.write(JSON.stringify(value) + "\n");
    for (;;) {
      const line = JSON.parse(await this.line());
      if (line.type === value.type || line.type === "error") return line;
    }
  }

  /** Registers then logs in, as a legacy client (no hello). */
  async loginAs(name: string): Promise<void> {
    assert.equal(
      (await this.request({ type: "register", username: name, password: "pw" })).status,
      "ok",
    );
    assert.equal(
      (await this.request({ type: "login", username: name, password: "pw" })).status,
      "ok",
    );
  }

  /** The next line; rejects on timeout or when the server closed first. */
  async line(timeoutMs = READ_TIMEOUT_MS): Promise<string> {
    await this.#until(() => this.#buffer.includes("\n") || this.#ended, timeoutMs);
    const lf = this.#buffer.indexOf("\n");
    if (lf < 0) throw new Error("Connection closed by the server before a full line");
    const line = this.#buffer.slice(0, lf);
    this.#buffer = this.#buffer.slice(lf + 1);
    return line;
  }

  /** Resolves once the server has closed the connection, with the lines it sent before. */
  async closed(timeoutMs = READ_TIMEOUT_MS): Promise<string[]> {
    await this.#until(() => this.#ended, timeoutMs);
    return this.#buffer.split("\n").filter((l) => l !== "");
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#socket.destroy();
    return Promise.resolve();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #until(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("Timed out waiting for the server");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
}

/** A server whose store has an administrator `prof`; `sessions()` asks it who is where. */
async function serverWithTeacher(
  options: Parameters<typeof startTestServer>[0] = {},
): Promise<
  {
    srv: TestServer;
    sessions(): Promise<string[][]>;
    limitHits(): Promise<number>;
  } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_proxy_" });
  const db = `${dir}/classcord.kv`;
  {
    await using seed = await startTestServer({ db });
    await using c = await seed.connect();
    await c.request({ type: "register", username: "prof", password: "pw" });
  }
  const store = await KvStore.open(db);
  await store.setAdmin("prof", true);
  store.close();
  const srv = await startTestServer({ proxyFrom: BALANCER, ...options, db });
  return {
    srv,
    /** [user, transport, address] of every session but the teacher's, by name. */
    async sessions() {
      await using prof = await srv.connect();
      await prof.login("prof", "pw");
      const reply = await prof.request({ type: "sessions" });
      return (reply.sessions as Record<string, string>[])
        .filter((s) => s.user !== "prof")
        .map((s) => [s.user, s.transport, s.address])
        .sort(([a], [b]) => a < b ? -1 : 1);
    },
    async limitHits() {
      const metrics = parseMetrics(await srv.server.metrics.text());
      return metrics.get('classcord_limit_hits_total{limit="proxy_header"}') ?? NaN;
    },
    async [Symbol.asyncDispose]() {
      await srv[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test(
  "through HAProxy with PROXY v2 and v1, legacy clients are served under their own address",
  needs("haproxy"),
  async () => {
    await using fx = await serverWithTeacher();
    await using haproxy = await startHaproxy([
      { source: BALANCER, servers: [{ port: fx.srv.port, proxy: 2 }] },
      { source: BALANCER, servers: [{ port: fx.srv.port, proxy: 1 }] },
    ]);
    await using v2 = await NetClient.connect(haproxy.ports[0], "127.0.0.5");
    await v2.loginAs("viaV2");
    await using v1 = await NetClient.connect(haproxy.ports[1], "127.0.0.6");
    await v1.loginAs("viaV1");
    assert.deepEqual((await v1.request({ type: "users" })).users, ["viaV2", "viaV1"]);
    assert.deepEqual(await fx.sessions(), [
      ["viaV1", "tcp", "127.0.0.6"],
      ["viaV2", "tcp", "127.0.0.5"],
    ]);
  },
);

Deno.test(
  "behind HAProxy, the per-address connection cap counts each client, not the balancer",
  needs("haproxy"),
  async () => {
    await using srv = await startTestServer({
      proxyFrom: BALANCER,
      trusted: "none",
      limits: { maxConnectionsPerAddress: 2 },
    });
    await using haproxy = await startHaproxy([{
      source: BALANCER,
      servers: [{ port: srv.port }],
    }]);
    const port = haproxy.ports[0];
    await using a1 = await NetClient.connect(port, "127.0.0.5");
    await using a2 = await NetClient.connect(port, "127.0.0.5");
    for (const a of [a1, a2]) assert.equal((await a.request({ type: "users" })).type, "users");
    await using a3 = await NetClient.connect(port, "127.0.0.5");
    const [refusal] = await a3.closed();
    assert.equal(JSON.parse(refusal).code, "server_busy");
    // Two more clients of their own: neither is refused for the first one's connections.
    await using b = await NetClient.connect(port, "127.0.0.6");
    await using c = await NetClient.connect(port, "127.0.0.7");
    for (const x of [b, c]) assert.equal((await x.request({ type: "users" })).type, "users");
  },
);

Deno.test(
  "a PROXY line from an address not in --proxy-from is a bad line of an ordinary client",
  async () => {
    await using fx = await serverWithTeacher({ proxyFrom: BALANCER });
    await using c = await fx.srv.connect(); // from 127.0.0.1
    await c.write("PROXY TCP4 203.0.113.9 127.0.0.1 50000 12345\r\n");
    assert.equal((await c.json()).code, "bad_json");
    await c.loginAs("spoofer");
    assert.deepEqual(await fx.sessions(), [["spoofer", "tcp", "127.0.0.1"]]);
    assert.equal(await fx.limitHits(), 0);
  },
);

Deno.test("the balancer's header and its client's first line in one write: both are read", async () => {
  await using fx = await serverWithTeacher();
  const register = (name: string) =>
    encoder.encode(`{"type":"register","username":"${name}","password":"pw"}\n`);
  const login = (name: string) =>
    encoder.encode(`{"type":"login","username":"${name}","password":"pw"}\n`);
  const clients = [
    [proxyV2Header({ source: "2001:db8::7" }), "six"],
    [encoder.encode("PROXY TCP4 198.51.100.4 127.0.0.1 50000 12345\r\n"), "four"],
  ] as const;
  const conns: NetClient[] = [];
  try {
    for (const [header, name] of clients) {
      const c = await NetClient.connect(fx.srv.port, BALANCER);
      conns.push(c);
      const all = [...header, ...register(name), ...login(name)];
      await c.write(Uint8Array.from(all));
      assert.equal(JSON.parse(await c.line()).status, "ok");
      assert.equal(JSON.parse(await c.line()).status, "ok");
    }
    assert.deepEqual(await fx.sessions(), [
      ["four", "tcp", "198.51.100.4"],
      ["six", "tcp", "2001:db8::7"],
    ]);
  } finally {
    for (const c of conns) await c[Symbol.asyncDispose]();
  }
});

Deno.test("a LOCAL header from the balancer (a health check) is closed quietly", async () => {
  await using fx = await serverWithTeacher();
  await using check = await NetClient.connect(fx.srv.port, BALANCER);
  await check.write(proxyV2Header({ command: "local" }));
  assert.deepEqual(await check.closed(), []);
  const metrics = parseMetrics(await fx.srv.server.metrics.text());
  const closed = [...metrics].filter(([k]) => k.startsWith("classcord_connections_closed_total"));
  assert.deepEqual(closed.filter(([, v]) => v > 0), [], "not served as a connection");
  assert.equal(await fx.limitHits(), 0, "not counted as a bad header");
});

Deno.test("a balancer's connection without a valid header is closed unanswered and counted", async () => {
  await using fx = await serverWithTeacher();
  for (
    const start of [
      '{"type":"users"}\n', // HAProxy without send-proxy: the client's own line
      "PROXY TCP4 1.2.3.4\r\n",
    ]
  ) {
    await using c = await NetClient.connect(fx.srv.port, BALANCER);
    await c.write(start);
    assert.deepEqual(await c.closed(), []);
  }
  assert.equal(await fx.limitHits(), 2);
});

Deno.test(
  "a balancer's connection that sends nothing is closed at the 5 s deadline, holding no slot",
  async () => {
    await using fx = await serverWithTeacher({ limits: { maxConnections: 1 } });
    const started = Date.now();
    await using silent = await NetClient.connect(fx.srv.port, BALANCER);
    // The only connection slot is free while the balancer says nothing.
    await using other = await fx.srv.connect();
    assert.equal((await other.request({ type: "users" })).type, "users");
    assert.deepEqual(await silent.closed(8000), []);
    // Closed by the deadline, not before (a timer never fires early).
    assert.ok(Date.now() - started >= 4900, `closed after ${Date.now() - started} ms`);
    assert.equal(await fx.limitHits(), 1);
  },
);

Deno.test(
  "TLS through HAProxy (passed through, PROXY v2 first) is served; a reload renews it",
  needs("haproxy", "openssl"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_proxy_tls_" });
    try {
      await Deno.mkdir(`${dir}/old`);
      await Deno.mkdir(`${dir}/new`);
      const before = await makeCertificate(`${dir}/old`);
      const renewed = await makeCertificate(`${dir}/new`);
      const [cert, key] = [`${dir}/cert.pem`, `${dir}/key.pem`];
      await Deno.copyFile(before.cert, cert);
      await Deno.copyFile(before.key, key);
      await using fx = await serverWithTeacher({ tls: { cert, key } });
      await using haproxy: Haproxy = await startHaproxy([{
        source: BALANCER,
        servers: [{ port: fx.srv.server.tlsPort }],
      }]);
      const port = haproxy.ports[0];
      const oldCa = await Deno.readTextFile(before.ca);
      await using proxied = await NetClient.connect(port, "127.0.0.8", oldCa);
      await proxied.loginAs("proxied");
      // A TLS client straight to the listener (not the balancer) is an ordinary one.
      await using direct = await NetClient.connect(fx.srv.server.tlsPort, "127.0.0.9", oldCa);
      await direct.loginAs("direct");
      assert.deepEqual(await fx.sessions(), [
        ["direct", "tls", "127.0.0.9"],
        ["proxied", "tls", "127.0.0.8"],
      ]);

      const newCa = await Deno.readTextFile(renewed.ca);
      await assert.rejects(NetClient.connect(port, "127.0.0.8", newCa));
      await Deno.copyFile(renewed.cert, cert);
      await Deno.copyFile(renewed.key, key);
      await fx.srv.server.reload();
      await using late = await NetClient.connect(port, "127.0.0.10", newCa);
      await late.loginAs("late");
      // Sessions from before the reload stay.
      assert.deepEqual((await proxied.call({ type: "users" })).users, [
        "proxied",
        "direct",
        "late",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "HAProxy checks a server's /readyz on its metrics port: up while it runs, down once stopped",
  needs("haproxy"),
  async () => {
    await using srv = await startTestServer({ proxyFrom: BALANCER, metricsPort: freePort() });
    await using haproxy = await startHaproxy([{
      source: BALANCER,
      servers: [{ port: srv.port, check: { httpPort: srv.server.metricsPort } }],
    }]);
    await haproxy.waitStatus(0, 0, "UP");
    const [server] = (await haproxy.stats()).filter((r) => r.svname === "s0");
    assert.equal(server.check_status, "L7OK", "an HTTP check, answered 2xx");
    await using client = await NetClient.connect(haproxy.ports[0], "127.0.0.5");
    assert.equal((await client.request({ type: "users" })).type, "users");
    await srv.server.shutdown();
    await haproxy.waitStatus(0, 0, "DOWN");
  },
);
