// Password hashing: argon2id (hash-wasm) in workers started on demand and stopped when idle, so
// chat never waits on a hash and a server at rest holds no worker.
import type { HashJob, HashResult, WorkerReady } from "./password_worker.ts";

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

/** OWASP's argon2id baseline, as docs/protocol.md §9 asks: 19 MiB, 2 passes, 1 lane. */
export const DEFAULT_ARGON2: Argon2Params = { memoryKiB: 19 * 1024, iterations: 2 };

/**
 * How long a worker waits for a job before it is stopped. A cold worker answers its first hash
 * about 55 ms later than a warm one (isolate, hash-wasm, Wasm compile, self-check: 80-90 ms
 * against 28 ms at the default cost), while a live worker holds about 25 MiB (its isolate and the
 * 19 MiB argon2 memory), both measured with Deno 2.9.6 (`deno task bench --scenario memory`). 10 s
 * keeps the workers through a class logging in one after another, and gives the memory back soon
 * after the last one.
 */
export const DEFAULT_IDLE_MS = 10_000;

/** The timers that stop idle workers; tests pass fakes they fire by hand. */
export interface IdleTimers {
  /** Calls `fn` once, `ms` from now; returns what `clearTimeout` takes. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

const systemTimers: IdleTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** Options of {@link WorkerHasher}. */
export interface WorkerHasherOptions {
  params?: Argon2Params;
  /** Hashes at once; 2 keep a core free for chat on a small server (docs/protocol.md §9). */
  workers?: number;
  /** Milliseconds a worker stays without a job before it is stopped ({@link DEFAULT_IDLE_MS}). */
  idleMs?: number;
  /** The worker module (tests point it elsewhere). */
  workerUrl?: URL;
  /** Timers for the idle stop (tests inject fakes). */
  timers?: IdleTimers;
}

interface Pending {
  msg: HashJob;
  resolve: (value: string | boolean) => void;
  reject: (err: Error) => void;
}

/** One worker and what it is doing: a job, or waiting for one until its idle timer fires. */
interface Slot {
  worker: Worker;
  /** Whether its module has loaded: a failure before that is a load error, after it a crash. */
  ready: boolean;
  pending?: Pending;
  /** Its idle timer, while it waits for a job. */
  timer?: unknown;
}

/**
 * A {@link PasswordHasher} running argon2id in at most `workers` Web Workers at once. A worker is
 * started when a job arrives and none is free, and stopped after `idleMs` without a job.
 */
export class WorkerHasher implements PasswordHasher {
  readonly #params: Argon2Params;
  readonly #max: number;
  readonly #idleMs: number;
  readonly #url: URL;
  readonly #timers: IdleTimers;
  readonly #slots = new Set<Slot>();
  /** Workers without a job, the most recently used last: it is the one given the next job. */
  readonly #idle: Slot[] = [];
  readonly #queue: Pending[] = [];
  #nextJob = 1;
  #closed = false;

  constructor(options: WorkerHasherOptions = {}) {
    this.#params = options.params ?? DEFAULT_ARGON2;
    this.#max = options.workers ?? 2;
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.#url = options.workerUrl ?? new URL("./password_worker.ts", import.meta.url);
    this.#timers = options.timers ?? systemTimers;
    if (!Number.isInteger(this.#max) || this.#max < 1) {
      throw new RangeError(`Cannot hash with ${this.#max} workers: at least 1 is needed`);
    }
    if (!(this.#idleMs >= 0)) {
      throw new RangeError(`Cannot stop workers after ${this.#idleMs} ms: expected 0 or more`);
    }
  }

  /** Workers started and not yet stopped (0 before the first job and after `idleMs` at rest). */
  get workersRunning(): number {
    return this.#slots.size;
  }

  hash(password: string): Promise<string> {
    return this.#submit({ job: 0, op: "hash", password, ...this.#params }) as Promise<string>;
  }

  verify(hash: string, password: string): Promise<boolean> {
    return this.#submit({ job: 0, op: "verify", password, hash }) as Promise<boolean>;
  }

  /** Rejects waiting and running jobs, stops every worker and idle timer; later jobs are refused. */
  close(): void {
    this.#closed = true;
    const err = new Error("Password hasher is closed");
    for (const slot of this.#slots) {
      this.#stop(slot);
      slot.pending?.reject(err);
    }
    for (const p of this.#queue.splice(0)) p.reject(err);
  }

  #submit(msg: HashJob): Promise<string | boolean> {
    if (this.#closed) return Promise.reject(new Error("Password hashing is unavailable"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ msg: { ...msg, job: this.#nextJob++ }, resolve, reject });
      this.#pump();
    });
  }

  /** Hands queued jobs to idle workers, then to new ones while fewer than `workers` run. */
  #pump(): void {
    while (this.#queue.length > 0) {
      let slot = this.#idle.pop();
      if (slot) {
        if (slot.timer !== undefined) this.#timers.clearTimeout(slot.timer);
        slot.timer = undefined;
      } else if (this.#slots.size < this.#max) {
        slot = this.#start();
      } else {
        return;
      }
      slot.pending = this.#queue.shift()!;
      // A worker still loading receives it once loaded.
      slot.worker.postMessage(slot.pending.msg);
    }
  }

  #start(): Slot {
    const worker = new Worker(this.#url, { type: "module" });
    const slot: Slot = { worker, ready: false };
    worker.onmessage = (e: MessageEvent<HashResult | WorkerReady>) => {
      if ("ready" in e.data) slot.ready = true;
      else this.#done(slot, e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      this.#failed(slot, new Error(`Password worker failed: ${e.message}`));
    };
    this.#slots.add(slot);
    return slot;
  }

  #done(slot: Slot, result: HashResult): void {
    const pending = slot.pending;
    if (!this.#slots.has(slot) || !pending || pending.msg.job !== result.job) return;
    slot.pending = undefined;
    if ("error" in result) pending.reject(new Error(result.error));
    else pending.resolve(result.value);
    this.#idle.push(slot);
    if (this.#queue.length > 0) this.#pump();
    else slot.timer = this.#timers.setTimeout(() => this.#retire(slot), this.#idleMs);
  }

  /** The idle timer fired: the worker and the memory it grew go. */
  #retire(slot: Slot): void {
    slot.timer = undefined;
    this.#stop(slot);
  }

  /**
   * A worker that failed is dropped and its job rejected. One that crashed after loading is
   * replaced on demand. One that could not even load fails the same way on the next try: the jobs
   * waiting for it are rejected too when no other worker is left to take them, rather than left
   * hanging or each starting a worker doomed to fail; a job submitted later tries again.
   */
  #failed(slot: Slot, err: Error): void {
    if (!this.#slots.has(slot)) return;
    this.#stop(slot);
    slot.pending?.reject(err);
    slot.pending = undefined;
    if (slot.ready) {
      this.#pump();
    } else if (this.#slots.size === 0) {
      for (const p of this.#queue.splice(0)) p.reject(err);
    }
  }

  /** Terminates the worker and forgets it, with its idle timer. */
  #stop(slot: Slot): void {
    if (slot.timer !== undefined) this.#timers.clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.worker.terminate();
    this.#slots.delete(slot);
    const idle = this.#idle.indexOf(slot);
    if (idle >= 0) this.#idle.splice(idle, 1);
  }
}
