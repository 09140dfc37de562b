// A node's reading of the message stream (docs/cluster.md §3.3): one ordered consumer from where
// the read model stands, each batch written to the read model with its new position in the same
// commits, then handed on for fan-out; so what a session saw live can always be paged, and a
// restarted node goes on from where it stood. A recreated stream (another epoch) or an empty
// store means reading it all again. Records the stream no longer holds (its age limit, a purge)
// are passed over with a warning counting them, never waited for (docs/cluster.md §4.5). What a
// record becomes (its line, its fan-out, the sender's ack) is the stream log's
// (cluster/stream_log.ts), to which the feed hands each record: the feed only reads, stores and
// keeps the order, and calls go one way, from the feed down to the log.
import { getLogger } from "@logtape/logtape";
import type { JsMsg } from "@nats-io/jetstream";
import type { Events } from "../events.ts";
import type { KvStore } from "../store/kv_store.ts";
import type { Append } from "../store/store.ts";
import { type ClusterLink, MESSAGES } from "./link.ts";
import { ReadModel } from "./read_model.ts";
import { type DisconnectRecord, type MessageRecord, parseRecord } from "./records.ts";

const log = getLogger(["classcord", "cluster"]);

/** Where the feed hands the records it reads, in stream order: the node's stream log. */
export interface FeedHandler {
  /**
   * A message record read: its read-model entry, and what to run once that entry is stored
   * (the fan-out).
   */
  message(seq: number, record: MessageRecord): { item: Append; stored(): void };
  /** A control record read, once everything before it is stored. */
  control(record: DisconnectRecord): void;
  /** Everything up to `seq` is stored in the read model and handed on (after each commit). */
  applied(seq: number): void;
}

/** One record read, waiting for its batch's commit. */
interface Pending {
  seq: number;
  /** Runs after the commit; none for a record this node does not know (skipped, but counted). */
  after?: () => void;
}

// A Deno KV commit holds at most 1000 mutations; a message takes a handful.
const BATCH = 100;
// How often the reading is checked against the stream's end.
const WATCHDOG_MS = 3_000;

/** The stream, read into the read model in order. */
export class Feed {
  readonly #link: ClusterLink;
  readonly #model: ReadModel;
  readonly #handler: FeedHandler;
  readonly #events: Events;
  #applied = 0;
  #received = 0;
  #lastTs = 0;
  #pending: Pending[] = [];
  #items: Append[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #scheduled = false;
  #waiters: { seq: number; resolve: () => void }[] = [];
  #stopped = false;
  #iterator: { stop(): void } | undefined;
  #running: Promise<void> = Promise.resolve();

  /** `events` is told of each read-model commit (the `commit` event, as a single server's). */
  constructor(link: ClusterLink, local: KvStore, handler: FeedHandler, events: Events) {
    this.#link = link;
    this.#model = new ReadModel(local);
    this.#handler = handler;
    this.#events = events;
    // An ordered consumer does not always notice it died with its server (nats.node#570):
    // made again after every reconnection, and whenever the stream is ahead and nothing came.
    link.onReconnect(() => this.#restart("reconnected"));
  }

  /** Ends the current consumer: the loop makes a new one from the last seq received. */
  #restart(why: string): void {
    if (this.#stopped || !this.#iterator) return;
    log.info("Reading the message stream again ({why}) from {seq}", {
      why,
      seq: this.#received + 1,
    });
    this.#iterator.stop();
  }

  /** Every few seconds: the stream holds more than was received, and nothing came since. */
  async #watchdog(): Promise<void> {
    let seen = this.#received;
    while (!this.#stopped) {
      await new Promise<void>((resolve) => {
        this.#wakeWatchdog = resolve;
        this.#watchdogTimer = setTimeout(resolve, WATCHDOG_MS);
      });
      if (this.#stopped) return;
      if (this.#received !== seen) {
        seen = this.#received;
        continue;
      }
      try {
        const info = await this.#link.jsm.streams.info(MESSAGES);
        // An empty stream has nothing left to deliver: what was not received is gone.
        if (info.state.messages === 0) this.#skip(info.state.last_seq);
        else if (info.state.last_seq > this.#received) this.#restart("stalled");
      } catch {
        // No answer now: the next round asks again.
      }
    }
  }

  #watchdogTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeWatchdog: (() => void) | undefined;
  #watching: Promise<void> = Promise.resolve();

  /** The last stream sequence stored in the read model and fanned out. */
  get applied(): number {
    return this.#applied;
  }

  /**
   * Reads the stream from where the read model stands until it has caught up with the stream
   * as it is now, then goes on reading in the background.
   */
  async start(): Promise<void> {
    let position = await this.#model.position();
    const info = await this.#link.jsm.streams.info(MESSAGES);
    const { first_seq: first, last_seq: last, messages } = info.state;
    if (position && (position.epoch !== this.#link.epoch || position.seq > last)) {
      log.warning("The message stream was recreated: rebuilding this node's history");
      await this.#model.clear();
      position = null;
    }
    if (!position && (await this.#model.lastSeq()) > 0) await this.#model.clear();
    this.#applied = this.#received = position?.seq ?? 0;
    this.#lastTs = position?.ts ?? 0;
    const from = this.#applied;
    // Nothing before the stream's first record can come any more: an empty stream's first seq
    // is the next one (a purge, or every record past the age limit).
    this.#skip((messages > 0 ? first : last + 1) - 1);
    this.#running = this.#run();
    this.#watching = this.#watchdog();
    const started = performance.now();
    await this.#waitApplied(last);
    if (last > from) {
      log.info("History caught up: {count} records from the stream in {ms} ms", {
        count: last - from,
        ms: Math.round(performance.now() - started),
      });
    }
  }

  /** Resolves once the read model holds everything up to `seq` (at once if it does). */
  #waitApplied(seq: number): Promise<void> {
    if (this.#applied >= seq) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ seq, resolve }));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#iterator?.stop();
    clearTimeout(this.#watchdogTimer);
    this.#wakeWatchdog?.();
    await this.#running;
    await this.#watching;
    await this.#flushing;
  }

  /** Consumes until stopped; a consumer that fails is made again from the last seq received. */
  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        const consumer = await this.#link.js.consumers.get(MESSAGES, {
          deliver_policy: "by_start_sequence",
          opt_start_seq: this.#received + 1,
        });
        // Heartbeats every 2 s: a consumer lost with its server is noticed and made again in
        // about 4 s (the default would take 15).
        const messages = await consumer.consume({
          max_messages: 512,
          expires: 10_000,
          idle_heartbeat: 2_000,
        });
        this.#iterator = messages;
        if (this.#stopped) messages.stop();
        for await (const m of messages) this.#receive(m);
      } catch (error) {
        if (this.#stopped) return;
        log.warning("Reading the message stream failed, again in 1 s: {error}", { error });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /**
   * Passes over the records up to `seq` that the stream no longer holds, with one warning that
   * counts them: the read model's position moves past them with the next commit.
   */
  #skip(seq: number): void {
    if (seq <= this.#received) return;
    this.#gone(this.#received + 1, seq);
    this.#received = seq;
    this.#pending.push({ seq });
    this.#schedule();
  }

  /** Warns that records `from` to `to` were never read: the stream had dropped them. */
  #gone(from: number, to: number): void {
    log.warning(
      "Cannot read {count} messages of the stream ({from} to {to}): no longer in it (age limit " +
        "or purge); going on from {next}",
      { count: to - from + 1, from, to, next: to + 1 },
    );
  }

  #receive(m: JsMsg): void {
    const seq = m.seq;
    if (seq <= this.#received) return; // a consumer made again redelivers
    // The stream's seqs have no holes (deletes are refused, §2.2): a jump means the records
    // between were dropped before this consumer reached them, and it went on from the first left.
    if (seq > this.#received + 1) this.#gone(this.#received + 1, seq - 1);
    this.#received = seq;
    const record = parseRecord(m.data);
    const entry = record?.kind === "msg" ? this.#entry(seq, record) : undefined;
    if (record?.kind === "disconnect") {
      this.#pending.push({ seq, after: () => this.#handler.control(record) });
    } else if (!record || !entry) {
      log.warning("Stream record {seq} is not one this node knows: skipped", { seq });
      this.#pending.push({ seq });
    } else {
      const { item, stored } = entry;
      // The index time never goes back in stream order, whatever the senders' clocks: pages by
      // time then seq are the same on every node.
      const ts = Math.max(record.ts, this.#lastTs);
      this.#lastTs = item.message.ts = ts;
      this.#pending.push({ seq, after: stored });
      this.#items.push(item);
    }
    if (this.#items.length >= BATCH) this.#flush();
    else this.#schedule();
  }

  /** A flush at the next turn of the event loop, gathering what arrives meanwhile. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(() => this.#flush(), 0);
  }

  /** A message record's entry, or none when the handler cannot read it (a newer node's). */
  #entry(seq: number, record: MessageRecord): ReturnType<FeedHandler["message"]> | undefined {
    try {
      return this.#handler.message(seq, record);
    } catch (error) {
      log.warning("Stream record {seq} cannot be read: {error}", { seq, error });
      return undefined;
    }
  }

  #flush(): void {
    this.#scheduled = false;
    const pending = this.#pending;
    const items = this.#items;
    if (pending.length === 0) return;
    this.#pending = [];
    this.#items = [];
    // The index time of this batch's last message: later records may raise it before it commits.
    const ts = this.#lastTs;
    this.#flushing = this.#flushing.then(async () => {
      for (;;) {
        try {
          const start = performance.now();
          await this.#model.append(items, this.#link.epoch);
          // A batch that ends past its last message (records skipped or gone) moves the
          // position on its own: a restart neither waits for nor warns about them again.
          const through = pending[pending.length - 1].seq;
          if (through > (items.at(-1)?.message.seq ?? 0)) {
            await this.#model.moveTo({ seq: through, ts, epoch: this.#link.epoch });
          }
          if (items.length > 0) {
            const seconds = (performance.now() - start) / 1000;
            this.#events.emit({ type: "commit", seconds, messages: items.length });
          }
          break;
        } catch (error) {
          // The read model must hold what is fanned out: wait for the disk, never skip.
          log.error("Cannot store stream records, again in 1 s: {error}", { error });
          await new Promise((resolve) => setTimeout(resolve, 1000));
          if (this.#stopped) return;
        }
      }
      for (const { seq, after } of pending) {
        this.#applied = seq;
        try {
          after?.();
        } catch (error) {
          log.error("Fan-out of {seq} failed: {error}", { seq, error });
        }
      }
      this.#handler.applied(this.#applied);
      const ready = this.#waiters.filter((w) => w.seq <= this.#applied);
      this.#waiters = this.#waiters.filter((w) => w.seq > this.#applied);
      for (const w of ready) w.resolve();
    });
  }
}
