// ClassCord against InspIRCd (Debian's package, 3.x) on the same machine: fan-out to N clients in
// one room at fixed rates, a fresh server per step, both driven by the fan-out generator
// (fanout.ts); and the resident memory of N idle logged-in connections on each.
import { freePort } from "../../testing/ports.ts";
import {
  drive,
  holds,
  Peer,
  quiet,
  type Rig,
  rig,
  seedUsers,
  type Step,
  step,
  total,
  until,
} from "./fanout.ts";
import { cpuSplit, pause, pinSelf, processStats, startServer, useCheckout } from "./harness.ts";
import { OPEN_LIMITS } from "./storm.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The one room of both servers' benchmarks. */
const ROOM = "#room";
// The queue cap of the fan-out scenario (main.ts), for both servers: one the generator's readers
// cannot reach on 2 shared cores, so a step fails on latency, not on a cut reader.
const QUEUE_BYTES = 268_435_456;

/** The inspircd executable: $INSPIRCD, else on PATH or in /usr/sbin (Debian's place for it). */
export async function findInspircd(): Promise<{ path: string; version: string } | undefined> {
  const candidates = [
    Deno.env.get("INSPIRCD"),
    ...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d).map((d) => `${d}/inspircd`),
    "/usr/sbin/inspircd",
  ].filter((p): p is string => !!p);
  for (const path of candidates) {
    try {
      const { stdout } = await new Deno.Command(path, { args: ["--version"], stderr: "null" })
        .output();
      return { path, version: decoder.decode(stdout).trim() };
    } catch {
      // not there
    }
  }
  return undefined;
}

/** What the scenarios print when InspIRCd is missing. */
export const NOT_INSTALLED = "inspircd is not installed: install Debian's package " +
  `"inspircd" (apt-get install -y inspircd) or set INSPIRCD to its path`;

/**
 * The configuration of a benchmark InspIRCd: loopback on `port`, every file in `dir`, one connect
 * class with its limits opened as ClassCord's are (OPEN_LIMITS): no per-address caps, no flood
 * penalty (commandrate in millicommands per second, threshold in penalty points, no fakelag),
 * send and receive queues of QUEUE_BYTES, no DNS or ident lookups, pings an hour apart.
 */
export function inspircdConfig(dir: string, port: number): string {
  return `<server name="bench.invalid" description="ClassCord benchmark" network="bench">
<admin name="bench" nick="bench" email="bench@bench.invalid">
<bind address="127.0.0.1" port="${port}" type="clients">
<path configdir="${dir}" datadir="${dir}" logdir="${dir}" runtimedir="${dir}">
<pid file="${dir}/inspircd.pid">
<files motd="${dir}/motd.txt">
<dns server="127.0.0.1" timeout="1">
<connect name="bench" allow="*" timeout="3600" pingfreq="3600"
         hardsendq="${QUEUE_BYTES}" softsendq="${QUEUE_BYTES}" recvq="${QUEUE_BYTES}"
         threshold="1000000000" commandrate="1000000000" fakelag="no"
         localmax="1000000" globalmax="1000000" maxconnwarn="no" limit="1000000"
         resolvehostnames="no" useident="no" maxchans="20">
<performance somaxconn="4096" clonesonconnect="no" quietbursts="yes">
<options>
<security>
<log method="file" type="* -USERINPUT -USEROUTPUT" level="sparse" target="${dir}/ircd.log">
`;
}

/** A running InspIRCd and its pid (the pid of inspircd itself: taskset execs it in place). */
export interface IrcServer extends AsyncDisposable {
  port: number;
  pid: number;
}

/**
 * Starts `inspircd --nofork` on a free loopback port with a fresh configuration in a temp dir,
 * pinned to `cpu` when given, and waits until it accepts connections; retries on another port
 * when it exits first (another process took the port).
 *
 * @throws {Error} when it does not start in 30 s
 */
export async function startInspircd(exe: string, cpu?: number): Promise<IrcServer> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const dir = await Deno.makeTempDir({ prefix: "classcord_inspircd_" });
    const port = freePort();
    const config = `${dir}/inspircd.conf`;
    await Deno.writeTextFile(config, inspircdConfig(dir, port));
    await Deno.writeTextFile(`${dir}/motd.txt`, "ClassCord benchmark\n");
    // InspIRCd refuses to run as root unless told to; the bench runs it as whoever runs the bench.
    const args = ["--nofork", `--config=${config}`, ...(Deno.uid() === 0 ? ["--runasroot"] : [])];
    const child = new Deno.Command(cpu !== undefined ? "taskset" : exe, {
      args: cpu !== undefined ? ["-c", String(cpu), exe, ...args] : args,
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    let exited = false;
    child.status.then(() => exited = true);
    const dispose = async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
    while (!exited && Date.now() < deadline) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return { port, pid: child.pid, [Symbol.asyncDispose]: dispose };
      } catch {
        await pause(50);
      }
    }
    await dispose();
  }
  throw new Error("InspIRCd did not start in 30 s");
}

/**
 * A generator-side IRC client: counts lines as Peer does, times `PRIVMSG #room :t<ms>` lines, and
 * while `watching` looks for the numerics that end registration (001) and a join (366).
 */
class IrcPeer extends Peer {
  registered = false;
  joined = false;
  watching = true;
  #tail = "";

  protected override received(chunk: Uint8Array): void {
    super.received(chunk);
    if (!this.watching) return;
    const text = this.#tail + decoder.decode(chunk);
    if (text.includes(" 001 ")) this.registered = true;
    if (text.includes(" 366 ")) this.joined = true;
    // A numeric split between two reads is found in the next one.
    this.#tail = text.slice(-8);
  }

  protected override sample(text: string, now: number): void {
    const m = text.match(/ PRIVMSG #room :t(\d+(?:\.\d+)?)/);
    if (m) this.latencies.push(now - Number(m[1]));
  }
}

/** Registers every peer (NICK/USER), then joins each to the room; bounded by `timeoutMs`. */
async function registerAndJoin(peers: IrcPeer[], timeoutMs: number): Promise<void> {
  for (let i = 0; i < peers.length; i += 500) {
    await Promise.all(
      peers.slice(i, i + 500).map((p, j) =>
        p.write(encoder.encode(`NICK u${i + j}\r\nUSER u${i + j} 0 * :u${i + j}\r\n`))
      ),
    );
  }
  // InspIRCd completes registrations in its once-a-second pass over new users.
  await until(() => peers.every((p) => p.registered), timeoutMs, "IRC registrations");
  for (let i = 0; i < peers.length; i += 500) {
    await Promise.all(
      peers.slice(i, i + 500).map((p) => p.write(encoder.encode(`JOIN ${ROOM}\r\n`))),
    );
  }
  await until(() => peers.every((p) => p.joined), timeoutMs, "IRC joins");
  for (const p of peers) p.watching = false;
}

/** A fresh InspIRCd with `n` registered clients in the room, 20 of them timing lines. */
async function ircRig(exe: string, n: number): Promise<Rig> {
  const split = cpuSplit();
  const server = await startInspircd(exe, split?.server);
  if (split) pinSelf(split.generator);
  const peers: IrcPeer[] = [];
  const dispose = async () => {
    for (const p of peers) p.close();
    await server[Symbol.asyncDispose]();
    if (split) pinSelf("start");
  };
  try {
    for (let i = 0; i < n; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      // Senders are peers 0..9, samplers the 20 after them, as in the fan-out scenario.
      peers.push(new IrcPeer(conn, i >= 10 && i < 30));
    }
    await registerAndJoin(peers, 300_000);
    await quiet(peers);
    for (const p of peers) p.latencies.length = 0;
  } catch (e) {
    await dispose();
    throw e;
  }
  return { peers, pids: [server.pid], [Symbol.asyncDispose]: dispose };
}

/** One server's step at one rate, on a fresh server. */
export type Server = "classcord" | "inspircd" | "baseline";

/**
 * Another checkout of ClassCord to measure beside this one (`BENCH_BASELINE=DIR`), e.g. the
 * commit before a change: its steps run interleaved with the others, as "baseline".
 */
function baseline(): string | undefined {
  return Deno.env.get("BENCH_BASELINE") || undefined;
}

async function freshStep(
  server: Server,
  exe: string,
  n: number,
  rate: number,
  seconds: number,
): Promise<Step> {
  const irc = server === "inspircd";
  if (server === "baseline") useCheckout(baseline());
  await using r = irc
    ? await ircRig(exe, n)
    : await rig("classcord", n, 20, [`--max-queue-bytes=${QUEUE_BYTES}`]).finally(() =>
      useCheckout()
    );
  const line = irc ? (now: number) => `PRIVMSG ${ROOM} :t${now}\r\n` : undefined;
  return await step(r, rate, n - 1, () => drive(r.peers, 10, rate, seconds, line));
}

/** Both servers' two tries at one rate. */
export interface RateRow {
  rate: number;
  classcord: Step[];
  inspircd: Step[];
  /** With `BENCH_BASELINE`: the other checkout's ClassCord. */
  baseline: Step[];
}

/** A rate passes for a server when both its tries held (nothing lost, p99 ≤ 200 ms). */
export function passes(steps: Step[]): boolean {
  return steps.length > 0 && steps.every(holds);
}

/**
 * Runs each rate as ClassCord, InspIRCd, InspIRCd, ClassCord (a fresh server each time, so a
 * drift of the shared machine's load falls on both alike), `rates` first, then doubling while
 * either server still passes (up to `maxRate`); `onRow` sees each rate as it completes.
 */
export async function compareFanout(
  exe: string,
  options: {
    clients?: number;
    seconds?: number;
    rates?: number[];
    maxRate?: number;
    onRow?: (row: RateRow) => void;
  } = {},
): Promise<RateRow[]> {
  const n = options.clients ?? 1000;
  const seconds = options.seconds ?? 5;
  const maxRate = options.maxRate ?? 51_200;
  const queue = [...(options.rates ?? [25, 100, 400, 800, 1600])];
  const rows: RateRow[] = [];
  while (queue.length > 0) {
    const rate = queue.shift()!;
    const row: RateRow = { rate, classcord: [], inspircd: [], baseline: [] };
    const order: Server[] = baseline()
      ? ["classcord", "baseline", "inspircd", "inspircd", "baseline", "classcord"]
      : ["classcord", "inspircd", "inspircd", "classcord"];
    for (const server of order) {
      row[server].push(await freshStep(server, exe, n, rate, seconds));
    }
    rows.push(row);
    options.onRow?.(row);
    const anyHeld = [...row.classcord, ...row.inspircd, ...row.baseline].some(holds);
    if (queue.length === 0 && anyHeld && rate * 2 <= maxRate) queue.push(rate * 2);
  }
  return rows;
}

/** The summary of a comparison: the two ratios of the goal. */
export function summarize(rows: RateRow[], n: number): Record<string, unknown> {
  const best = (server: Server) =>
    Math.max(0, ...rows.filter((r) => passes(r[server])).map((r) => r.rate));
  const ours = best("classcord");
  const theirs = best("inspircd");
  const at100 = rows.find((r) => r.rate === 100);
  const cpu = (server: Server) => {
    const steps = at100?.[server] ?? [];
    return steps.length
      ? Number((steps.reduce((s, x) => s + x.server_cpu_us_per_delivery, 0) / steps.length)
        .toFixed(3))
      : null;
  };
  const cpuOurs = cpu("classcord");
  const cpuTheirs = cpu("inspircd");
  return {
    classcord_best_rate: ours,
    classcord_best_deliveries_per_s: ours * (n - 1),
    inspircd_best_rate: theirs,
    inspircd_best_deliveries_per_s: theirs * (n - 1),
    ratio_best_deliveries: theirs ? Number((ours / theirs).toFixed(2)) : null,
    classcord_cpu_us_per_delivery_at_100: cpuOurs,
    inspircd_cpu_us_per_delivery_at_100: cpuTheirs,
    ratio_cpu_per_delivery_at_100: cpuOurs !== null && cpuTheirs
      ? Number((cpuOurs / cpuTheirs).toFixed(2))
      : null,
    ...(rows.some((r) => r.baseline.length > 0)
      ? {
        baseline_best_rate: best("baseline"),
        baseline_cpu_us_per_delivery_at_100: cpu("baseline"),
      }
      : {}),
  };
}

/** One server's idle memory: RSS before, transient peak, and per connection at rest. */
export interface IdleMemory {
  connections: number;
  logins_s: number;
  rss_before_bytes: number;
  rss_peak_bytes: number;
  rss_at_rest_bytes: number;
  rss_per_connection_at_rest_bytes: number;
}

/**
 * Samples a process's RSS every 100 ms until stopped: the highest reading (a login storm's
 * transient peak lasts seconds, so 100 ms catches it within a sample's growth).
 */
function peakSampler(pid: number): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, (await processStats(pid)).rssBytes);
      await pause(100);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peak;
    },
  };
}

/**
 * `n` connections log in (ClassCord, seeded accounts; "baseline" is the ClassCord of
 * `BENCH_BASELINE`) or register and join the room (InspIRCd), then stay idle for `restSeconds`:
 * the server's RSS before any connection, its peak meanwhile, and at rest, per connection.
 */
export async function idleMemory(
  server: Server,
  exe: string,
  n: number,
  restSeconds = 15,
): Promise<IdleMemory> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_idle_" });
  try {
    let target: { port: number; pid: number } & AsyncDisposable;
    const ours = server !== "inspircd";
    if (ours) {
      const names = Array.from({ length: n }, (_, i) => `u${i}`);
      await seedUsers(`${dir}/bench.kv`, names);
      if (server === "baseline") useCheckout(baseline());
      target = await startServer([...OPEN_LIMITS, "--retention-days=0"], { db: `${dir}/bench.kv` })
        .finally(() => useCheckout());
    } else {
      target = await startInspircd(exe);
    }
    await using _ = target;
    await pause(1000);
    const before = (await processStats(target.pid)).rssBytes;
    const sampler = peakSampler(target.pid);
    const peers: Peer[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: target.port });
        peers.push(ours ? new Peer(conn, false) : new IrcPeer(conn, false));
      }
      const start = performance.now();
      if (ours) {
        for (let i = 0; i < n; i += 500) {
          await Promise.all(
            peers.slice(i, i + 500).map((p, j) =>
              p.write(
                encoder.encode(`{"type":"login","username":"u${i + j}","password":"bench"}\n`),
              )
            ),
          );
        }
        // Each login is answered and announced to everyone logged in before it.
        await until(() => total(peers) >= n + n * (n - 1) / 2, 600_000, "logins");
      } else {
        await registerAndJoin(peers as IrcPeer[], 600_000);
      }
      const loginsS = (performance.now() - start) / 1000;
      await pause(restSeconds * 1000);
      const atRest = (await processStats(target.pid)).rssBytes;
      const peak = await sampler.stop();
      return {
        connections: n,
        logins_s: Number(loginsS.toFixed(1)),
        rss_before_bytes: before,
        rss_peak_bytes: Math.max(peak, atRest),
        rss_at_rest_bytes: atRest,
        rss_per_connection_at_rest_bytes: Math.round((atRest - before) / n),
      };
    } finally {
      await sampler.stop();
      for (const p of peers) p.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
