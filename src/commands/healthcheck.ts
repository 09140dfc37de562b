// `classcord healthcheck`: asks the running server's /healthz (the container's health check,
// where there is no curl) and exits 0 when it answers, 1 otherwise.
import { parseConfig } from "../config.ts";

const HELP = `Asks the running server's /healthz; exits 0 when it answers, 1 otherwise (the
container's health check, where there is no curl).

Usage: classcord healthcheck [--metrics-host <address>] [--metrics-port <port>]

It reads the server's options and CLASSCORD_* variables, so in the server's environment it needs
none. The metrics port must not be 0 (disabled).
`;

/** Exit 0 when the server on this machine answers /healthz, 1 otherwise. */
export async function healthcheck(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP.trimEnd());
    return 0;
  }
  const { metricsPort, metricsHost } = parseConfig(args, Deno.env.toObject());
  if (metricsPort === 0) {
    console.error("classcord: healthcheck needs the metrics port, which is disabled");
    return 1;
  }
  // The listener on every interface answers on loopback too.
  const host = metricsHost === "0.0.0.0" || metricsHost === "::" ? "127.0.0.1" : metricsHost;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${metricsPort}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    await res.body?.cancel();
    return res.ok ? 0 : 1;
  } catch (err) {
    console.error(`classcord: health check of ${url} failed: ${(err as Error).message}`);
    return 1;
  }
}
