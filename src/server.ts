// Composition root: picks the implementations, wires store, hasher, hub and listener together.
import { getLogger } from "@logtape/logtape";
import { type Argon2Params, type PasswordHasher, WorkerHasher } from "./auth/password.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config } from "./config.ts";
import { Hub } from "./hub/hub.ts";
import { Accounts } from "./session/account.ts";
import { Chat } from "./session/chat.ts";
import { Session } from "./session/session.ts";
import { KvStore } from "./store/kv_store.ts";
import { ChatListener } from "./transport/tcp.ts";

const log = getLogger(["classcord", "tcp"]);

/** Transport limits of PROTOCOL B.7 that the foundation enforces. */
export interface Limits {
  /** 64 KiB line cap (PROTOCOL B.7). */
  maxLineBytes: number;
  /** 1 MiB send queue per session (PROTOCOL B.7). */
  maxQueueBytes: number;
  /** 10 s write deadline per session (PROTOCOL B.7). */
  writeDeadlineMs: number;
}

/** The defaults of PROTOCOL B.7. */
export const DEFAULT_LIMITS: Limits = {
  maxLineBytes: 64 * 1024,
  maxQueueBytes: 1024 * 1024,
  writeDeadlineMs: 10_000,
};

/** Options beyond {@link Config}, for tests and tools. */
export interface ServerOptions {
  /** argon2id cost; tests use a cheap one, production the default of B.7. */
  argon2?: Argon2Params;
  clock?: Clock;
  limits?: Partial<Limits>;
}

/** A running server. `await using` or {@link Server.shutdown} stops it. */
export interface Server extends AsyncDisposable {
  /** The chat port actually bound. */
  readonly port: number;
  readonly hostname: string;
  /** Sends `shutting_down` to identified sessions, closes everything; idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Opens the store and starts the chat listener.
 *
 * @throws {Error} when the store cannot be opened or the port cannot be bound
 */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<Server> {
  const clock = options.clock ?? systemClock;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const store = await KvStore.open(config.db);
  let hasher: PasswordHasher | undefined;
  let listener: ChatListener;
  try {
    hasher = new WorkerHasher({ params: options.argon2 });
    const hub = new Hub();
    const deps = {
      hub,
      accounts: new Accounts({ store, hasher, hub, clock }),
      chat: new Chat({ hub, clock }),
    };
    listener = ChatListener.listen({
      hostname: config.host,
      port: config.port,
      ...limits,
      accept: (out, remote) => new Session(deps, out, remote),
    });
  } catch (err) {
    hasher?.close();
    store.close();
    throw err;
  }
  const { hostname, port } = listener.addr;
  log.info("Listening on {hostname}:{port}, store {db}", { hostname, port, db: config.db });

  let stopped: Promise<void> | undefined;
  const shutdown = () =>
    stopped ??= (async () => {
      await listener.shutdown();
      hasher.close();
      store.close();
      log.info("Stopped");
    })();
  return { port, hostname, shutdown, [Symbol.asyncDispose]: shutdown };
}
