// The contract of the MessageLog seam (src/hub/message_log.ts, docs/architecture.md "Seams" and
// "The ack rule"): every implementation runs these cases, as the steps of one test, with
// `messageLogContract(t, open, skip)` in its own test file: LocalLog in src/hub/local_log_test.ts,
// the cluster's StreamLog against a real NATS cluster in tests/cluster_stream_log_test.ts. The
// log's reader here records what the log calls, as the hub would be called; a case that does not
// apply to an implementation is skipped by name, with the reason in the step's name.
import assert from "node:assert/strict";
import { Contract, type SkipList } from "./contract.ts";
import type { Draft, Local, LogReader, MessageLog } from "../../src/hub/message_log.ts";
import { DEFAULT, parseChannel } from "../../src/protocol/channel.ts";
import type { Append, StoredMessage } from "../../src/store/store.ts";

/** An empty log of the implementation under test, and the store it writes into. */
export interface OpenedLog {
  log: MessageLog;
  /** The message `seq` of a channel as the node's history reads it, if stored. */
  read(channel: string, seq: number): Promise<StoredMessage | undefined>;
  /** From now on, no message can be stored (the store's writes fail, the stream is gone). */
  breakStorage(): Promise<void>;
  /** Closes the log and anything opened with it; the next case starts empty. */
  close(): Promise<void>;
}

/** Opens an empty log of the implementation under test. */
export type OpenLog = () => Promise<OpenedLog>;

export type { SkipList };

// How long a message may take to be numbered, stored and acknowledged: a cluster's publish is
// retried for 12 s before it is given up (docs/cluster.md §3), plus the read model's commit.
const DEADLINE_MS = 20_000;

/** One call the log made to its reader, in the order made. */
type Call =
  | { kind: "numbered"; seq: number; draft: Draft; item: Append }
  | { kind: "fanOut"; seq: number; item: Append; local?: Local };

/** A reader standing for the hub: each stored form is told apart by the call that made it. */
class Recorder implements LogReader {
  readonly calls: Call[] = [];

  numbered(seq: number, draft: Draft): Append {
    const { to } = draft;
    const made = this.calls.filter((c) => c.kind === "numbered").length + 1;
    const line: StoredMessage["line"] = {
      ...draft.fields,
      content: String(draft.fields.content),
      from: draft.from,
      timestamp: `numbered ${made}`,
      seq,
    };
    const item: Append = "channel" in to
      ? { message: { seq, ts: draft.ts, channel: to.channel.name, line } }
      : { message: { seq, ts: draft.ts, channel: null, to: to.name, line } };
    this.calls.push({ kind: "numbered", seq, draft, item });
    return item;
  }

  fanOut(item: Append, _draft: Draft, local?: Local): number {
    this.calls.push({ kind: "fanOut", seq: item.message.seq, item, local });
    return 0;
  }

  /** The `numbered` calls, in order. */
  get numberings(): Extract<Call, { kind: "numbered" }>[] {
    return this.calls.filter((c) => c.kind === "numbered");
  }
}

/** A channel message whose content tells it apart. */
function draft(content: string, channel = DEFAULT.name): Draft {
  return {
    fields: { type: "message", content },
    from: "alice",
    ts: Date.now(),
    to: { channel: parseChannel(channel) },
  };
}

/** What `durable` told of one message. */
interface Told {
  seq: number;
  error?: Error;
  /** The message as the store had it when `durable` was told, read right then. */
  stored: Promise<StoredMessage | undefined>;
  /** How many times `durable` was called for it (checked once it settles). */
  calls: number;
}

/** Appends a message; resolves with what `durable` told (read from the store at that moment). */
function append(
  opened: OpenedLog,
  d: Draft,
  local: Local = {},
): { told: Promise<Told>; now(): Told | undefined } {
  let told: Told | undefined;
  const promise = new Promise<Told>((resolve) => {
    opened.log.append(d, local, (seq, error) => {
      if (told) return void told.calls++;
      const channel = "channel" in d.to ? d.to.channel.name : "";
      // Read at once, before anything else runs: durable means "readable now".
      told = {
        seq,
        error,
        stored: error ? Promise.resolve(undefined) : opened.read(channel, seq),
        calls: 1,
      };
      resolve(told);
    });
  });
  return { told: within(promise, `durable of "${String(d.fields.content)}"`), now: () => told };
}

/** `promise`, or a failure naming `what` once {@link DEADLINE_MS} have passed. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: not within ${DEADLINE_MS} ms`)),
          DEADLINE_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

type Case = (opened: OpenedLog, reader: Recorder) => Promise<void>;

/**
 * Runs every case of the MessageLog contract as a step of `t`, each on a log `open` gives,
 * attached to a recording reader, but those `skip` names (reported as ignored, with the reason).
 *
 * @throws {AssertionError} when `skip` names a case the contract does not have
 */
export async function messageLogContract(
  t: Deno.TestContext,
  open: OpenLog,
  skip: SkipList = {},
): Promise<void> {
  await CASES.steps(t, skip, async (run) => {
    const opened = await open();
    // Every read a case started is over before the store closes.
    const reads: Promise<unknown>[] = [];
    const read = opened.read;
    opened.read = (channel, seq) => {
      const reading = read(channel, seq);
      reads.push(reading.catch(() => {}));
      return reading;
    };
    const reader = new Recorder();
    opened.log.attach(reader);
    try {
      await run(opened, reader);
    } finally {
      await opened.log.flushed();
      await Promise.all(reads);
      await opened.close();
    }
  });
}

/** The cases, by name, in order. */
const CASES = new Contract<Case>();

function test(name: string, run: Case): void {
  CASES.test(name, run);
}

test("seqs go up by one: numbered once per message, in seq order", async (opened, reader) => {
  const sent = Array.from({ length: 30 }, (_, i) => append(opened, draft(`m${i}`)));
  await Promise.all(sent.map((s) => s.told));
  // Then one more, after the others are durable: the count goes on.
  await append(opened, draft("last")).told;
  const seqs = reader.numberings.map((c) => c.seq);
  assert.deepEqual(seqs, Array.from({ length: 31 }, (_, i) => seqs[0] + i));
  const contents = reader.numberings.map((c) => c.draft.fields.content).sort();
  assert.deepEqual(contents, [...Array.from({ length: 30 }, (_, i) => `m${i}`), "last"].sort());
});

test(
  "durable tells the seq numbered, once, and the store has the numbered form by then",
  async (opened, reader) => {
    const sent = ["a", "b", "c", "d", "e"].map((c, i) =>
      append(opened, draft(c, i % 2 ? DEFAULT.name : "#maths"))
    );
    for (const [i, s] of sent.entries()) {
      const told = await s.told;
      assert.equal(told.error, undefined);
      const numbering = reader.numberings.find((c) => c.seq === told.seq);
      assert.ok(numbering, `seq ${told.seq} was numbered`);
      assert.equal(numbering.draft.fields.content, ["a", "b", "c", "d", "e"][i]);
      // Read when durable was told: what numbered returned is what the store holds.
      assert.deepEqual((await told.stored)?.line, numbering.item.message.line);
    }
    await opened.log.flushed();
    assert.deepEqual(sent.map((s) => s.now()?.calls), [1, 1, 1, 1, 1]);
  },
);

test(
  "fanOut follows numbered for each message, in seq order, with its local part given back",
  async (opened, reader) => {
    const locals: Local[] = [{}, {}, {}];
    const sent = locals.map((local, i) => append(opened, draft(`f${i}`), local));
    await Promise.all(sent.map((s) => s.told));
    const fanOuts = reader.calls.filter((c) => c.kind === "fanOut");
    const first = fanOuts[0]?.seq;
    assert.deepEqual(fanOuts.map((c) => c.seq), [first, first + 1, first + 2]);
    for (const f of fanOuts) {
      const numbered = reader.calls.findIndex((c) => c.kind === "numbered" && c.seq === f.seq);
      assert.ok(numbered >= 0 && numbered < reader.calls.indexOf(f), `seq ${f.seq} numbered first`);
      const n = reader.calls[numbered] as Extract<Call, { kind: "numbered" }>;
      assert.equal(f.item, n.item, "the very item numbered returned");
      // The sender's own part, the same object (no echo, the fan-out timer).
      const i = Number(String(n.draft.fields.content).slice(1));
      assert.equal(f.local, locals[i]);
    }
  },
);

test("flushed() covers every earlier append: each durable told, each readable", async (opened) => {
  await within(opened.log.flushed(), "flushed() with nothing appended");
  const sent = Array.from({ length: 12 }, (_, i) => append(opened, draft(`w${i}`)));
  await within(opened.log.flushed(), "flushed()");
  for (const s of sent) {
    const told = s.now();
    assert.ok(told, "durable told before flushed() resolved");
    assert.equal(told.error, undefined);
    assert.equal(
      (await opened.read(DEFAULT.name, told.seq))?.line.content,
      (await told.stored)?.line.content,
    );
  }
});

test("a message that cannot be stored is reported through durable, and flushed() resolves", async (opened) => {
  await append(opened, draft("kept")).told;
  await opened.breakStorage();
  const lost = append(opened, draft("lost"));
  await within(opened.log.flushed(), "flushed() with a message that cannot be stored");
  const told = await lost.told;
  assert.ok(told.error instanceof Error, "durable told an error");
  assert.equal(told.calls, 1);
});
