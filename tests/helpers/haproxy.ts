// HAProxy in TCP mode in front of servers on loopback, for the PROXY protocol tests and the
// cluster's: Debian's haproxy in the foreground with a config in a temp folder, each frontend on
// a free port, ready once its stats socket answers (every frontend is bound by then); that socket
// also says what it thinks of each server. Also PROXY v2 headers made by hand, as HAProxy sends them.
import ipaddr from "ipaddr.js";
import { freePort } from "../../testing/ports.ts";
import { which } from "./tools.ts";

/** A server behind a frontend. */
export interface HaproxyServer {
  port: number;
  /** 127.0.0.1 unless told. */
  host?: string;
  /**
   * The PROXY header sent before the client's bytes: v2 (`send-proxy-v2`, the default), v1
   * (`send-proxy`), or none.
   */
  proxy?: 1 | 2 | "none";
  /**
   * Health checks every second over HTTP, GET /readyz on `httpPort` (a node's metrics port): a
   * server is down after 2 failures, up after 2 successes, and its sessions are cut when it goes
   * down. None by default: always up. (A plain `check` on the chat port connects and resets
   * without a byte; a `tcp-check` that talks sends a LOCAL header, which the server closes.)
   */
  check?: { httpPort: number };
}

/** A frontend and the servers it balances. */
export interface HaproxyFrontend {
  servers: HaproxyServer[];
  /** `leastconn` (the default: long-lived chat connections) or `roundrobin`. */
  balance?: "leastconn" | "roundrobin";
  /**
   * The address HAProxy connects to the servers from (`source`): a loopback address of its own
   * (127.0.0.2, say) tells the balancer apart from clients on 127.0.0.1.
   */
  source?: string;
}

/** A running HAProxy; `await using` stops it and removes its folder. */
export interface Haproxy extends AsyncDisposable {
  /** The port of each frontend on 127.0.0.1, in order. */
  ports: number[];
  /** The configuration it runs. */
  config: string;
  /** What HAProxy printed so far (alerts and warnings). */
  output(): string;
  /** One command on the stats socket (`show stat`, `disable server b0/s1`...); its answer. */
  command(line: string): Promise<string>;
  /** `show stat` as rows: `pxname` (`b0`...), `svname` (`s0`...), `status` (`UP`, `DOWN`...). */
  stats(): Promise<Record<string, string>[]>;
  /** Waits (20 s at most) until server `server` of frontend `frontend` has `status`. */
  waitStatus(frontend: number, server: number, status: "UP" | "DOWN"): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;
const POLL_MS = 50;

/** The configuration: one frontend `f<i>` and backend `b<i>` each, servers `s<j>`. */
export function haproxyConfig(
  frontends: HaproxyFrontend[],
  options: { ports: number[]; socket: string },
): string {
  const lines = [
    "global",
    `  stats socket ${options.socket} mode 600 level admin`,
    "  maxconn 4096",
    "defaults",
    "  mode tcp",
    "  timeout connect 2s",
    "  timeout client 1h",
    "  timeout server 1h",
    // Chat connections are long-lived and mostly idle: no cut while both sides are quiet.
    "  timeout tunnel 24h",
    "  timeout check 2s",
    // A connection to a server that fails goes to another one.
    "  option redispatch",
    "  retries 2",
  ];
  frontends.forEach((frontend, i) => {
    lines.push(
      `frontend f${i}`,
      `  bind 127.0.0.1:${options.ports[i]}`,
      `  default_backend b${i}`,
      `backend b${i}`,
      `  balance ${frontend.balance ?? "leastconn"}`,
    );
    if (frontend.source) lines.push(`  source ${frontend.source}`);
    if (frontend.servers.some((s) => s.check)) {
      lines.push("  option httpchk GET /readyz");
    }
    frontend.servers.forEach((server, j) => {
      const proxy = server.proxy ?? 2;
      const words = [`  server s${j} ${server.host ?? "127.0.0.1"}:${server.port}`];
      if (proxy === 2) words.push("send-proxy-v2");
      if (proxy === 1) words.push("send-proxy");
      if (server.check) {
        words.push(`check port ${server.check.httpPort} inter 1s fall 2 rise 2`);
        words.push("on-marked-down shutdown-sessions");
      }
      lines.push(words.join(" "));
    });
  });
  return lines.join("\n") + "\n";
}

/**
 * Starts HAProxy (`haproxy -db`) and waits until it answers on its stats socket: it binds every
 * frontend before that, and no test connection reaches a server on the way.
 */
export async function startHaproxy(frontends: HaproxyFrontend[]): Promise<Haproxy> {
  const binary = which("haproxy");
  if (!binary) throw new Error("haproxy not found (Debian: apt-get install haproxy)");
  const dir = await Deno.makeTempDir({ prefix: "classcord_haproxy_" });
  const socket = `${dir}/admin.sock`;
  const ports = frontends.map(() => freePort());
  const config = haproxyConfig(frontends, { ports, socket });
  await Deno.writeTextFile(`${dir}/haproxy.cfg`, config);
  const child = new Deno.Command(binary, {
    args: ["-db", "-f", `${dir}/haproxy.cfg`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) out += text;
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone already */ }
    }
    await status;
    await drained;
  };

  const command = async (line: string): Promise<string> => {
    const conn = await Deno.connect({ transport: "unix", path: socket });
    try {
      await conn.write(new TextEncoder().encode(line + "\n"));
      return await new Response(conn.readable).text();
    } catch (err) {
      try {
        conn.close();
      } catch { /* closed by the response's end */ }
      throw err;
    }
  };
  const stats = async () => {
    const [head, ...rows] = (await command("show stat")).trim().split("\n");
    const names = head.replace(/^# /, "").split(",");
    return rows.map((row) => {
      const cells = row.split(",");
      return Object.fromEntries(names.map((name, i) => [name, cells[i] ?? ""]));
    });
  };

  try {
    await waitReady(() => command("show info"), () => exited, () => out);
  } catch (err) {
    await stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    ports,
    config,
    output: () => out,
    command,
    stats,
    async waitStatus(frontend, server, want) {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        const row = (await stats()).find((r) =>
          r.pxname === `b${frontend}` && r.svname === `s${server}`
        );
        // "UP 1/2" while rising, "DOWN 1/2" while falling: only the settled state counts.
        if (row?.status === want) return;
        if (Date.now() > deadline) {
          throw new Error(`b${frontend}/s${server} not ${want}: ${JSON.stringify(row)}`);
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
    async [Symbol.asyncDispose]() {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Waits until HAProxy answers `ask`, or exits, or the time is up. */
async function waitReady(
  ask: () => Promise<string>,
  exited: () => boolean,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited()) throw new Error(`haproxy exited:\n${output()}`);
    try {
      if ((await ask()).includes("Name: HAProxy")) return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`haproxy not ready: ${err}\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * A PROXY v2 header as HAProxy sends it (doc/proxy-protocol.txt 2.2): PROXY over TCP from
 * `source` to `destination` (same family), or LOCAL (a health check), with `tlvs` bytes after
 * the addresses.
 */
export function proxyV2Header(
  options: {
    source?: string;
    destination?: string;
    command?: "proxy" | "local";
    tlvs?: Uint8Array;
  } = {},
): Uint8Array {
  const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  const tlvs = [...(options.tlvs ?? [])];
  if (options.command === "local") {
    return Uint8Array.from([
      ...signature,
      0x20,
      0x00,
      tlvs.length >> 8,
      tlvs.length & 0xff,
      ...tlvs,
    ]);
  }
  const source = ipaddr.parse(options.source ?? "127.0.0.1").toByteArray();
  const destination = ipaddr.parse(
    options.destination ?? (source.length === 4 ? "127.0.0.1" : "::1"),
  ).toByteArray();
  const family = source.length === 4 ? 0x11 : 0x21;
  const body = [...source, ...destination, 0xc3, 0x50, 0x30, 0x39, ...tlvs]; // ports 50000, 12345
  return Uint8Array.from([
    ...signature,
    0x21,
    family,
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ]);
}
