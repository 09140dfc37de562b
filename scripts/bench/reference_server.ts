// The reference of the fan-out benchmark: the smallest fan-out server the same runtime allows.
// Deno.listen, split lines as bytes, write each line to every other connection; a per-connection
// queue so writes neither interleave nor wait on each other. No protocol, no storage, no limits.
// `--null` reads and discards everything instead: the generator's own ceiling.
const args = Deno.args;
const port = Number(args[args.indexOf("--port") + 1]);
const discard = args.includes("--null");

const conns = new Set<Peer>();

class Peer {
  #queue: Uint8Array[] = [];
  #writing = false;
  constructor(readonly conn: Deno.Conn) {}

  send(line: Uint8Array): void {
    this.#queue.push(line);
    if (!this.#writing) this.#flush();
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const chunks = this.#queue;
        this.#queue = [];
        let size = 0;
        for (const c of chunks) size += c.length;
        const bytes = new Uint8Array(size);
        let off = 0;
        for (const c of chunks) {
          bytes.set(c, off);
          off += c.length;
        }
        for (let w = 0; w < bytes.length;) w += await this.conn.write(bytes.subarray(w));
      }
    } catch {
      conns.delete(this);
    }
    this.#writing = false;
  }
}

async function serve(conn: Deno.Conn): Promise<void> {
  (conn as Deno.TcpConn).setNoDelay(true);
  const peer = new Peer(conn);
  conns.add(peer);
  const buf = new Uint8Array(64 * 1024);
  let rest = new Uint8Array(0);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      if (discard) continue;
      let data: Uint8Array = buf.subarray(0, n);
      if (rest.length > 0) {
        const joined = new Uint8Array(rest.length + n);
        joined.set(rest);
        joined.set(data, rest.length);
        data = joined;
      }
      let start = 0;
      for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, start)) {
        const line = data.slice(start, i + 1);
        for (const other of conns) if (other !== peer) other.send(line);
        start = i + 1;
      }
      rest = data.slice(start);
    }
  } catch {
    // reset by the peer
  }
  conns.delete(peer);
  try {
    conn.close();
  } catch {
    // closed
  }
}

for await (const conn of Deno.listen({ hostname: "127.0.0.1", port })) serve(conn);
