// Worker body: argon2id hashing and verification off the main event loop, one job at a time, in
// one WebAssembly memory reused from job to job.
import { argon2id, argon2Verify } from "hash-wasm";

/** A job posted by the hasher. */
export type HashJob =
  | { job: number; op: "hash"; password: string; memoryKiB: number; iterations: number }
  | { job: number; op: "verify"; password: string; hash: string };

/** The answer to a {@link HashJob}. */
export type HashResult = { job: number; value: string | boolean } | { job: number; error: string };

/** Posted once, when the module has loaded: from then on a failure is a crash, not a load error. */
export type WorkerReady = { ready: true };

// 16-byte salt and 32-byte hash: the sizes RFC 9106 recommends.
const SALT_BYTES = 16;
const HASH_BYTES = 32;

// A known answer from the reference implementation (Debian's argon2 0~20171227, libargon2):
// `echo -n password | argon2 somesalt_16bytes -id -t 2 -k 64 -p 1 -l 32 -e`.
const KNOWN = {
  password: "password",
  salt: "somesalt_16bytes",
  memoryKiB: 64,
  iterations: 2,
  hash:
    "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHRfMTZieXRlcw$38AOcL7o4pyVXf4gyYSs0peofFPEwKidHRItBl3cz+g",
};

async function run(msg: HashJob): Promise<string | boolean> {
  if (msg.op === "verify") return await argon2Verify({ password: msg.password, hash: msg.hash });
  return await hash(msg.password, crypto.getRandomValues(new Uint8Array(SALT_BYTES)), msg);
}

function hash(
  password: string,
  salt: Uint8Array,
  cost: { memoryKiB: number; iterations: number },
): Promise<string> {
  return argon2id({
    password,
    salt,
    parallelism: 1,
    iterations: cost.iterations,
    memorySize: cost.memoryKiB,
    hashLength: HASH_BYTES,
    outputType: "encoded",
  });
}

/**
 * Makes hash-wasm reuse one argon2 instance, and so one WebAssembly memory, instead of
 * instantiating its argon2 module anew for every hash: each new instance grows a fresh 19 MiB
 * memory (at the default cost) that V8 collects late, so one worker hashing passwords in a row
 * reached 400-600 MiB resident; reused, it stays at one memory, and a hash with its verification
 * takes about 40 % less time, no page of it faulted in anew (39 ms against 63, Deno 2.9.6,
 * hash-wasm 4.13.0, measured).
 *
 * hash-wasm 4.13.0 calls `WebAssembly.instantiate(module)` for each hash (lib/WASMInterface.ts);
 * its argon2 module, the one exporting `Hash_SetMemorySize`, XORs its first pass into memory it
 * expects zeroed (src/argon2.c), so the blocks from `Hash_GetBuffer()` on are zeroed before each
 * reuse. Returns the way back to a fresh instance per hash.
 */
function reuseArgon2Instance(): () => void {
  const instantiate = WebAssembly.instantiate;
  let cached: { module: WebAssembly.Module; instance: WebAssembly.Instance } | undefined;
  const reusing = async (source: unknown, imports?: WebAssembly.Imports) => {
    if (!(source instanceof WebAssembly.Module) || !isArgon2(source)) {
      return await instantiate(source as BufferSource, imports);
    }
    if (cached?.module === source) {
      const { memory, Hash_GetBuffer } = cached.instance.exports as {
        memory: WebAssembly.Memory;
        Hash_GetBuffer(): number;
      };
      new Uint8Array(memory.buffer, Hash_GetBuffer()).fill(0);
      return cached.instance;
    }
    const instance = await instantiate(source, imports);
    cached = { module: source, instance };
    return instance;
  };
  WebAssembly.instantiate = reusing as typeof WebAssembly.instantiate;
  return () => {
    WebAssembly.instantiate = instantiate;
  };
}

function isArgon2(module: WebAssembly.Module): boolean {
  const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  return names.has("Hash_SetMemorySize") && names.has("Hash_GetBuffer") && names.has("memory");
}

/**
 * Checks the known answer once without reuse and twice with it (the second run reuses the
 * memory of the first). A wrong answer without reuse means hashing itself is broken: the worker
 * fails to load and the hasher refuses jobs rather than store hashes nobody can log in with. A
 * wrong answer with reuse (a hash-wasm that works differently) only turns the reuse off.
 */
async function selfCheck(): Promise<void> {
  const salt = new TextEncoder().encode(KNOWN.salt);
  if (await hash(KNOWN.password, salt, KNOWN) !== KNOWN.hash) {
    throw new Error("argon2id gives a wrong answer to a known test vector");
  }
  const stopReusing = reuseArgon2Instance();
  for (let i = 0; i < 2; i++) {
    if (await hash(KNOWN.password, salt, KNOWN) !== KNOWN.hash) {
      stopReusing();
      return;
    }
  }
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<HashJob>) => void) | null;
  postMessage(msg: HashResult | WorkerReady): void;
};

// No top-level await: messages that arrive while a worker module is still evaluating are lost
// (Deno 2.9.6), so the handler is set at once and jobs wait for the check; a failed check is an
// unhandled rejection, which the hasher sees as this worker failing to load. One job at a time,
// whatever the sender does: jobs share the argon2 instance.
let previous: Promise<void> = selfCheck().then(() => scope.postMessage({ ready: true }));
scope.onmessage = (e) => {
  previous = previous.then(async () => {
    try {
      scope.postMessage({ job: e.data.job, value: await run(e.data) });
    } catch (err) {
      scope.postMessage({ job: e.data.job, error: String((err as Error).message ?? err) });
    }
  });
};
