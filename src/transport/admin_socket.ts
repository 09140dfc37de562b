// The admin socket: a Unix socket beside the store, where the `user` command sends account
// changes to the running server. Only who may write the store may connect (mode 0600 in the
// store's folder): the same trust as the KV file itself.
import { getLogger } from "@logtape/logtape";
import { type AdminReply, AdminRequest } from "../protocol/admin.ts";
import { encodeBytes, LineSplitter } from "../protocol/framing.ts";

const log = getLogger(["classcord", "tcp"]);

// One request is a name and a hash: a few hundred bytes. Anything longer is not ours.
const MAX_REQUEST_BYTES = 4096;
// A client that connects and says nothing is dropped, so a shutdown never waits for it.
const REQUEST_TIMEOUT_MS = 10_000;

/** The admin socket of the store at `db`. */
export function adminSocketPath(db: string): string {
  return `${db}.sock`;
}

/** A listening admin socket; `close()` stops it and removes the socket file. */
export class AdminSocket {
  readonly path: string;
  readonly #listener: Deno.Listener;
  readonly #answer: (req: AdminRequest) => Promise<AdminReply>;
  readonly #serving = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #closed = false;

  private constructor(
    path: string,
    listener: Deno.Listener,
    answer: (req: AdminRequest) => Promise<AdminReply>,
  ) {
    this.path = path;
    this.#listener = listener;
    this.#answer = answer;
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Listens on `path` (a socket file left by a server that died is replaced: the caller holds
   * the store's lock, so no live server uses it), readable and writable by its owner only.
   *
   * @throws {Error} `Cannot open admin socket "path": reason`
   */
  static async listen(
    path: string,
    answer: (req: AdminRequest) => Promise<AdminReply>,
  ): Promise<AdminSocket> {
    try {
      await Deno.remove(path).catch((err) => {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      });
      const listener = Deno.listen({ transport: "unix", path });
      await Deno.chmod(path, 0o600);
      return new AdminSocket(path, listener, answer);
    } catch (err) {
      throw new Error(`Cannot open admin socket "${path}": ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Stops listening, waits for the requests being answered, removes the socket file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    await this.#accepting;
    await Promise.all(this.#serving);
    await Deno.remove(this.path).catch(() => {});
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // closed
      }
      const serving = this.#serve(conn).finally(() => this.#serving.delete(serving));
      this.#serving.add(serving);
    }
  }

  /** One request line, one reply line, then the connection closes. */
  async #serve(conn: Deno.Conn): Promise<void> {
    const timer = setTimeout(() => conn.close(), REQUEST_TIMEOUT_MS);
    try {
      const line = await readLine(conn);
      if (line === undefined) return;
      const reply = await this.#reply(line);
      const bytes = encodeBytes(reply);
      for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    } catch (err) {
      log.debug("Admin socket connection failed: {error}", { error: err });
    } finally {
      clearTimeout(timer);
      try {
        conn.close();
      } catch {
        // closed by the timer or the peer
      }
    }
  }

  async #reply(line: string): Promise<AdminReply> {
    let req: AdminRequest;
    try {
      req = AdminRequest.parse(JSON.parse(line));
    } catch {
      return { ok: false, code: "bad_request", error: "Not an admin request" };
    }
    return await this.#answer(req);
  }
}

/** The first line of a connection, or undefined when it closes first or sends too much. */
async function readLine(conn: Deno.Conn): Promise<string | undefined> {
  const splitter = new LineSplitter(MAX_REQUEST_BYTES);
  const buf = new Uint8Array(MAX_REQUEST_BYTES);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return undefined;
    for (const frame of splitter.push(buf.subarray(0, n))) {
      return frame.kind === "line" ? new TextDecoder().decode(frame.bytes) : undefined;
    }
    if (splitter.unterminatedBytes > MAX_REQUEST_BYTES) return undefined;
  }
}
