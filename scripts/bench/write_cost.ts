// What one write of a small line costs the writing process, against one write of many lines
// joined: Deno.Conn.write and node:net's socket (plain, and corked so its lines leave in one
// writev), into a subprocess that reads and discards (the fan-out reference's --null mode).
import { fileURLToPath } from "node:url";
import * as net from "node:net";
import { concatBytes } from "../../src/bytes.ts";
import { cpuSplit, pinSelf, processStats, startServer } from "./harness.ts";

const REFERENCE = fileURLToPath(new URL("./reference_server.ts", import.meta.url));
// A chat line about the size of a fan-out message as ClassCord sends it (docs/protocol.md §5).
const LINE = new TextEncoder().encode(
  `{"type":"message","room":"general","from":"u123","content":"t12345.678",` +
    `"id":"0000000000001","at":1700000000000}\n`,
);

/** One way of writing: µs of this process's CPU per write call and per line. */
export interface WriteCost {
  api: string;
  lines_per_write: number;
  writes: number;
  cpu_us_per_write: number;
  cpu_us_per_line: number;
  lines_per_s: number;
}

async function cpuSeconds(): Promise<number> {
  return (await processStats(Deno.pid)).cpuSeconds;
}

/** Runs `writeOnce` (one write call of `perWrite` lines) for about `seconds`; its CPU and rate. */
async function measure(
  api: string,
  perWrite: number,
  seconds: number,
  writeOnce: () => Promise<void>,
  finish: () => Promise<void> = async () => {},
): Promise<WriteCost> {
  // A warm-up, so the JIT has compiled the path before it is timed.
  for (let i = 0; i < 2000; i++) await writeOnce();
  await finish();
  const cpu0 = await cpuSeconds();
  const t0 = performance.now();
  let writes = 0;
  while (performance.now() - t0 < seconds * 1000) {
    for (let i = 0; i < 200; i++) await writeOnce();
    writes += 200;
  }
  await finish();
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = await cpuSeconds() - cpu0;
  const rr = (x: number) => Number(x.toFixed(2));
  return {
    api,
    lines_per_write: perWrite,
    writes,
    cpu_us_per_write: rr(cpu * 1e6 / writes),
    cpu_us_per_line: rr(cpu * 1e6 / (writes * perWrite)),
    lines_per_s: Math.round(writes * perWrite / elapsed),
  };
}

/** `count` copies of LINE, each its own array (as a queue of lines is). */
function lines(count: number): Uint8Array[] {
  return Array.from({ length: count }, () => LINE.slice());
}

/**
 * Each way of writing, for 1, 4, 16 and 64 lines per write, `seconds` each: Deno.Conn.write of
 * each line, of the lines joined (the join counted in), node:net socket.write of each line,
 * corked (one writev per batch), and of the lines joined.
 */
export async function writeCost(seconds = 1): Promise<WriteCost[]> {
  const split = cpuSplit();
  await using sink = await startServer(["--null"], { script: REFERENCE, cpu: split?.server });
  if (split) pinSelf(split.generator);
  const results: WriteCost[] = [];
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: sink.port });
  conn.setNoDelay(true);
  const socket = net.connect({ host: "127.0.0.1", port: sink.port, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  // node:net buffers what the socket does not take at once: a write past its high-water mark
  // waits for "drain", so the measure includes getting the bytes out.
  const nodeWrite = (bytes: Uint8Array) =>
    socket.write(bytes)
      ? Promise.resolve()
      : new Promise<void>((resolve) => socket.once("drain", () => resolve()));
  const nodeFlushed = () => new Promise<void>((resolve) => socket.write("", () => resolve()));
  const denoWrite = async (bytes: Uint8Array) => {
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
  };
  try {
    for (const k of [1, 4, 16, 64]) {
      const batch = lines(k);
      results.push(
        await measure("Deno.Conn.write, each line", k, seconds, async () => {
          for (const line of batch) await denoWrite(line);
        }),
      );
      results.push(
        await measure(
          "Deno.Conn.write, lines joined",
          k,
          seconds,
          () => denoWrite(concatBytes(batch)),
        ),
      );
      results.push(
        await measure("node:net write, each line", k, seconds, async () => {
          for (const line of batch.slice(0, -1)) socket.write(line);
          await nodeWrite(batch.at(-1)!);
        }, nodeFlushed),
      );
      results.push(
        await measure("node:net cork/uncork", k, seconds, async () => {
          socket.cork();
          for (const line of batch.slice(0, -1)) socket.write(line);
          const done = nodeWrite(batch.at(-1)!);
          socket.uncork();
          await done;
        }, nodeFlushed),
      );
      results.push(
        await measure(
          "node:net write, lines joined",
          k,
          seconds,
          () => nodeWrite(concatBytes(batch)),
          nodeFlushed,
        ),
      );
    }
  } finally {
    conn.close();
    socket.destroy();
    if (split) pinSelf("start");
  }
  return results;
}
