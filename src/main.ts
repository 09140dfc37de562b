// Entry point: reads flags, sets up logging, runs the server until SIGINT/SIGTERM.
import { getLogger } from "@logtape/logtape";
import { helpText, parseConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { setupLogging } from "./log.ts";
import { startServer } from "./server.ts";

/** Exit codes: 0 after a clean shutdown, 1 when startup fails, 2 for bad configuration. */
const EXIT_STARTUP = 1;
const EXIT_CONFIG = 2;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseConfig(Deno.args, Deno.env.toObject());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`classcord: ${err.message} (see --help)`);
    return EXIT_CONFIG;
  }
  if (parsed.help) {
    console.log(helpText());
    return 0;
  }
  const { config } = parsed;
  if (parsed.healthcheck) return await healthcheck(config.metricsPort);
  await setupLogging(config.logLevel, config.logFormat);
  const log = getLogger(["classcord"]);
  let server;
  try {
    server = await startServer(config);
  } catch (err) {
    log.fatal("Cannot start: {error}", { error: (err as Error).message });
    return EXIT_STARTUP;
  }
  const { promise: stopSignal, resolve } = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, () => resolve(s));
  const signal = await stopSignal;
  log.info("Received {signal}, shutting down", { signal });
  await server.shutdown();
  return 0;
}

/** Exit 0 when the server on this machine answers /healthz, 1 otherwise (container HEALTHCHECK). */
async function healthcheck(metricsPort: number): Promise<number> {
  if (metricsPort === 0) {
    console.error("classcord: --healthcheck needs the metrics port, which is disabled");
    return EXIT_STARTUP;
  }
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/healthz`, {
      signal: AbortSignal.timeout(3000),
    });
    await res.body?.cancel();
    return res.ok ? 0 : EXIT_STARTUP;
  } catch (err) {
    console.error(`classcord: health check failed: ${(err as Error).message}`);
    return EXIT_STARTUP;
  }
}

if (import.meta.main) Deno.exit(await main());
