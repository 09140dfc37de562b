// The chat's three transports for suites that hold on each alike (docs/protocol.md §7 and §11):
// a test server with the listener under test, clients over it, and one test per transport for
// each case, with the cases that have no meaning on a transport named and explained.
import assert from "node:assert/strict";
import { type Transport, TRANSPORTS } from "../../src/events.ts";
import { makeCertificate } from "./certs.ts";
import { parseMetrics, startTestServer, TestClient, type TestServer } from "./test_server.ts";
import { needs } from "./tools.ts";
import { WsStream } from "./ws_stream.ts";

export { type Transport, TRANSPORTS };

/** How test names say each transport. */
export const TRANSPORT_NAMES: Record<Transport, string> = {
  tcp: "TCP",
  tls: "TLS",
  ws: "WebSocket",
};

/** A case that has no meaning over a transport, and why. */
export interface Skip {
  /** The case's name, as given to {@link TransportCases.test}. */
  test: string;
  transport: Transport;
  reason: string;
}

/** Options of {@link startOn}: those of a test server, less the listeners it opens itself. */
export type TransportServerOptions = Omit<
  NonNullable<Parameters<typeof startTestServer>[0]>,
  "tls" | "web" | "webPort"
>;

/** A test server whose `connect()` opens a client over one transport. */
export interface TransportServer extends TestServer {
  transport: Transport;
}

// One certificate for the whole run, kept in memory: making it takes three openssl runs.
let pems: Promise<{ cert: string; key: string; ca: string }> | undefined;

function testCertificate(): Promise<{ cert: string; key: string; ca: string }> {
  pems ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_certs_" });
    try {
      const files = await makeCertificate(dir);
      return {
        cert: await Deno.readTextFile(files.cert),
        key: await Deno.readTextFile(files.key),
        ca: await Deno.readTextFile(files.ca),
      };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return pems;
}

/**
 * Starts a test server with the listener of `transport` (the chat port always listens too);
 * `connect()` opens clients over `transport`. On dispose, before the server stops, it asserts
 * that every connection the server saw came over `transport`: the case really ran on it.
 */
export async function startOn(
  transport: Transport,
  options: TransportServerOptions = {},
): Promise<TransportServer> {
  let dir: string | undefined;
  let srv: TestServer;
  let connect: () => Promise<TestClient>;
  if (transport === "tls") {
    const pem = await testCertificate();
    dir = await Deno.makeTempDir({ prefix: "classcord_tls_" });
    await Deno.writeTextFile(`${dir}/cert.pem`, pem.cert);
    await Deno.writeTextFile(`${dir}/key.pem`, pem.key);
    srv = await startTestServer({
      ...options,
      tls: { cert: `${dir}/cert.pem`, key: `${dir}/key.pem` },
    });
    const port = srv.server.tlsPort;
    connect = async () =>
      TestClient.over(await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [pem.ca] }));
  } else if (transport === "ws") {
    srv = await startTestServer({ ...options, web: true });
    const port = srv.server.webPort;
    connect = async () => TestClient.over(await WsStream.connect(port));
  } else {
    srv = await startTestServer(options);
    connect = srv.connect;
  }
  return {
    ...srv,
    transport,
    connect,
    async [Symbol.asyncDispose]() {
      try {
        const m = parseMetrics(await srv.server.metrics.text());
        const seen = Object.fromEntries(
          TRANSPORTS.map((t) => [t, m.get(`classcord_connections_total{transport="${t}"}`)]),
        );
        const expected = Object.fromEntries(TRANSPORTS.map((t) => [t, 0]));
        assert.ok(seen[transport]! > 0, `no connection over ${transport}`);
        assert.deepEqual(
          { ...seen, [transport]: 0 },
          expected,
          `connections over another transport than ${transport}`,
        );
      } finally {
        await srv[Symbol.asyncDispose]();
        if (dir) await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

/** Registers cases, each as one test per transport. */
export interface TransportCases {
  /** One test per transport, named `name (over TCP)` and so on; skipped ones say why. */
  test(name: string, run: (transport: Transport) => Promise<void>): void;
}

/**
 * Cases run over every transport but those `skips` name. Each skip must name a case registered
 * in the same module turn, else loading the module fails (a skip left behind by a rename would
 * hide nothing, but say something false).
 */
export function transportCases(skips: Skip[]): TransportCases {
  const named = new Set<string>();
  queueMicrotask(() => {
    for (const skip of skips) {
      assert.ok(named.has(skip.test), `A skip names no case: ${JSON.stringify(skip.test)}`);
    }
  });
  return {
    test(name, run) {
      named.add(name);
      for (const transport of TRANSPORTS) {
        const skip = skips.find((s) => s.test === name && s.transport === transport);
        const label = `${name} (over ${TRANSPORT_NAMES[transport]})`;
        Deno.test({
          name: skip ? `${label}: skipped, ${skip.reason}` : label,
          ignore: skip !== undefined || (transport === "tls" && needs("openssl").ignore),
          fn: () => run(transport),
        });
      }
    },
  };
}
