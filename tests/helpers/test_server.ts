// Test fixtures: a real server on an ephemeral port with a temp KV file, and a line-reading client.
import { type Server, type ServerOptions, startServer } from "../../src/server.ts";
import { AddressSet } from "../../src/address_set.ts";
import { KvStore } from "../../src/store/kv_store.ts";
import {
  type Config,
  DEFAULT_LIMITS,
  DEFAULT_TRUSTED,
  type MetricsBridgeMode,
} from "../../src/config.ts";
import type { Lang } from "../../src/protocol/texts.ts";
import { freePort } from "../../testing/ports.ts";

/**
 * Limits lifted for tests that flood on purpose (throughput, crash safety, slow consumers), so
 * only what they test can stop them; the defaults of docs/protocol.md §5 apply everywhere else.
 */
export const FLOOD_LIMITS = {
  rateBurst: 1_000_000,
  ratePerSecond: 1_000_000,
  maxConnectionsPerAddress: 10_000,
  newConnectionsPerAddress: 10_000,
};

/** Cheap argon2id for tests that are not about hashing cost (hash-wasm's minimum is 8 KiB). */
export const TEST_ARGON2 = { memoryKiB: 64, iterations: 1 };

/** A server started for one test; `await using` stops it and removes its files. */
export interface TestServer extends AsyncDisposable {
  server: Server;
  port: number;
  /** The KV file, for tests that restart on it or read its bytes. */
  db: string;
  /** Connects a new client. */
  connect(): Promise<TestClient>;
}

/**
 * Starts a server on 127.0.0.1, port 0, with a KV file in a fresh temp folder (or `options.db`,
 * which is then left in place for the caller).
 */
export async function startTestServer(
  options: ServerOptions & {
    db?: string;
    retentionDays?: number;
    metricsPort?: number;
    /** `--metrics-bridge`. */
    metricsBridge?: MetricsBridgeMode;
    guests?: boolean;
    /** PEM files: a TLS listener on an ephemeral port too. */
    tls?: { cert: string; key: string };
    lang?: Lang;
    /** `--trusted-addresses`; loopback (the default) exempts the tests' own address. */
    trusted?: string;
    /** The web listener (the built app and /ws) on an ephemeral port too. */
    web?: boolean;
    /** The web listener on this port (a restart on the same one, as pages reconnect to it). */
    webPort?: number;
    /** `--web-origins`. */
    webOrigins?: string[];
    /** `--proxy-from`: load balancers whose connections start with a PROXY header. */
    proxyFrom?: string;
    /** NATS servers: a cluster node. */
    nats?: string[];
    /** The node's name in its cluster. */
    nodeName?: string;
  } = {},
): Promise<TestServer> {
  const dir = options.db ? undefined : await Deno.makeTempDir({ prefix: "classcord_test_" });
  const db = options.db ?? `${dir}/classcord.kv`;
  const config: Config = {
    host: "127.0.0.1",
    port: 0,
    metricsPort: options.metricsPort ?? 0,
    metricsHost: "127.0.0.1",
    metricsBridge: options.metricsBridge ?? "trusted",
    db,
    logLevel: "error",
    logFormat: "text",
    logFile: "",
    retentionDays: options.retentionDays ?? 365,
    guests: options.guests ?? true,
    tlsPort: 0,
    tlsCert: options.tls?.cert ?? "",
    tlsKey: options.tls?.key ?? "",
    webPort: options.webPort ?? (options.web ? freePort() : 0),
    webOrigins: options.webOrigins ?? [],
    lang: options.lang ?? "en",
    trustedAddresses: AddressSet.parse(options.trusted ?? DEFAULT_TRUSTED),
    proxyFrom: AddressSet.parse(options.proxyFrom ?? "none"),
    nats: options.nats ?? [],
    nodeName: options.nodeName ?? "",
    limits: DEFAULT_LIMITS,
  };
  let server: Server;
  for (let attempt = 1;; attempt++) {
    try {
      server = await startServer(config, { argon2: TEST_ARGON2, ...options });
      break;
    } catch (err) {
      // The free port picked for the web listener was taken in between (by this server's own
      // chat listener on port 0, say: about 1 start in 3,000): another one.
      const taken = /Cannot serve the web app .*address is in use/.test((err as Error).message);
      if (!taken || options.webPort !== undefined || attempt === 3) throw err;
      config.webPort = freePort();
    }
  }
  return {
    server,
    port: server.port,
    db,
    connect: () => TestClient.connect(server.port),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      if (dir) await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * A store in a temp folder holding one administrator account, registered through a server (a
 * real hash) then promoted; `await using` removes it.
 */
export async function storeWithAdmin(
  name: string,
  password: string,
): Promise<{ db: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_admin_" });
  const db = `${dir}/classcord.kv`;
  {
    await using seed = await startTestServer({ db });
    await using c = await seed.connect();
    await c.request({ type: "register", username: name, password });
  }
  const store = await KvStore.open(db);
  await store.setAdmin(name, true);
  store.close();
  return { db, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** Default deadline of every read: a test fails with a message instead of hanging. */
const READ_TIMEOUT_MS = 5000;
const encoder = new TextEncoder();

/**
 * What a {@link TestClient} reads and writes: a TCP or TLS connection, or a WebSocket whose frames
 * are lines (tests/helpers/ws_stream.ts).
 */
export interface ClientStream {
  read(into: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** A raw client (TCP unless told) that reads the server's lines, each with a deadline. */
export class TestClient implements AsyncDisposable {
  readonly #conn: ClientStream;
  #buffer = new Uint8Array(0);
  #closed = false;
  #eof = false;

  private constructor(conn: ClientStream) {
    this.#conn = conn;
  }

  /** A client over TCP to the chat port. */
  static async connect(port: number): Promise<TestClient> {
    return new TestClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** A client over an open stream of another transport. */
  static over(stream: ClientStream): TestClient {
    return new TestClient(stream);
  }

  /** The stream it reads and writes (a WebSocket's tells its close code). */
  get stream(): ClientStream {
    return this.#conn;
  }

  /** Sends one object as a JSON line (LF). */
  async send(value: unknown): Promise<void> {
    await this.write(JSON.stringify(value) + "\n");
  }

  /** Sends raw text (UTF-8) or bytes as they are. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
  }

  /** The next line's bytes, without its LF; rejects on timeout or when the server closed. */
  async lineBytes(timeoutMs = READ_TIMEOUT_MS): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lf = this.#buffer.indexOf(0x0a);
      if (lf >= 0) {
        const line = this.#buffer.slice(0, lf);
        this.#buffer = this.#buffer.slice(lf + 1);
        return line;
      }
      if (this.#eof) throw new Error("Connection closed by the server before a full line");
      await this.#fill(deadline - Date.now());
    }
  }

  /** The next line as text. */
  async line(timeoutMs = READ_TIMEOUT_MS): Promise<string> {
    return new TextDecoder().decode(await this.lineBytes(timeoutMs));
  }

  /** The next line parsed as JSON. */
  async json(timeoutMs = READ_TIMEOUT_MS): Promise<Record<string, unknown>> {
    return JSON.parse(await this.line(timeoutMs));
  }

  /** Reads lines until one matches, failing at the deadline with what came instead. */
  async until(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    const seen: unknown[] = [];
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No matching line; got ${JSON.stringify(seen)}`);
      const line = await this.json(left);
      if (match(line)) return line;
      seen.push(line);
    }
  }

  /** Sends a request and returns the next line as JSON. */
  async request(value: unknown): Promise<Record<string, unknown>> {
    await this.send(value);
    return await this.json();
  }

  /** Sends a request and returns the first line of `type` (or an error), skipping the others. */
  async call(value: { type: string; [field: string]: unknown }): Promise<Record<string, unknown>> {
    await this.send(value);
    for (;;) {
      const line = await this.json();
      if (line.type === value.type || line.type === "error") return line;
    }
  }

  /**
   * Proves nothing was queued for this client before now: the `users` reply to a request sent
   * now must be the very next line (servers answer in order).
   */
  async expectNothingPending(): Promise<void> {
    const reply = await this.request({ type: "users" });
    if (reply.type !== "users") {
      throw new Error(`Expected no pending line, got ${JSON.stringify(reply)}`);
    }
  }

  /** Resolves once the server has closed the connection; lines still pending are returned. */
  async closed(timeoutMs = READ_TIMEOUT_MS): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#eof) await this.#fill(deadline - Date.now());
    const rest = new TextDecoder().decode(this.#buffer);
    this.#buffer = new Uint8Array(0);
    return rest.split("\n").filter((l) => l !== "");
  }

  /** Registers then logs in; returns the login reply. */
  async loginAs(username: string, password = "secret"): Promise<Record<string, unknown>> {
    const reg = await this.request({ type: "register", username, password });
    if (reg.status !== "ok") throw new Error(`register ${username}: ${JSON.stringify(reg)}`);
    return await this.login(username, password);
  }

  /** Logs in an existing account; returns the login reply. */
  async login(username: string, password = "secret"): Promise<Record<string, unknown>> {
    const reply = await this.request({ type: "login", username, password });
    if (reply.status !== "ok") throw new Error(`login ${username}: ${JSON.stringify(reply)}`);
    return reply;
  }

  /** Half-closes: the server reads the end of the stream, the client can still read. */
  async closeWrite(): Promise<void> {
    await this.#conn.closeWrite();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  async #fill(timeoutMs: number): Promise<void> {
    if (timeoutMs <= 0) throw new Error("Timed out waiting for the server");
    const chunk = new Uint8Array(64 * 1024);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), timeoutMs)
    );
    let n: number | null | "timeout";
    try {
      n = await Promise.race([this.#conn.read(chunk).catch(() => null), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (n === "timeout") {
      // The read stays pending; closing the socket settles it so no op leaks from the test.
      this.close();
      throw new Error("Timed out waiting for the server");
    }
    if (n === null) {
      this.#eof = true;
      return;
    }
    const merged = new Uint8Array(this.#buffer.length + n);
    merged.set(this.#buffer);
    merged.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = merged;
  }
}

/** Parses a Prometheus text exposition into `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = line.match(/^(\S+?(?:\{.*\})?) (\S+)$/);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * Registers and logs in each client under its name, in order, and reads the "online" status that
 * every earlier client receives for it: all of them then start with nothing pending.
 */
export async function loginAll(...pairs: [TestClient, string][]): Promise<void> {
  for (let i = 0; i < pairs.length; i++) {
    const [client, name] = pairs[i];
    await client.loginAs(name);
    for (const [earlier] of pairs.slice(0, i)) {
      const line = await earlier.json();
      if (line.type !== "status" || line.user !== name || line.state !== "online") {
        throw new Error(`Expected ${name} online, got ${JSON.stringify(line)}`);
      }
    }
  }
}
