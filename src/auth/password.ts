// Password hashing: argon2id (hash-wasm) in a small pool of workers, so chat never waits on it.
import type { HashJob, HashResult } from "./password_worker.ts";

/** Hashes and checks passwords; `session/` sees only this interface. */
export interface PasswordHasher {
  /** An encoded argon2id hash (`$argon2id$v=19$m=...`) with a fresh random salt. */
  hash(password: string): Promise<string>;
  /** Whether `password` matches `hash`, whatever parameters `hash` was made with. */
  verify(hash: string, password: string): Promise<boolean>;
  close(): void;
}

/** argon2id cost parameters. */
export interface Argon2Params {
  memoryKiB: number;
  iterations: number;
}

/** OWASP's argon2id baseline, as PROTOCOL B.7 asks: 19 MiB, 2 passes, 1 lane. */
export const DEFAULT_ARGON2: Argon2Params = { memoryKiB: 19 * 1024, iterations: 2 };

/** Options of {@link WorkerHasher}. */
export interface WorkerHasherOptions {
  params?: Argon2Params;
  /** Hashes computed at once; 2 keeps one core free for chat on a small server (B.7). */
  workers?: number;
  /** The worker module (tests point it elsewhere). */
  workerUrl?: URL;
}

interface Pending {
  msg: HashJob;
  resolve: (value: string | boolean) => void;
  reject: (err: Error) => void;
}

/** A {@link PasswordHasher} running argon2id in at most `workers` Web Workers at once. */
export class WorkerHasher implements PasswordHasher {
  readonly #params: Argon2Params;
  readonly #idle: Worker[] = [];
  readonly #all: Worker[] = [];
  readonly #queue: Pending[] = [];
  readonly #running = new Map<number, { worker: Worker; pending: Pending }>();
  #nextJob = 1;
  #closed = false;

  constructor(options: WorkerHasherOptions = {}) {
    this.#params = options.params ?? DEFAULT_ARGON2;
    const count = options.workers ?? 2;
    for (let i = 0; i < count; i++) {
      const url = options.workerUrl ?? new URL("./password_worker.ts", import.meta.url);
      const worker = new Worker(url, { type: "module" });
      worker.onmessage = (e: MessageEvent<HashResult>) => this.#done(worker, e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        this.#crashed(worker, new Error(`Password worker failed: ${e.message}`));
      };
      this.#all.push(worker);
      this.#idle.push(worker);
    }
  }

  hash(password: string): Promise<string> {
    return this.#submit({ job: 0, op: "hash", password, ...this.#params }) as Promise<string>;
  }

  verify(hash: string, password: string): Promise<boolean> {
    return this.#submit({ job: 0, op: "verify", password, hash }) as Promise<boolean>;
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#all) w.terminate();
    const err = new Error("Password hasher is closed");
    for (const p of this.#queue.splice(0)) p.reject(err);
    for (const { pending } of this.#running.values()) pending.reject(err);
    this.#running.clear();
  }

  #submit(msg: HashJob): Promise<string | boolean> {
    if (this.#closed) return Promise.reject(new Error("Password hashing is unavailable"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ msg: { ...msg, job: this.#nextJob++ }, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop()!;
      const pending = this.#queue.shift()!;
      this.#running.set(pending.msg.job, { worker, pending });
      worker.postMessage(pending.msg);
    }
  }

  #done(worker: Worker, result: HashResult): void {
    const entry = this.#running.get(result.job);
    if (!entry) return;
    this.#running.delete(result.job);
    this.#idle.push(worker);
    if ("error" in result) entry.pending.reject(new Error(result.error));
    else entry.pending.resolve(result.value);
    this.#pump();
  }

  /**
   * A worker that failed (its module did not load, or it died) is dropped with its job; with no
   * worker left, every waiting and later job is refused rather than left hanging.
   */
  #crashed(worker: Worker, err: Error): void {
    worker.terminate();
    this.#all.splice(this.#all.indexOf(worker), 1);
    const idle = this.#idle.indexOf(worker);
    if (idle >= 0) this.#idle.splice(idle, 1);
    for (const [job, entry] of this.#running) {
      if (entry.worker === worker) {
        this.#running.delete(job);
        entry.pending.reject(err);
      }
    }
    if (this.#all.length === 0) {
      this.#closed = true;
      for (const p of this.#queue.splice(0)) p.reject(err);
    }
    this.#pump();
  }
}
