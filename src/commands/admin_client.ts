// The `user` command's side of the admin socket: one request to the running server, one reply.
import type { AdminReply, AdminRequest } from "../protocol/admin.ts";

// Time for the server to answer: a store write, a few sessions ended.
const REPLY_TIMEOUT_MS = 30_000;

/**
 * Sends one request to the server listening on the admin socket `path` and returns its reply.
 *
 * @throws {Error} `Cannot reach the running server at "path": reason`
 */
export async function askServer(path: string, req: AdminRequest): Promise<AdminReply> {
  const fail = (reason: string, cause?: unknown) =>
    new Error(`Cannot reach the running server at "${path}": ${reason}`, { cause });
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (err) {
    throw fail((err as Error).message, err);
  }
  const timer = setTimeout(() => conn.close(), REPLY_TIMEOUT_MS);
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(req) + "\n");
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    const text = await new Response(conn.readable).text();
    const line = text.split("\n")[0];
    if (line === "") throw fail("no answer");
    return JSON.parse(line) as AdminReply;
  } catch (err) {
    throw err instanceof Error && err.message.startsWith("Cannot reach") ? err : fail(
      (err as Error).message,
      err,
    );
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // conn.readable closed it
    }
  }
}
