// ClassCord cluster nodes as real processes (a kill -9 must kill a whole node): each on its own
// store and ports, on a NATS cluster, its output read as it comes (a full pipe would stall it).
import { command } from "./process.ts";
import { freePort } from "../../testing/ports.ts";

/** A node started by {@link startNode}. */
export interface NodeProcess {
  name: string;
  /** The chat port. */
  port: number;
  /** /metrics, /healthz and /readyz. */
  metricsPort: number;
  db: string;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal (SIGKILL: a crash) and waits for the exit. */
  kill(signal: Deno.Signal): Promise<void>;
}

/** Options of {@link startNode}. */
export interface NodeOptions {
  name: string;
  nats: string[];
  db: string;
  /** `--proxy-from`: the balancer's address. */
  proxyFrom?: string;
  /** More flags (limits). */
  args?: string[];
  /** The metrics port (a restarted node keeps its balancer's health check). */
  metricsPort?: number;
}

/** Starts a node and waits until it listens (it has caught up with the stream by then). */
export async function startNode(o: NodeOptions): Promise<NodeProcess> {
  const metricsPort = o.metricsPort ?? freePort();
  const child = command([
    "--host=127.0.0.1",
    "--port=0",
    `--metrics-port=${metricsPort}`,
    `--db=${o.db}`,
    `--nats=${o.nats.join(",")}`,
    `--node-name=${o.name}`,
    ...(o.proxyFrom ? [`--proxy-from=${o.proxyFrom}`] : []),
    ...(o.args ?? []),
  ]).spawn();
  let out = "";
  let wake: (() => void) | undefined;
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      out += text;
      wake?.();
    }
  };
  const reading = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const status = child.status;
  let exited = false;
  status.then(() => {
    exited = true;
    wake?.();
  });
  const deadline = Date.now() + 30_000;
  let port: number | undefined;
  while (port === undefined) {
    const m = out.match(/Listening on 127\.0\.0\.1:(\d+)/);
    if (m) port = Number(m[1]);
    else if (exited) throw new Error(`Node ${o.name} exited before listening:\n${out}`);
    else if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`Node ${o.name} did not listen within 30 s:\n${out}`);
    } else {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, 1000);
      });
      clearTimeout(timer);
    }
  }
  return {
    name: o.name,
    port,
    metricsPort,
    db: o.db,
    output: () => out,
    async kill(signal) {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      await status;
      await reading;
    },
  };
}
