// `classcord serve`, the default command: reads the options, sets up logging, runs the server
// until SIGINT or SIGTERM, and reloads its TLS certificate and log file on SIGHUP.
import { getLogger } from "@logtape/logtape";
import { type Config, parseConfig } from "../config.ts";
import { setupLogging } from "../log.ts";
import { startServer } from "../server.ts";
import { exposedStore } from "../store/files.ts";
import { resolvePath } from "./cli.ts";

/** Exit codes: 0 after a clean shutdown, 1 when startup fails (2, bad options, is thrown). */
const EXIT_STARTUP = 1;

/** Relative paths of the options, as the user's working directory reads them, made absolute. */
export function absolutePaths(config: Config): Config {
  const path = (p: string) => p === "" || p === ":memory:" ? p : resolvePath(p);
  return {
    ...config,
    db: path(config.db),
    tlsCert: path(config.tlsCert),
    tlsKey: path(config.tlsKey),
    logFile: path(config.logFile),
  };
}

/**
 * Warns, in one line, when other accounts of the machine can read the store (made before its
 * files were created private, or copied without their modes), with the command that fixes it.
 */
async function reportExposedStore(db: string): Promise<void> {
  const log = getLogger(["classcord", "store"]);
  try {
    const exposed = await exposedStore(db);
    if (!exposed) return;
    const files = exposed.paths.map((p) => `${p.path} (${p.mode})`).join(", ");
    // The paths and the command in the text, unquoted, so the command can be pasted as it is;
    // the JSON log keeps them as properties too.
    log.warning(
      `Other users of this machine can read the store: ${files}; fix it with: ${exposed.command}`,
      {
        files,
        command: exposed.command,
      },
    );
  } catch (error) {
    log.debug("Cannot check the modes of the store's files: {error}", { error });
  }
}

/**
 * Runs the server with the options in `args`; resolves with the exit code once it has stopped.
 *
 * @throws {ConfigError} on a bad option (exit code 2)
 */
export async function serve(args: string[]): Promise<number> {
  const config = absolutePaths(parseConfig(args, Deno.env.toObject()));
  await setupLogging(config);
  const log = getLogger(["classcord"]);
  let server;
  try {
    server = await startServer(config);
  } catch (err) {
    const error = (err as Error).message;
    log.fatal(`Cannot start: ${error}`, { error });
    return EXIT_STARTUP;
  }
  const { promise: stopSignal, resolve } = Promise.withResolvers<Deno.Signal>();
  const stops: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of stops) Deno.addSignalListener(s, () => resolve(s));
  // SIGHUP, as ergo and nats-server read it: a renewed certificate, a rotated log file.
  const reload = async () => {
    log.info("Received SIGHUP, reloading the TLS certificate and the log file");
    await setupLogging(config);
    await server.reload().catch((error) =>
      log.error("Reload failed, going on as before: {error}", { error: (error as Error).message })
    );
  };
  Deno.addSignalListener("SIGHUP", reload);
  // After the signal listeners: a stop asked meanwhile is not lost.
  await reportExposedStore(config.db);
  const signal = await stopSignal;
  Deno.removeSignalListener("SIGHUP", reload);
  log.info("Received {signal}, shutting down", { signal });
  await server.shutdown();
  return 0;
}
