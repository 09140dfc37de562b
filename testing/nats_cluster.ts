// A 3-server NATS JetStream cluster on loopback for the cluster's tests and benchmark: Debian's
// nats-server, free ports, a temp folder each, ready once every server's /healthz says so.
// Servers can be killed (SIGKILL) and started again on the same ports and storage.
import { freePort } from "./ports.ts";

/** The nats-server program on PATH. */
function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (dir && Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

/** One nats-server of the cluster. */
interface ServerSpec {
  name: string;
  client: number;
  cluster: number;
  http: number;
  dir: string;
  /** Tells its clients nothing of the other servers' addresses (`cluster.no_advertise`). */
  unadvertised: boolean;
}

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions {
  /**
   * Servers (0, 1, 2) configured with `no_advertise`: they give their clients no other
   * server's address, and the others none of theirs, as a server behind an address translation
   * is set up. A client of one sees a smaller cluster than a client of another.
   */
  unadvertised?: number[];
}

/** A running cluster; `await using` stops every server and removes their storage. */
export interface NatsCluster extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>` of each server, in order. */
  urls: string[];
  /** Kills server `i` with SIGKILL (a crash: no goodbye to its peers). */
  kill(i: number): Promise<void>;
  /** Starts server `i` again (same ports and storage) and waits for its /healthz. */
  restart(i: number): Promise<void>;
}

const HEALTH_TIMEOUT_MS = 30_000;

/** The configuration of one server: every route listed, itself included (docs/cluster.md §12). */
function config(spec: ServerSpec, all: ServerSpec[]): string {
  const routes = all.map((s) => `nats-route://127.0.0.1:${s.cluster}`).join(", ");
  return [
    `server_name: ${spec.name}`,
    `listen: 127.0.0.1:${spec.client}`,
    `http: 127.0.0.1:${spec.http}`,
    `jetstream { store_dir: "${spec.dir}/js" }`,
    `cluster { name: cc, listen: 127.0.0.1:${spec.cluster}, routes: [${routes}]` +
    (spec.unadvertised ? ", no_advertise: true }" : " }"),
    "",
  ].join("\n");
}

/** Starts three clustered servers with JetStream and waits until each reports healthy. */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const binary = which("nats-server");
  if (!binary) throw new Error("nats-server not found (Debian: apt-get install nats-server)");
  // A free port can be taken by someone else before the server binds it: then it exits at
  // once, and the cluster is started again on other ports.
  for (let attempt = 1;; attempt++) {
    try {
      return await startOnce(binary, options);
    } catch (err) {
      if (attempt === 3 || !(err instanceof ServerExited)) throw err;
    }
  }
}

/** A server that exited before it was healthy (a port taken meanwhile, most likely). */
class ServerExited extends Error {}

async function startOnce(binary: string, options: NatsClusterOptions): Promise<NatsCluster> {
  const root = await Deno.makeTempDir({ prefix: "classcord_nats_" });
  const specs: ServerSpec[] = [0, 1, 2].map((i) => ({
    name: `n${i + 1}`,
    client: freePort(),
    cluster: freePort(),
    http: freePort(),
    dir: `${root}/n${i + 1}`,
    unadvertised: options.unadvertised?.includes(i) ?? false,
  }));
  const children: (Deno.ChildProcess | undefined)[] = [];
  const start = async (i: number) => {
    const spec = specs[i];
    await Deno.mkdir(spec.dir, { recursive: true });
    await Deno.writeTextFile(`${spec.dir}/nats.conf`, config(spec, specs));
    children[i] = new Deno.Command(binary, {
      args: ["-c", `${spec.dir}/nats.conf`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  };
  const healthy = (i: number) => waitHealthy(specs[i].http, children[i]!);
  const stop = async (i: number) => {
    const child = children[i];
    if (!child) return;
    children[i] = undefined;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  };
  try {
    for (let i = 0; i < 3; i++) await start(i);
    // A server reports healthy once the cluster has a JetStream meta leader; its clients learn
    // of the other servers once its routes to them are up.
    await Promise.all([0, 1, 2].map(healthy));
    await Promise.all(specs.map((spec) => waitRouted(spec.http)));
  } catch (err) {
    for (let i = 0; i < 3; i++) await stop(i);
    await Deno.remove(root, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    urls: specs.map((s) => `nats://127.0.0.1:${s.client}`),
    kill: stop,
    async restart(i) {
      await stop(i);
      await start(i);
      await healthy(i);
      await waitRouted(specs[i].http);
    },
    async [Symbol.asyncDispose]() {
      for (let i = 0; i < 3; i++) await stop(i);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** Polls a server's /healthz (JetStream enabled and current) until 200, or fails. */
async function waitHealthy(port: number, child: Deno.ChildProcess): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  for (;;) {
    if (exited) throw new ServerExited(`nats-server on http port ${port} exited`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      const body = await res.text();
      if (res.status === 200) return;
      if (Date.now() > deadline) throw new Error(`nats-server ${port} not healthy: ${body}`);
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls a server's /routez until it has routes to the two other servers, or fails. */
async function waitRouted(port: number): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  for (;;) {
    const routez = await (await fetch(`http://127.0.0.1:${port}/routez`)).json();
    const peers = new Set((routez.routes ?? []).map((r: { remote_id: string }) => r.remote_id));
    if (peers.size >= 2) return;
    if (Date.now() > deadline) throw new Error(`nats-server ${port} has ${peers.size} routes`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
