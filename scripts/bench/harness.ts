// Load-generator pieces shared by the benchmarks: the server as a subprocess, a light client,
// percentiles. Loopback only; every run is bounded in count and time.
import { fileURLToPath } from "node:url";
import { freePort } from "../../testing/ports.ts";
import { SERVER_ENV, SERVER_V8_FLAGS } from "../compile.ts";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
// The ClassCord that startServer runs: this checkout's, or another's for a before/after run.
let main = MAIN;

/**
 * Runs the given checkout's `src/main.ts` (a directory) in the servers started from now on, or
 * this checkout's again with none: a benchmark compares two versions of the code in one sitting.
 */
export function useCheckout(dir?: string): void {
  main = dir ? `${dir.replace(/\/$/, "")}/src/main.ts` : MAIN;
}
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));

/** A server started as a subprocess, with its pid for CPU and memory readings. */
export interface ServerProcess extends AsyncDisposable {
  port: number;
  pid: number;
  child: Deno.ChildProcess;
}

/**
 * The CPUs the throughput scenarios pin the server and the generator to, one each, so neither
 * takes the other's core and every server is measured on the same single core; none when the
 * machine has one CPU or no `taskset` (util-linux).
 */
export function cpuSplit(): { server: number; generator: number } | undefined {
  const cpus = allowedCpus();
  if (cpus.length < 2) return undefined;
  try {
    new Deno.Command("taskset", { args: ["-V"], stdout: "null", stderr: "null" }).outputSync();
    return { server: cpus[0], generator: cpus[1] };
  } catch {
    return undefined;
  }
}

// The CPUs this process may run on when the bench started (it may itself run under taskset).
const ALLOWED = Deno.readTextFileSync("/proc/self/status").match(/Cpus_allowed_list:\s*(\S+)/)
  ?.[1] ?? "";

function allowedCpus(): number[] {
  return ALLOWED.split(",").flatMap((part) => {
    const [from, to = from] = part.split("-").map(Number);
    return Number.isInteger(from) ? Array.from({ length: to - from + 1 }, (_, i) => from + i) : [];
  });
}

/**
 * Moves every thread of this process to one CPU (`taskset -a -p`), or back to the CPUs it was
 * allowed when it started.
 *
 * @throws {Error} when taskset fails
 */
export function pinSelf(cpu: number | "start"): void {
  const list = cpu === "start" ? ALLOWED : String(cpu);
  const { success, stderr } = new Deno.Command("taskset", {
    args: ["-a", "-p", "-c", list, String(Deno.pid)],
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!success) throw new Error(`taskset -c ${list}: ${new TextDecoder().decode(stderr).trim()}`);
}

/**
 * Starts `deno run src/main.ts` with the start task's permissions on a free port, and waits until
 * it accepts connections (logs stay at warning level so they cost nothing during the run);
 * `cpu` pins it to one CPU.
 */
export async function startServer(
  args: string[],
  options: { db?: string; script?: string; env?: Record<string, string>; cpu?: number } = {},
): Promise<ServerProcess> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_bench_" });
  const port = freePort();
  const pin = options.cpu !== undefined ? ["-c", String(options.cpu), Deno.execPath()] : [];
  // This checkout's server runs as its launchers run it (deno task start, the binary, the image):
  // with their V8 flags and environment. Another checkout's (BENCH_BASELINE) runs without them:
  // they are this checkout's.
  const launched = main === MAIN && !options.script;
  const child = new Deno.Command(pin.length ? "taskset" : Deno.execPath(), {
    args: [
      ...pin,
      "run",
      "--config",
      CONFIG,
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      ...(launched ? [`--v8-flags=${SERVER_V8_FLAGS}`] : []),
      // e.g. BENCH_SERVER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server.
      ...(Deno.env.get("BENCH_SERVER_FLAGS")?.split(" ").filter((f) => f) ?? []),
      ...(options.script ? [options.script, "--port", String(port)] : [
        main,
        "--host=127.0.0.1",
        `--port=${port}`,
        "--metrics-port=0",
        `--db=${options.db ?? `${dir}/bench.kv`}`,
        "--log-level=warning",
        // No web app: the bench measures the chat, and the app may not be built.
        ...(args.some((a) => a.startsWith("--web-port")) ? [] : ["--web-port=0"]),
      ]),
      ...args,
    ],
    env: { ...(launched ? SERVER_ENV : {}), ...options.env },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error("Server did not start in 30 s");
      await pause(50);
    }
  }
  return {
    port,
    pid: child.pid,
    child,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A minimal client: writes lines, hands each received line to `onLine`. */
export class BenchClient {
  readonly conn: Deno.TcpConn;
  onLine: (line: string) => void = () => {};
  #rest = "";
  readonly done: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.done = this.#read();
  }

  static async connect(port: number): Promise<BenchClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new BenchClient(conn);
  }

  async send(value: unknown): Promise<void> {
    const bytes = encoder.encode(JSON.stringify(value) + "\n");
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  /**
   * Sends a request and resolves with the first line whose type is one of `types`; rejects if the
   * server closes the connection first.
   */
  request(value: unknown, types: string[]): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.done.then(() => reject(new Error("Connection closed by the server")));
      const previous = this.onLine;
      this.onLine = (line) => {
        const msg = JSON.parse(line);
        if (types.includes(msg.type)) {
          this.onLine = previous;
          resolve(msg);
        } else previous(line);
      };
      this.send(value).catch(reject);
    });
  }

  /** Registers and logs in; rejects on an error reply. */
  async loginAs(name: string, password = "bench-password"): Promise<void> {
    const reg = await this.request(
      { type: "register", username: name, password },
      ["register", "error"],
    );
    if (reg.type === "error") throw new Error(`register ${name}: ${reg.message}`);
    const login = await this.request(
      { type: "login", username: name, password },
      ["login", "error"],
    );
    if (login.type === "error") throw new Error(`login ${name}: ${login.message}`);
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // closed
    }
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) return;
        const text = this.#rest + decoder.decode(buf.subarray(0, n));
        const lines = text.split("\n");
        this.#rest = lines.pop()!;
        for (const line of lines) if (line) this.onLine(line);
      }
    } catch {
      // closed
    }
  }
}

/** The p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)];
}

/** The median of `values`. */
export function median(values: number[]): number {
  return percentile(values, 50);
}

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
export async function processStats(pid: number): Promise<{ cpuSeconds: number; rssBytes: number }> {
  const stat = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
  // Fields 14 and 15 (utime, stime) in clock ticks; 100 ticks per second on Linux.
  const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / 100;
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rssKb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
  return { cpuSeconds, rssBytes: rssKb * 1024 };
}

/** Resolves after `ms` (benchmarks pace their load; tests never do this). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
