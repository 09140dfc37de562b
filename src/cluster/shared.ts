// What moderation and login throttling share between nodes: running mutes in the `cc_users`
// bucket (read from a local copy every node keeps by watching), and login outcomes and
// registrations on the `CC_AUTH` stream (every node reads the others' into its own throttle and
// registration caps; a restarted node reads the last window again), so an attacker cannot
// multiply attempts by the number of nodes (docs/cluster.md §5.3, §8).
import { getLogger } from "@logtape/logtape";
import type { KV } from "@nats-io/kv";
import type { LoginEvent, LoginEvents } from "../session/account.ts";
import { LocalMutes, type Mute, type MuteTable } from "../session/moderation.ts";
import { type ClusterLink, LOGINS } from "./link.ts";
import { fromToken, token } from "./records.ts";

const log = getLogger(["classcord", "cluster"]);

/**
 * Mutes of every node, seen everywhere within a watch's delay: this node's table is in memory
 * as on one server (moderation reads it on every message, never reaching NATS), and this keeps
 * it in step with the `cc_users` bucket, putting the table's changes there and setting the
 * other nodes' in the table.
 */
export class SharedMutes {
  /** The mutes as this node's moderation reads and changes them. */
  readonly table: MuteTable = new LocalMutes();
  readonly #kv: KV;
  /** The change read from the bucket being set in the table now: not put back. */
  #applying: { key: string; mute: Mute | undefined } | undefined;
  #watch: { stop(): void } | undefined;

  constructor(kv: KV) {
    this.#kv = kv;
    this.table.watch((key, mute) => this.#share(key, mute));
  }

  /** Reads the running mutes and follows their changes. */
  async start(): Promise<void> {
    const watch = await this.#kv.watch({ key: "m.>" });
    this.#watch = watch;
    (async () => {
      for await (const e of watch) {
        const key = fromToken(e.key.slice(2));
        const mute = e.operation === "PUT" ? parseMute(e.string(), key) : undefined;
        const known = this.table.get(key);
        if (known?.until === mute?.until && known?.name === mute?.name) continue; // our own
        this.#applying = { key, mute };
        try {
          if (mute) this.table.set(key, mute);
          else this.table.delete(key);
        } finally {
          this.#applying = undefined;
        }
      }
    })().catch((error) => log.warning("Mute watch ended: {error}", { error }));
  }

  stop(): void {
    this.#watch?.stop();
  }

  /** A change of the table, made on this node: the other nodes see it through the bucket. */
  #share(key: string, mute: Mute | undefined): void {
    if (this.#applying?.key === key && this.#applying.mute === mute) return;
    if (mute) {
      this.#kv.put(`m.${token(key)}`, JSON.stringify(mute)).catch((error) => {
        log.error("Cannot share the mute of {user}: {error}", { user: key, error });
      });
    } else {
      this.#kv.delete(`m.${token(key)}`).catch((error) => {
        log.error("Cannot share the end of the mute of {user}: {error}", { user: key, error });
      });
    }
  }
}

/** A mute as the bucket holds it: JSON, or its end alone from an earlier version. */
function parseMute(value: string, key: string): Mute {
  const number = Number(value);
  return Number.isFinite(number) ? { until: number, name: key } : JSON.parse(value) as Mute;
}

/** Login outcomes and registrations shared through the `CC_AUTH` stream. */
export class SharedLogins implements LoginEvents {
  readonly #link: ClusterLink;
  readonly #node: string;
  readonly #windowMs: number;
  readonly #appliers: ((event: LoginEvent) => void)[] = [];
  #stopped = false;
  #iterator: { stop(): void } | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(link: ClusterLink, node: string, windowMs: number) {
    this.#link = link;
    this.#node = node;
    this.#windowMs = windowMs;
  }

  publish(event: LoginEvent): void {
    const data = JSON.stringify({ ...event, node: this.#node });
    this.#link.js.publish(`cc.auth.${event.kind}`, data).catch((error) => {
      log.warning("Cannot share a login outcome: {error}", { error });
    });
  }

  subscribe(apply: (event: LoginEvent) => void): void {
    this.#appliers.push(apply);
  }

  /** Reads the outcomes of the last window, then every new one, from the other nodes. */
  start(): void {
    this.#running = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#iterator?.stop();
    await this.#running;
  }

  async #run(): Promise<void> {
    let after = 0;
    while (!this.#stopped) {
      try {
        const consumer = await this.#link.js.consumers.get(
          LOGINS,
          after > 0 ? { deliver_policy: "by_start_sequence", opt_start_seq: after + 1 } : {
            deliver_policy: "by_start_time",
            opt_start_time: new Date(Date.now() - this.#windowMs).toISOString(),
          },
        );
        const messages = await consumer.consume({ max_messages: 256 });
        this.#iterator = messages;
        if (this.#stopped) messages.stop();
        for await (const m of messages) {
          after = m.seq;
          const event = m.json<LoginEvent & { node: string }>();
          if (event.node === this.#node) continue;
          const { kind, account, address } = event;
          for (const apply of this.#appliers) apply({ kind, account, address });
        }
      } catch (error) {
        if (this.#stopped) return;
        log.warning("Reading login outcomes failed, again in 1 s: {error}", { error });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }
}
