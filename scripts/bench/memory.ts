// Memory on a small host (issue 5): the server's resident memory right after start, after N users
// register and log in with real argon2id, and after a minute at rest; goal under 64 MiB.
import { freePort } from "../../testing/ports.ts";
import { BenchClient, pause, startServer } from "./harness.ts";
import { OPEN_LIMITS } from "./storm.ts";

/** Issue 5's goal: under 64 MiB resident after 100 logins and 60 s at rest. */
export const MEMORY_GOAL_BYTES = 64 * 1024 * 1024;

/** One reading of a process's memory, from /proc/<pid>/status (all sizes in bytes). */
export interface MemoryReading {
  /** VmRSS: everything resident. */
  rss: number;
  /** RssAnon: heap, stacks, WebAssembly memories (what the server itself allocated). */
  anon: number;
  /** RssFile: pages of the deno binary and other mapped files (shared, reclaimable). */
  file: number;
  /** Threads: the main thread, V8's and tokio's helpers, one per running Web Worker. */
  threads: number;
}

/** Reads /proc/<pid>/status. */
export async function readMemory(pid: number): Promise<MemoryReading> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (field: string) =>
    Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN) * 1024;
  return {
    rss: kib("VmRSS"),
    anon: kib("RssAnon"),
    file: kib("RssFile"),
    threads: Number(status.match(/^Threads:\s+(\d+)/m)?.[1] ?? NaN),
  };
}

/**
 * The pid of the deno process itself: `startServer` returns the pid of what it spawned, which is
 * `taskset` when the server is pinned; taskset execs deno in place (same pid), but should it ever
 * fork instead, the child is the one to measure.
 */
export async function serverPid(pid: number): Promise<number> {
  const comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
  if (comm !== "taskset") return pid;
  const children = (await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`)).trim();
  const child = Number(children.split(" ")[0]);
  if (!Number.isInteger(child) || child <= 0) throw new Error(`No deno process under ${pid}`);
  return child;
}

/**
 * V8's view from the server's /metrics (prom-client's default metrics), in bytes; nothing when
 * the endpoint is off.
 */
async function heap(port: number): Promise<Record<string, number>> {
  let text: string;
  try {
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } catch {
    return {};
  }
  const read = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
  return {
    heap_used_bytes: read("nodejs_heap_size_used_bytes"),
    heap_total_bytes: read("nodejs_heap_size_total_bytes"),
    external_bytes: read("nodejs_external_memory_bytes"),
  };
}

/** What {@link memory} prints. */
export interface MemoryResult {
  scenario: "memory";
  users: number;
  rest_seconds: number;
  rss_start_bytes: number;
  rss_after_logins_bytes: number;
  rss_at_rest_bytes: number;
  goal_bytes: number;
  within_goal: boolean;
  logins_seconds: number;
  start: MemoryReading & Record<string, number>;
  after_logins: MemoryReading & Record<string, number>;
  at_rest: MemoryReading & Record<string, number>;
  /** RSS in MiB and thread count every 5 s of the rest: when the hashing workers stop shows. */
  rest_samples: { s: number; rss_mib: number; threads: number }[];
  /** BENCH_SERVER_FLAGS the server ran with, so runs with V8 flags can be told apart. */
  server_flags: string;
}

// Seconds between two samples during the rest: 12 points in a minute.
const SAMPLE_EVERY_S = 5;

/**
 * Starts the server (metrics on, as by default), reads its memory, has `users` clients register
 * and log in at once with real argon2id (default cost), reads it again, then leaves the server
 * and the logged-in clients idle for `restSeconds` and reads it a last time. `serverArgs` come
 * last, so they override (e.g. `--metrics-port=0` to measure without the metrics endpoint).
 */
export async function memory(
  users = 100,
  restSeconds = 60,
  options: { serverArgs?: string[] } = {},
): Promise<MemoryResult> {
  const metricsPort = freePort();
  await using server = await startServer([
    ...OPEN_LIMITS,
    `--metrics-port=${metricsPort}`,
    "--metrics-host=127.0.0.1",
    ...options.serverArgs ?? [],
  ]);
  const pid = await serverPid(server.pid);
  const start = await readMemory(pid);
  const startHeap = await heap(metricsPort);
  const clients: BenchClient[] = [];
  try {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: users }, async (_, i) => {
        const c = await BenchClient.connect(server.port);
        clients.push(c);
        await c.loginAs(`mem${i}`);
      }),
    );
    const loginsSeconds = (performance.now() - t0) / 1000;
    // RSS first: scraping /metrics allocates in the server.
    const afterLogins = await readMemory(pid);
    const afterLoginsHeap = await heap(metricsPort);
    const samples: MemoryResult["rest_samples"] = [];
    for (let s = SAMPLE_EVERY_S; s <= restSeconds; s += SAMPLE_EVERY_S) {
      await pause(SAMPLE_EVERY_S * 1000);
      const m = await readMemory(pid);
      samples.push({ s, rss_mib: Number((m.rss / 2 ** 20).toFixed(1)), threads: m.threads });
    }
    await pause((restSeconds % SAMPLE_EVERY_S) * 1000);
    const atRest = await readMemory(pid);
    const atRestHeap = await heap(metricsPort);
    return {
      scenario: "memory",
      users,
      rest_seconds: restSeconds,
      rss_start_bytes: start.rss,
      rss_after_logins_bytes: afterLogins.rss,
      rss_at_rest_bytes: atRest.rss,
      goal_bytes: MEMORY_GOAL_BYTES,
      within_goal: atRest.rss < MEMORY_GOAL_BYTES,
      logins_seconds: Number(loginsSeconds.toFixed(2)),
      start: { ...start, ...startHeap },
      after_logins: { ...afterLogins, ...afterLoginsHeap },
      at_rest: { ...atRest, ...atRestHeap },
      rest_samples: samples,
      server_flags: Deno.env.get("BENCH_SERVER_FLAGS") ?? "",
    };
  } finally {
    for (const c of clients) c.close();
  }
}
