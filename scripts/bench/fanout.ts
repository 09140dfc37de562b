// Fan-out benchmark (issue 6): N logged-in clients, S senders, an aggregate rate stepped up until
// p99 > 200 ms or any loss; the same generator against ClassCord and against the smallest fan-out
// server of the same runtime (reference_server.ts), so every figure is also a ratio.
import { argon2id } from "hash-wasm";
import { fileURLToPath } from "node:url";
import { concatBytes } from "../../src/bytes.ts";
import { askServer } from "../../src/commands/admin_client.ts";
import { KvStore } from "../../src/store/kv_store.ts";
import { freePort } from "../../testing/ports.ts";
import {
  cpuSplit,
  pause,
  percentile,
  pinSelf,
  processStats,
  type ServerProcess,
  startServer,
} from "./harness.ts";
import { OPEN_LIMITS } from "./storm.ts";

const REFERENCE = fileURLToPath(new URL("./reference_server.ts", import.meta.url));
const LF = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Which server the generator drives. */
export type TargetKind = "classcord" | "reference" | "null";

/** ClassCord as cluster nodes on a NATS cluster, the peers spread over them in turn. */
export interface ClusterTarget {
  nats: string[];
  nodes: number;
}

/** One step of the rate ladder. */
export interface Step {
  rate: number;
  delivered_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  lost: number;
  server_cpu_us_per_delivery: number;
  /** Server CPU (user + system) over the step and its drain, in % of one core. */
  server_cpu_percent: number;
  generator_cpu_percent: number;
}

/**
 * Seeds N accounts straight into a fresh KV file, all with one cheap argon2id hash of the same
 * password: logins then cost microseconds, and the benchmark measures chat, not hashing (the
 * `connect` scenario measures hashing).
 */
export async function seedUsers(db: string, names: string[]): Promise<void> {
  const passwordHash = await cheapHash();
  const store = await KvStore.open(db);
  try {
    for (let i = 0; i < names.length; i += 500) {
      await Promise.all(
        names.slice(i, i + 500).map((name) =>
          store.createUser({ name, passwordHash, createdAt: Date.now() })
        ),
      );
    }
  } finally {
    store.close();
  }
}

/** One argon2id hash of "bench" with the smallest cost: logins then cost microseconds. */
function cheapHash(): Promise<string> {
  return argon2id({
    password: "bench",
    salt: crypto.getRandomValues(new Uint8Array(16)),
    parallelism: 1,
    iterations: 1,
    memorySize: 64,
    hashLength: 32,
    outputType: "encoded",
  });
}

/** A generator-side connection: counts lines; samplers also time the probe messages. */
export class Peer {
  lines = 0;
  readonly latencies: number[] = [];
  #rest = "";
  readonly done: Promise<void>;

  constructor(readonly conn: Deno.TcpConn, readonly sampler: boolean) {
    conn.setNoDelay(true);
    this.done = this.#read();
  }

  /** False once the server closed this peer (a slow consumer under overload): its loss shows. */
  alive = true;

  /** Sends lines (each with its LF), as this transport carries them. */
  async write(bytes: Uint8Array): Promise<void> {
    if (!this.alive) return;
    const out = this.wire(bytes);
    try {
      for (let off = 0; off < out.length;) off += await this.conn.write(out.subarray(off));
    } catch {
      this.alive = false;
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // closed
    }
  }

  /** Lines as they go on the wire: as they are over TCP. */
  protected wire(lines: Uint8Array): Uint8Array {
    return lines;
  }

  /** Counts the lines of one read; samplers also time the probe messages among them. */
  protected received(chunk: Uint8Array): void {
    if (!this.sampler) {
      for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) this.lines++;
      return;
    }
    const now = performance.now();
    const text = this.#rest + decoder.decode(chunk);
    const parts = text.split("\n");
    this.#rest = parts.pop()!;
    for (const line of parts) {
      this.lines++;
      this.sample(line, now);
    }
  }

  /** A probe message's latency, from the send time it carries. */
  protected sample(text: string, now: number): void {
    const m = text.match(/"content":"t(\d+(?:\.\d+)?)"/);
    if (m) this.latencies.push(now - Number(m[1]));
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(256 * 1024);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        this.received(buf.subarray(0, n));
      }
    } catch {
      // reset
    }
    this.alive = false;
  }
}

/**
 * A generator-side WebSocket to /ws over a raw TCP connection, so the generator costs about what
 * it costs for TCP: frames are counted by walking their headers (a browser-grade client would
 * dispatch an event per frame and become the bottleneck). Lines written are sent one per text
 * frame, without their line end, masked with a zero key (RFC 6455 §5.3 wants it unpredictable;
 * the server cannot tell).
 */
class WsPeer extends Peer {
  // Bytes of the frame being read still to skip, and a partial header kept between reads.
  #skip = 0;
  #head = new Uint8Array(0);

  static async open(port: number, sampler: boolean): Promise<WsPeer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await conn.write(encoder.encode(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    // The 101 response: the server sends nothing else before a request, so it ends the read.
    let head = "";
    const buf = new Uint8Array(1024);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("closed during the WebSocket handshake");
      head += decoder.decode(buf.subarray(0, n));
    }
    if (!head.startsWith("HTTP/1.1 101")) throw new Error(`handshake refused: ${head}`);
    return new WsPeer(conn, sampler);
  }

  /** One masked text frame per line, without its LF. */
  protected override wire(lines: Uint8Array): Uint8Array {
    return concatBytes(decoder.decode(lines).split("\n").filter((l) => l !== "").map(maskedFrame));
  }

  /** Counts the frames in `chunk`; samplers decode each payload for its timestamp. */
  protected override received(chunk: Uint8Array): void {
    let data = chunk;
    if (this.#head.length > 0) {
      data = concatBytes([this.#head, chunk]);
      this.#head = new Uint8Array(0);
    }
    let i = Math.min(this.#skip, data.length);
    this.#skip -= i;
    while (i < data.length) {
      if (data.length - i < 2) break;
      let len = data[i + 1] & 0x7f;
      let at = i + 2;
      if (len === 126) {
        if (data.length - i < 4) break;
        len = (data[i + 2] << 8) | data[i + 3];
        at = i + 4;
      } else if (len === 127) {
        if (data.length - i < 10) break;
        len = Number(new DataView(data.buffer, data.byteOffset + i + 2, 8).getBigUint64(0));
        at = i + 10;
      }
      if ((data[i] & 0x0f) === 1) {
        this.lines++;
        if (this.sampler && at + len <= data.length) {
          this.sample(decoder.decode(data.subarray(at, at + len)), performance.now());
        }
      }
      const end = at + len;
      if (end > data.length) {
        this.#skip = end - data.length;
        return;
      }
      i = end;
    }
    if (i < data.length) this.#head = data.slice(i);
  }
}

/** A client-to-server text frame (masked, with a zero key). */
function maskedFrame(line: string): Uint8Array {
  const payload = encoder.encode(line);
  const n = payload.length;
  const head = n < 126 ? [0x81, 0x80 | n] : [0x81, 0x80 | 126, n >> 8, n & 0xff];
  const frame = new Uint8Array(head.length + 4 + n);
  frame.set(head);
  frame.set(payload, head.length + 4);
  return frame;
}

/** How the generator reaches the server: the chat port, or WebSocket on the web port. */
export type Transport = "tcp" | "ws";

function cpuSelf(): Promise<{ cpuSeconds: number }> {
  return processStats(Deno.pid);
}

/** The running target with its connected peers. */
export interface Rig extends AsyncDisposable {
  peers: Peer[];
  /** The server processes (several nodes of a cluster). */
  pids: number[];
}

/** CPU seconds and resident bytes of several processes, summed. */
async function statsOf(pids: number[]): Promise<{ cpuSeconds: number; rssBytes: number }> {
  const all = await Promise.all(pids.map(processStats));
  return {
    cpuSeconds: all.reduce((n, s) => n + s.cpuSeconds, 0),
    rssBytes: all.reduce((n, s) => n + s.rssBytes, 0),
  };
}

/** Starts a target and connects `n` peers; with `samplers` = n every peer times its lines. */
export async function rig(
  kind: TargetKind,
  n: number,
  samplers: number,
  serverArgs: string[] = [],
  transport: Transport = "tcp",
  cluster?: ClusterTarget,
): Promise<Rig> {
  const names = Array.from({ length: n }, (_, i) => `u${i}`);
  const dir = await Deno.makeTempDir({ prefix: "classcord_fanout_" });
  const db = `${dir}/bench.kv`;
  if (kind === "classcord" && !cluster) await seedUsers(db, names);
  const split = cpuSplit();
  const cpu = split?.server;
  const webPort = transport === "ws" ? freePort() : 0;
  const servers: ServerProcess[] = [];
  if (kind !== "classcord") {
    servers.push(
      await startServer(kind === "null" ? ["--null"] : [], { script: REFERENCE, cpu }),
    );
  } else if (!cluster) {
    servers.push(
      await startServer(
        [...OPEN_LIMITS, "--retention-days=0", `--web-port=${webPort}`, ...serverArgs],
        { db, cpu },
      ),
    );
  } else {
    for (let i = 0; i < cluster.nodes; i++) {
      const nodeDb = `${dir}/node${i}.kv`;
      servers.push(
        await startServer([
          ...OPEN_LIMITS,
          "--retention-days=0",
          `--nats=${cluster.nats.join(",")}`,
          `--node-name=bench${i}`,
          ...serverArgs,
        ], { db: nodeDb, cpu }),
      );
      // Accounts live in the cluster: added through a node's admin socket, as `user add` does.
      if (i === 0) await seedClusterUsers(`${nodeDb}.sock`, names);
    }
  }
  if (split) pinSelf(split.generator);
  const peers: Peer[] = [];
  for (let i = 0; i < n; i++) {
    // Senders are peers 0..S-1; samplers come right after them (or all peers, for private).
    const sampler = samplers >= n || (i >= 10 && i < 10 + samplers);
    if (transport === "ws") {
      peers.push(await WsPeer.open(webPort, sampler));
    } else {
      const port = servers[i % servers.length].port;
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      peers.push(new Peer(conn, sampler));
    }
  }
  if (kind === "classcord") {
    await Promise.all(
      peers.map((p, i) =>
        p.write(encoder.encode(`{"type":"login","username":"${names[i]}","password":"bench"}\n`))
      ),
    );
    if (!cluster) {
      // Every login is answered, and announced to everyone logged in before it:
      // N + N(N-1)/2 lines.
      const expected = n + n * (n - 1) / 2;
      await until(() => total(peers) >= expected, 300_000, "logins");
    } else {
      // Across nodes, who hears of whom depends on when each node's presence arrives.
      await until(() => total(peers) >= n, 300_000, "logins");
      await quiet(peers);
    }
    for (const p of peers) p.latencies.length = 0;
  }
  return {
    peers,
    pids: servers.map((s) => s.pid),
    async [Symbol.asyncDispose]() {
      for (const p of peers) p.close();
      for (const server of servers) await server[Symbol.asyncDispose]();
      if (split) pinSelf("start");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Adds the benchmark's accounts to a cluster, all with one cheap hash (see seedUsers). */
async function seedClusterUsers(socket: string, names: string[]): Promise<void> {
  const passwordHash = await cheapHash();
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map(async (name) => {
        const reply = await askServer(socket, { op: "add", name, passwordHash, admin: false });
        if (!reply.ok) throw new Error(`Cannot add ${name}: ${JSON.stringify(reply)}`);
      }),
    );
  }
}

/** Waits (at most 10 s) until no line has arrived for 500 ms. */
export async function quiet(peers: Peer[]): Promise<void> {
  const deadline = performance.now() + 10_000;
  let last = total(peers);
  let since = performance.now();
  while (performance.now() - since < 500 && performance.now() < deadline) {
    await pause(50);
    const now = total(peers);
    if (now !== last) [last, since] = [now, performance.now()];
  }
}

/** Lines received by all `peers` so far. */
export function total(peers: Peer[]): number {
  let sum = 0;
  for (const p of peers) sum += p.lines;
  return sum;
}

/** Waits until `done()`; past `timeoutMs` throws naming `what`, or returns false when `what` is "". */
export async function until(
  done: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) {
      if (what) throw new Error(`Timed out waiting for ${what}`);
      return false;
    }
    await pause(20);
  }
  return true;
}

/** A chat message as ClassCord's protocol carries it, its content the send time (ms). */
function chatLine(now: number): string {
  return `{"type":"message","content":"t${now}"}\n`;
}

/**
 * Sends `rate` messages per second for `seconds`, from `senders` peers, in 10 ms ticks; `line`
 * writes one message carrying its send time (another server's protocol).
 */
export async function drive(
  peers: Peer[],
  senders: number,
  rate: number,
  seconds: number,
  line: (now: number) => string = chatLine,
): Promise<number> {
  let sent = 0;
  let owed = 0;
  const ticks = seconds * 100;
  const start = performance.now();
  for (let t = 0; t < ticks; t++) {
    owed += rate / 100;
    const batch = Math.floor(owed);
    owed -= batch;
    const writes = [];
    for (let k = 0; k < batch; k++) {
      const from = peers[(sent + k) % senders];
      writes.push(from.write(encoder.encode(line(performance.now()))));
    }
    sent += batch;
    await Promise.all(writes);
    const next = start + (t + 1) * 10;
    const wait = next - performance.now();
    if (wait > 0) await pause(wait);
  }
  return sent;
}

/**
 * One step: `send` holds a rate and returns how many messages it sent; each is owed to
 * `recipients` peers. Then a drain of up to 3 s for the last deliveries.
 */
export async function step(
  r: Rig,
  rate: number,
  recipients: number,
  send: () => Promise<number>,
): Promise<Step> {
  const { peers } = r;
  // Lines still arriving from the step before (a failed one lags) must not count in this one.
  await quiet(peers);
  for (const p of peers) p.latencies.length = 0;
  const before = total(peers);
  const serverBefore = await statsOf(r.pids);
  const selfBefore = await cpuSelf();
  const t0 = performance.now();
  const expected = (await send()) * recipients;
  await until(() => total(peers) - before >= expected, 3000, "");
  const elapsed = (performance.now() - t0) / 1000;
  const received = total(peers) - before;
  const serverAfter = await statsOf(r.pids);
  const selfAfter = await cpuSelf();
  const latencies = peers.flatMap((p) => p.latencies.splice(0));
  const rr = (x: number) => Number(x.toFixed(2));
  return {
    rate,
    delivered_per_s: Math.round(received / elapsed),
    p50_ms: rr(percentile(latencies, 50)),
    p99_ms: rr(percentile(latencies, 99)),
    max_ms: rr(latencies.length ? percentile(latencies, 100) : 0),
    lost: Math.max(0, expected - received),
    server_cpu_us_per_delivery: rr(
      (serverAfter.cpuSeconds - serverBefore.cpuSeconds) * 1e6 / Math.max(1, received),
    ),
    server_cpu_percent: Math.round(
      (serverAfter.cpuSeconds - serverBefore.cpuSeconds) / elapsed * 100,
    ),
    generator_cpu_percent: Math.round(
      (selfAfter.cpuSeconds - selfBefore.cpuSeconds) / elapsed * 100,
    ),
  };
}

/** Every step of a ladder, the best that held and the lowest rate that did not. */
export interface Ladder {
  steps: Step[];
  best?: Step;
  failing?: Step;
}

/** A step that holds: p99 within 200 ms and nothing lost. */
export function holds(s: Step): boolean {
  return s.p99_ms <= 200 && s.lost === 0;
}

/**
 * Climbs `rates` until a step has p99 > 200 ms or a loss (twice in a row), then bisects twice between the last
 * rate that held and the first that did not (doubling alone would make every ratio a power of
 * two); the best is the highest rate that held, `failing` the lowest that did not.
 */
async function climb(
  rates: number[],
  run: (rate: number) => Promise<Step>,
): Promise<Ladder> {
  const steps: Step[] = [];
  let best: Step | undefined;
  let failing: Step | undefined;
  // A step that fails is run once more before it counts: on a shared machine, one stall of
  // another process would otherwise end the climb (and make a ratio of two runs meaningless).
  const attempt = async (rate: number) => {
    let s = await run(rate);
    steps.push(s);
    if (!holds(s)) steps.push(s = await run(rate));
    return s;
  };
  for (const rate of rates) {
    const s = await attempt(rate);
    if (!holds(s)) {
      failing = s;
      break;
    }
    best = s;
  }
  for (let i = 0; i < 2 && best && failing; i++) {
    const s = await attempt(Math.round((best.rate + failing.rate) / 2));
    if (holds(s)) best = s;
    else failing = s;
  }
  return { steps, best, failing };
}

/** The rate ladder for one target at N clients: steps until p99 > 200 ms or a loss. */
export async function ladder(
  kind: TargetKind,
  n: number,
  options: {
    senders?: number;
    seconds?: number;
    rates?: number[];
    serverArgs?: string[];
    transport?: Transport;
    cluster?: ClusterTarget;
  } = {},
): Promise<Ladder & { rss_bytes: number }> {
  const senders = options.senders ?? 10;
  const seconds = options.seconds ?? 2;
  await using r = await rig(kind, n, 20, options.serverArgs, options.transport, options.cluster);
  const rates = options.rates ??
    [10, 20, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200];
  const climbed = await climb(
    rates,
    (rate) => step(r, rate, n - 1, () => drive(r.peers, senders, rate, seconds)),
  );
  return { ...climbed, rss_bytes: (await statsOf(r.pids)).rssBytes };
}

/** Sends `rate` private messages per second between random peers, in 10 ms ticks. */
async function drivePrivate(peers: Peer[], rate: number, seconds: number): Promise<number> {
  let sent = 0;
  let owed = 0;
  const start = performance.now();
  for (let t = 0; t < seconds * 100; t++) {
    owed += rate / 100;
    const batch = Math.floor(owed);
    owed -= batch;
    const writes = [];
    for (let k = 0; k < batch; k++) {
      const from = Math.floor(Math.random() * peers.length);
      let to = Math.floor(Math.random() * (peers.length - 1));
      if (to >= from) to++;
      const line = `{"type":"message","subtype":"private","to":"u${to}",` +
        `"content":"t${performance.now()}"}\n`;
      writes.push(peers[from].write(encoder.encode(line)));
    }
    sent += batch;
    await Promise.all(writes);
    const wait = start + (t + 1) * 10 - performance.now();
    if (wait > 0) await pause(wait);
  }
  return sent;
}

/** The private-message ladder: N peers, each message to one random peer, until p99 > 200 ms. */
export async function privateLadder(
  n: number,
  options: { seconds?: number; rates?: number[] } = {},
): Promise<Ladder> {
  await using r = await rig("classcord", n, n);
  const seconds = options.seconds ?? 2;
  return await climb(
    options.rates ?? [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600],
    (rate) => step(r, rate, 1, () => drivePrivate(r.peers, rate, seconds)),
  );
}

/**
 * N logged-in connections left idle: the server's RSS per connection once they are all connected
 * (anonymous), right after the N logins (whose N²/2 "online" broadcasts grow V8's heap), and at
 * rest a minute later, once V8 has given back what it no longer uses.
 */
export async function idle(
  n: number,
  env: Record<string, string> = {},
): Promise<Record<string, number>> {
  const names = Array.from({ length: n }, (_, i) => `u${i}`);
  const dir = await Deno.makeTempDir({ prefix: "classcord_idle_" });
  const db = `${dir}/bench.kv`;
  await seedUsers(db, names);
  await using server = await startServer([...OPEN_LIMITS, "--retention-days=0"], { db, env });
  const rss = async () => (await processStats(server.pid)).rssBytes;
  await pause(1000);
  const before = await rss();
  const perConnection = (bytes: number) => Math.round((bytes - before) / n);
  const peers: Peer[] = [];
  try {
    for (let i = 0; i < n; i++) {
      peers.push(new Peer(await Deno.connect({ hostname: "127.0.0.1", port: server.port }), false));
    }
    await pause(1000);
    const connected = await rss();
    const start = performance.now();
    for (let i = 0; i < n; i += 500) {
      await Promise.all(
        peers.slice(i, i + 500).map((p, j) =>
          p.write(
            encoder.encode(`{"type":"login","username":"${names[i + j]}","password":"bench"}\n`),
          )
        ),
      );
    }
    await until(() => total(peers) >= n + n * (n - 1) / 2, 600_000, "logins");
    const loggedInS = (performance.now() - start) / 1000;
    const afterLogins = await rss();
    const settled = await settle(rss, 60);
    return {
      connections: n,
      logins_s: Number(loggedInS.toFixed(1)),
      rss_before_bytes: before,
      rss_per_connection_connected_bytes: perConnection(connected),
      rss_per_connection_after_logins_bytes: perConnection(afterLogins),
      rss_per_connection_bytes: perConnection(settled.rss),
      rss_at_rest_after_s: settled.seconds,
    };
  } finally {
    for (const p of peers) p.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Samples `read` every second for `seconds`: the last sample, and the first second from which
 * every sample stayed within 5 % of it (when memory given back reached its final level).
 */
async function settle(
  read: () => Promise<number>,
  seconds: number,
): Promise<{ rss: number; seconds: number }> {
  const samples: number[] = [];
  for (let s = 0; s < seconds; s++) {
    await pause(1000);
    samples.push(await read());
  }
  const last = samples.at(-1)!;
  let from = samples.length;
  while (from > 0 && Math.abs(samples[from - 1] - last) <= last * 0.05) from--;
  return { rss: last, seconds: from + 1 };
}

/** How fast the generator itself can push lines (to a server that discards them). */
export async function nullCeiling(seconds = 2): Promise<Record<string, number>> {
  await using r = await rig("null", 10, 0);
  const selfBefore = await cpuSelf();
  const start = performance.now();
  let sent = 0;
  const line = encoder.encode(`{"type":"message","content":"t${performance.now()}"}\n`);
  const batch = new Uint8Array(line.length * 100);
  for (let i = 0; i < 100; i++) batch.set(line, i * line.length);
  while (performance.now() - start < seconds * 1000) {
    await Promise.all(r.peers.map((p) => p.write(batch)));
    sent += 100 * r.peers.length;
  }
  const elapsed = (performance.now() - start) / 1000;
  const selfAfter = await cpuSelf();
  return {
    generator_lines_per_s: Math.round(sent / elapsed),
    generator_cpu_percent: Math.round(
      (selfAfter.cpuSeconds - selfBefore.cpuSeconds) / elapsed * 100,
    ),
  };
}
