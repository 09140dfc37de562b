// Worker body: argon2id hashing and verification, off the main event loop.
import { argon2id, argon2Verify } from "hash-wasm";

/** A job posted by the hasher. */
export type HashJob =
  | { job: number; op: "hash"; password: string; memoryKiB: number; iterations: number }
  | { job: number; op: "verify"; password: string; hash: string };

/** The answer to a {@link HashJob}. */
export type HashResult = { job: number; value: string | boolean } | { job: number; error: string };

// 16-byte salt and 32-byte hash: the sizes RFC 9106 recommends.
const SALT_BYTES = 16;
const HASH_BYTES = 32;

async function run(msg: HashJob): Promise<string | boolean> {
  if (msg.op === "verify") return await argon2Verify({ password: msg.password, hash: msg.hash });
  return await argon2id({
    password: msg.password,
    salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
    parallelism: 1,
    iterations: msg.iterations,
    memorySize: msg.memoryKiB,
    hashLength: HASH_BYTES,
    outputType: "encoded",
  });
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<HashJob>) => void) | null;
  postMessage(msg: HashResult): void;
};

scope.onmessage = async (e) => {
  try {
    scope.postMessage({ job: e.data.job, value: await run(e.data) });
  } catch (err) {
    scope.postMessage({ job: e.data.job, error: String((err as Error).message ?? err) });
  }
};
