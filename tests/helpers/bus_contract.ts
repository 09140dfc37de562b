// The contract of the Bus seam (src/hub/bus.ts, docs/architecture.md "Seams"): every
// implementation runs these cases, as the steps of one test, with `busContract(t, open, skip)` in
// its own test file: the Hub in src/hub/hub_test.ts, the cluster's ClusterBus on two nodes of a
// real NATS cluster in tests/cluster_bus_test.ts. A case places its sessions on the buses of one
// chat in turn (all on the one bus of a single server; alternating between the nodes of a
// cluster), so what the interface promises across nodes is checked too. A case that does not
// apply to an implementation is skipped by name, with the reason in the step's name.
import assert from "node:assert/strict";
import { Contract, type SkipList } from "./contract.ts";
import { nameKey } from "../../src/auth/names.ts";
import type { ErrorCode } from "../../src/errors.ts";
import type { Bus, Member, Post } from "../../src/hub/bus.ts";
import { type Channel, DEFAULT, parseChannel } from "../../src/protocol/channel.ts";
import { encodeBytes } from "../../src/protocol/framing.ts";
import { T } from "../../src/protocol/texts.ts";

/** The buses of one chat, empty: one for a single server, one per node for a cluster. */
export interface OpenedBus {
  buses: Bus[];
  /**
   * Resolves once every bus knows what the others' sessions did so far (joins, leaves, states,
   * channels): at once for a single server; once each node's presence reached the others.
   */
  settled(): Promise<void>;
  /** Closes the buses and anything opened with them; the next case starts empty. */
  close(): Promise<void>;
}

/** Opens the buses of an empty chat of the implementation under test. */
export type OpenBus = () => Promise<OpenedBus>;

export type { SkipList };

// How long a line may take to reach a session: through a cluster's stream and read model, or
// a disconnection through the stream.
const DEADLINE_MS = 10_000;

const decoder = new TextDecoder();

/** A session as the bus sees it: what it is sent is kept, decoded, in order. */
class FakeMember implements Member {
  readonly key: string;
  readonly lines: Record<string, unknown>[] = [];
  readonly ended: { code: ErrorCode; extra?: Readonly<Record<string, unknown>> }[] = [];
  // Who waits for a line: several waits may run at once (the answers to concurrent posts).
  readonly #waiters = new Set<() => void>();
  readonly out = {
    send: (line: Uint8Array) => {
      this.lines.push(JSON.parse(decoder.decode(line)));
      this.#wakeAll();
    },
  };

  constructor(
    readonly name: string,
    readonly since: number,
    readonly helloed = false,
    readonly transport = "tcp",
    readonly address = "127.0.0.1",
  ) {
    this.key = nameKey(name);
  }

  disconnect(code: ErrorCode, _text: unknown, extra?: Readonly<Record<string, unknown>>): void {
    this.ended.push({ code, extra });
    this.#wakeAll();
  }

  /** Resolves once `ready()` holds, failing after {@link DEADLINE_MS}. */
  async until(what: string, ready: () => boolean): Promise<void> {
    const deadline = Date.now() + DEADLINE_MS;
    while (!ready()) {
      const left = deadline - Date.now();
      assert.ok(left > 0, `${this.name}: ${what} not within ${DEADLINE_MS} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.#waiters.add(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#waiters.delete(wake!);
    }
  }

  #wakeAll(): void {
    for (const wake of this.#waiters) wake();
  }

  /** The chat messages received, once there are `n` (failing past the deadline). */
  async messages(n: number): Promise<Record<string, unknown>[]> {
    const chat = () => this.lines.filter((l) => l.type === "message");
    await this.until(`${n} messages`, () => chat().length >= n);
    return chat();
  }

  /** The content of each chat message received so far. */
  get contents(): unknown[] {
    return this.lines.filter((l) => l.type === "message").map((l) => l.content);
  }
}

/** What a case is given: the buses, and sessions to join on them. */
interface World {
  /** The `i`-th bus, in turn: every one is the only bus of a single server. */
  bus(i: number): Bus;
  /** How many buses the chat has. */
  readonly size: number;
  /** A session of `name` joined on bus `i`, online since `since`. */
  join(i: number, name: string, since: number, opts?: { helloed?: boolean }): FakeMember;
  settled(): Promise<void>;
}

type Case = (w: World) => Promise<void>;

/**
 * Runs every case of the Bus contract as a step of `t`, each on the buses `open` gives, but
 * those `skip` names (reported as ignored, with the reason).
 *
 * @throws {AssertionError} when `skip` names a case the contract does not have
 */
export async function busContract(
  t: Deno.TestContext,
  open: OpenBus,
  skip: SkipList = {},
): Promise<void> {
  await CASES.steps(t, skip, async (run) => {
    const opened = await open();
    const joined: [Bus, FakeMember][] = [];
    const bus = (i: number) => opened.buses[i % opened.buses.length];
    try {
      await run({
        bus,
        size: opened.buses.length,
        join(i, name, since, opts = {}) {
          const s = new FakeMember(name, since, opts.helloed);
          bus(i).join(s, { guest: false, now: since });
          joined.push([bus(i), s]);
          return s;
        },
        settled: () => opened.settled(),
      });
    } finally {
      for (const [b, s] of joined) b.leave(s);
      await opened.close();
    }
  });
}

/** The cases, by name, in order. */
const CASES = new Contract<Case>();

function test(name: string, run: Case): void {
  CASES.test(name, run);
}

const MATHS = parseChannel("#maths");

/** A chat message from `from` to a channel (the default one unless given). */
function toChannel(from: FakeMember, content: string, channel: Channel = DEFAULT): Post {
  return {
    fields: { type: "message", content },
    from: from.name,
    ts: Date.now(),
    to: { channel },
    except: from,
  };
}

/** A private chat message from `from` to `to`, who is online. */
function toUser(from: FakeMember, to: string, content: string): Post {
  return {
    fields: { type: "message", content },
    from: from.name,
    ts: Date.now(),
    to: { user: nameKey(to), name: to, inbox: false },
    except: from,
  };
}

let nextId = 1;

/** Posts with an id, resolving with the sender's ack (failing past the deadline or on an error). */
async function post(bus: Bus, p: Post): Promise<{ seq: number; timestamp: string }> {
  const from = p.except as FakeMember;
  const id = `p${nextId++}`;
  bus.post({ ...p, ack: { id, lang: "en" } });
  const answer = () => from.lines.find((r) => r.id === id);
  await from.until(`the answer to ${id}`, () => answer() !== undefined);
  const reply = answer()!;
  assert.equal(reply.type, "ack", `${id}: ${JSON.stringify(reply)}`);
  return { seq: reply.seq as number, timestamp: reply.timestamp as string };
}

test("a name is online once, whichever bus its sessions joined, until its last leaves", async (w) => {
  const b = w.bus(1);
  const a1 = new FakeMember("Alice", 1000);
  // One spelling, the account's, as logins give it (which spelling a cluster node shows when a
  // name's sessions differ is not promised alike: each node prefers its own sessions').
  const a2 = new FakeMember("Alice", 2000);
  assert.equal(w.bus(0).join(a1, { guest: false, now: 1000 }), true, "first session: online");
  await w.settled();
  assert.equal(b.join(a2, { guest: false, now: 2000 }), false, "second session: already online");
  await w.settled();
  for (let i = 0; i < w.size; i++) {
    assert.equal(w.bus(i).isOnline("alice"), true);
    assert.equal(w.bus(i).displayName("alice"), "Alice");
    assert.equal(w.bus(i).isOnline("bob"), false);
    assert.equal(w.bus(i).displayName("bob"), undefined);
  }
  assert.equal(w.bus(0).leave(a1), false, "a session is left: not offline");
  await w.settled();
  assert.equal(b.leave(a2), true, "the last session: offline");
  assert.equal(b.leave(a2), false, "a session left twice is offline once");
  await w.settled();
  for (let i = 0; i < w.size; i++) assert.equal(w.bus(i).isOnline("alice"), false);
});

test("presence lists each name once, in the order they came online, with its last state", async (w) => {
  w.join(0, "Alice", 1000);
  w.join(1, "Bob", 2000);
  w.join(2, "alice", 3000);
  w.bus(0).setState("alice", "away");
  await w.settled();
  for (let i = 0; i < w.size; i++) {
    assert.deepEqual(w.bus(i).presence(), [
      { name: "Alice", state: "away", guest: false, since: 1000 },
      { name: "Bob", state: "online", guest: false, since: 2000 },
    ]);
    // Every session, several per name (their order is not promised the same way by each bus).
    const sessions = w.bus(i).sessions().map((s) =>
      `${s.user} ${s.state} ${s.since} ${s.transport}`
    );
    assert.deepEqual(sessions.sort(), [
      "Alice away 1000 tcp",
      "Alice away 3000 tcp",
      "Bob online 2000 tcp",
    ]);
  }
});

test("channels count distinct names, the default first; members by name; left when empty", async (w) => {
  const a1 = w.join(0, "Alice", 1000);
  const a2 = w.join(1, "Alice", 2000);
  const b = w.join(2, "Bob", 3000);
  w.join(3, "Carol", 4000);
  w.bus(0).joinChannel(a1, MATHS);
  w.bus(1).joinChannel(a2, MATHS);
  w.bus(2).joinChannel(b, MATHS);
  await w.settled();
  for (let i = 0; i < w.size; i++) {
    assert.deepEqual(w.bus(i).channels(), [
      { name: DEFAULT.name, members: 3 },
      { name: "#maths", members: 2 },
    ]);
    assert.deepEqual(w.bus(i).members(MATHS.key).sort(), ["Alice", "Bob"]);
    assert.deepEqual(w.bus(i).members(DEFAULT.key), ["Alice", "Bob", "Carol"]);
    assert.deepEqual(w.bus(i).members(parseChannel("#none").key), []);
  }
  w.bus(0).leaveChannel(a1, MATHS.key);
  w.bus(2).leaveChannel(b, MATHS.key);
  await w.settled();
  for (let i = 0; i < w.size; i++) {
    assert.deepEqual(w.bus(i).members(MATHS.key), ["Alice"], "Alice's other session stays");
  }
  w.bus(1).leave(a2);
  await w.settled();
  for (let i = 0; i < w.size; i++) {
    assert.deepEqual(w.bus(i).channels(), [{ name: DEFAULT.name, members: 3 }]);
  }
});

test("a channel message reaches every session of its members on every bus, never the sender", async (w) => {
  const a1 = w.join(0, "Alice", 1000);
  const a2 = w.join(1, "Alice", 2000); // the sender's other session, not in the channel
  const b1 = w.join(2, "Bob", 3000);
  const b2 = w.join(3, "Bob", 4000);
  const c = w.join(4, "Carol", 5000);
  w.bus(2).joinChannel(b1, MATHS);
  w.bus(3).joinChannel(b2, MATHS);
  await w.settled();
  const { seq, timestamp } = await post(w.bus(0), toChannel(a1, "théorème", MATHS));
  for (const s of [b1, b2]) {
    const [m] = await s.messages(1);
    assert.deepEqual(m, {
      type: "message",
      content: "théorème",
      from: "Alice",
      timestamp,
      seq,
    });
  }
  // Posting joined the sender's session: a reply from Bob reaches it.
  await w.settled();
  for (let i = 0; i < w.size; i++) {
    assert.deepEqual(w.bus(i).members(MATHS.key).sort(), ["Alice", "Bob"]);
  }
  await post(w.bus(2), toChannel(b1, "réponse", MATHS));
  assert.deepEqual((await a1.messages(1)).map((m) => m.content), ["réponse"]);
  // A message to everybody after both: whoever had the channel's would have it first.
  await post(w.bus(2), toChannel(b1, "fin"));
  for (const s of [a2, c, a1]) await s.messages(s === a1 ? 2 : 1);
  await b2.messages(3);
  assert.deepEqual(a2.contents, ["fin"]);
  assert.deepEqual(c.contents, ["fin"]);
  assert.deepEqual(b2.contents, ["théorème", "réponse", "fin"]);
  assert.deepEqual(b1.contents, ["théorème"], "no echo to the sending session");
  assert.deepEqual(a1.contents, ["réponse", "fin"]);
});

test("a private message reaches every session of its recipient on every bus, and only them", async (w) => {
  const a1 = w.join(0, "Alice", 1000);
  const a2 = w.join(1, "Alice", 2000);
  const b1 = w.join(2, "Bob", 3000);
  const b2 = w.join(3, "bob", 4000);
  const c = w.join(4, "Carol", 5000);
  await w.settled();
  const { seq, timestamp } = await post(w.bus(0), toUser(a1, "bob", "psst"));
  for (const s of [b1, b2]) {
    const [m] = await s.messages(1);
    assert.deepEqual(m, { type: "message", content: "psst", from: "Alice", timestamp, seq });
  }
  // Then one to everybody: a private message to anyone else would come before it.
  await post(w.bus(2), toChannel(b1, "fin"));
  for (const s of [a1, a2, c, b2]) await s.messages(1);
  assert.deepEqual([a1, a2, c].map((s) => s.contents), [["fin"], ["fin"], ["fin"]]);
  assert.deepEqual(b2.contents, ["psst", "fin"]);
});

test("each session receives the messages in one order, the seq order, whoever sent them", async (w) => {
  const senders = [w.join(0, "Alice", 1000), w.join(1, "Bob", 2000)];
  const readers = [w.join(0, "Carol", 3000), w.join(1, "Dan", 4000), w.join(2, "Eve", 5000)];
  await w.settled();
  const stored: Promise<{ seq: number }>[] = [];
  for (let i = 0; i < 20; i++) {
    for (const [j, s] of senders.entries()) {
      stored.push(post(w.bus(j), toChannel(s, `${s.name} ${i}`)));
    }
  }
  const seqs = (await Promise.all(stored)).map((s) => s.seq);
  assert.equal(new Set(seqs).size, 40, "one seq each");
  const orders = await Promise.all(readers.map((r) => r.messages(40)));
  for (const lines of orders) {
    const got = lines.map((m) => m.seq as number);
    assert.deepEqual(got, [...seqs].sort((a, b) => a - b), "in seq order");
    // Each sender's messages in the order sent.
    for (const s of senders) {
      const own = lines.filter((m) => m.from === s.name).map((m) => m.content);
      assert.deepEqual(own, Array.from({ length: 20 }, (_, i) => `${s.name} ${i}`));
    }
  }
  assert.deepEqual(orders[1], orders[0]);
  assert.deepEqual(orders[2], orders[0]);
  // A sender gets the other's messages, never its own.
  const alice = await senders[0].messages(20);
  assert.ok(alice.every((m) => m.from === "Bob"));
});

test("deliver queues a line on its bus's sessions of the audience but one, and counts them", async (w) => {
  const b = w.bus(0);
  const a = w.join(0, "Alice", 1000, { helloed: true });
  const b1 = w.join(0, "Bob", 2000, { helloed: true });
  const b2 = w.join(0, "Bob", 3000);
  const c = w.join(0, "Carol", 4000);
  b.joinChannel(c, MATHS);
  // Whatever the other buses heard of them by now changes nothing here.
  await w.settled();
  const line = (n: number) => encodeBytes({ type: "status", user: "x", state: `s${n}` });
  assert.equal(b.deliver({ all: true }, line(1), a), 3);
  assert.equal(b.deliver({ channel: MATHS.key }, line(2)), 1);
  assert.equal(b.deliver({ channel: DEFAULT.key }, line(3)), 4, "the default: everybody");
  assert.equal(b.deliver({ user: "bob" }, line(4)), 2);
  assert.equal(b.deliver({ user: "bob", helloed: true }, line(5)), 1, "extension: helloed only");
  assert.equal(b.deliver({ user: "bob" }, line(6), b1), 1);
  assert.equal(b.deliver({ user: "nobody" }, line(7)), 0);
  const states = (s: FakeMember) => s.lines.map((l) => l.state);
  assert.deepEqual(states(a), ["s3"]);
  assert.deepEqual(states(b1), ["s1", "s3", "s4", "s5"]);
  assert.deepEqual(states(b2), ["s1", "s3", "s4", "s6"]);
  assert.deepEqual(states(c), ["s1", "s2", "s3"]);
});

test("disconnect ends every session of a name on every bus, with its extra fields", async (w) => {
  const sessions = Array.from({ length: Math.max(2, w.size) }, (_, i) => w.join(i, "Alice", i));
  const b = w.join(0, "Bob", 9000);
  await w.settled();
  assert.equal(
    w.bus(0).disconnect("alice", "forbidden", T.banned("x"), { until: "x" }),
    sessions.length,
  );
  for (const s of sessions) {
    await s.until("disconnected", () => s.ended.length > 0);
    assert.deepEqual(s.ended, [{ code: "forbidden", extra: { until: "x" } }]);
  }
  assert.deepEqual(b.ended, []);
  assert.equal(w.bus(0).disconnect("nobody", "forbidden", T.kicked()), 0);
});
