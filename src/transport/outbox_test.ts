import assert from "node:assert/strict";
import { FlushPacer, Outbox, type OutboxFailure, type Writer } from "./outbox.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A writer whose writes complete only when the test says so. */
class GatedWriter implements Writer {
  writes: string[] = [];
  #gates: (() => void)[] = [];
  maxPerWrite = Infinity;
  fail = false;

  write(bytes: Uint8Array): Promise<number> {
    if (this.fail) return Promise.reject(new Error("broken pipe"));
    const n = Math.min(bytes.length, this.maxPerWrite);
    this.writes.push(dec(bytes.subarray(0, n)));
    return new Promise((resolve) => this.#gates.push(() => resolve(n)));
  }

  /**
   * Completes pending writes until none has come for 50 ms, letting the outbox issue the next
   * ones (a flush may wait up to 25 ms under load: FlushPacer).
   */
  async open(): Promise<void> {
    for (let idle = 0; idle < 10;) {
      await new Promise((r) => setTimeout(r, 5));
      const gate = this.#gates.shift();
      if (gate) gate(), idle = 0;
      else idle++;
    }
  }
}

function make(maxBytes = 1000) {
  const writer = new GatedWriter();
  const failures: OutboxFailure[] = [];
  let now = 0;
  const outbox = new Outbox(writer, { outboxFailed: (r) => failures.push(r) }, {
    maxBytes,
    now: () => now,
  });
  return { writer, outbox, failures, advance: (ms: number) => now += ms };
}

Deno.test("Outbox writes the lines queued in one turn in one write", async () => {
  const { writer, outbox } = make();
  outbox.send(enc("a\n"));
  outbox.send(enc("b\n"));
  outbox.send(enc("c\n"));
  await writer.open();
  await outbox.drained();
  assert.deepEqual(writer.writes, ["a\nb\nc\n"]);
});

Deno.test("Outbox finishes partial writes in order", async () => {
  const { writer, outbox } = make();
  writer.maxPerWrite = 2;
  outbox.send(enc("hello\n"));
  await writer.open();
  await outbox.drained();
  assert.equal(writer.writes.join(""), "hello\n");
  assert.equal(outbox.queuedBytes, 0);
});

Deno.test("Outbox fails a slow consumer once its queue passes the cap, and drops later lines", async () => {
  const { writer, outbox, failures } = make(10);
  outbox.send(enc("12345\n")); // 6 bytes: in flight, never acknowledged by the writer
  await new Promise((r) => setTimeout(r, 0));
  outbox.send(enc("1234\n")); // 11 > 10
  outbox.send(enc("x\n"));
  assert.deepEqual(failures, ["queue_full"]);
  assert.equal(outbox.failed, true);
  assert.deepEqual(writer.writes, ["12345\n"]);
});

Deno.test("Outbox release() sends the reply before the lines held back", async () => {
  const { writer, outbox } = make();
  outbox.hold();
  outbox.send(enc("broadcast\n"));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(writer.writes, [], "nothing leaves while held");
  outbox.release(enc("reply\n"));
  await writer.open();
  await outbox.drained();
  assert.equal(writer.writes.join(""), "reply\nbroadcast\n");
});

Deno.test("Outbox pass() writes a line alone ahead of the held ones, which stay held", async () => {
  const { writer, outbox } = make();
  outbox.hold();
  outbox.send(enc("live\n"));
  outbox.pass(enc("reply\n"));
  await writer.open();
  await outbox.drained();
  assert.deepEqual(writer.writes, ["reply\n"], "the held line does not go with the reply");
  outbox.pass(enc("next reply\n"));
  outbox.release(enc("waiting\n"));
  await writer.open();
  await outbox.drained();
  assert.equal(writer.writes.join(""), "reply\nnext reply\nwaiting\nlive\n");
});

Deno.test("Outbox reports a write error once", async () => {
  const { writer, outbox, failures } = make();
  writer.fail = true;
  outbox.send(enc("a\n"));
  await outbox.drained();
  assert.deepEqual(failures, ["write_error"]);
});

// The test's own sanitizer is the assertion: a flush timer still armed when it ends is a leak.
Deno.test("Outbox closed before its flush leaves no flush timer behind, and writes nothing", async () => {
  const { writer, outbox } = make();
  outbox.send(enc("a\n"));
  outbox.close();
  await outbox.drained();
  assert.deepEqual(writer.writes, []);
});

Deno.test("Outbox stalledMs() measures the write the peer is not reading", async () => {
  const { outbox, advance } = make();
  assert.equal(outbox.stalledMs(), 0);
  outbox.send(enc("a\n"));
  await new Promise((r) => setTimeout(r, 0));
  advance(1500);
  assert.equal(outbox.stalledMs(), 1500);
});

Deno.test("Outboxes flushed together each write exactly their own lines", async () => {
  // Recipients of the same broadcasts share one joined buffer; any other mix must not get it.
  const [a, b, c] = [enc("a\n"), enc("b\n"), enc("c\n")];
  const queues = [[a, b], [a, b], [a], [a, b], [b, a], [a, b, c], [a, b]];
  const made = queues.map(() => make());
  queues.forEach((lines, i) => {
    for (const line of lines) made[i].outbox.send(line);
  });
  await Promise.all(made.map(({ writer }) => writer.open()));
  assert.deepEqual(
    made.map(({ writer }) => writer.writes.join("")),
    ["a\nb\n", "a\nb\n", "a\n", "a\nb\n", "b\na\n", "a\nb\nc\n", "a\nb\n"],
  );
});

Deno.test("Outboxes keep each line they were sent, in order, however broadcasts interleave", async () => {
  // A broadcast's sender misses its own line; replies go to one; a line may be sent again later.
  const [l1, l2, l3, reply] = [enc("1\n"), enc("2\n"), enc("3\n"), enc("r\n")];
  const [a, b, c] = [make(), make(), make()];
  for (const o of [a, b, c]) o.outbox.send(l1);
  for (const o of [a, c]) o.outbox.send(l2);
  for (const o of [a, b, c]) o.outbox.send(l3);
  b.outbox.send(reply);
  a.outbox.send(l1);
  c.outbox.send(l3);
  await Promise.all([a, b, c].map(({ writer }) => writer.open()));
  await a.writer.open();
  assert.deepEqual(
    [a, b, c].map(({ writer }) => writer.writes.join("")),
    ["1\n2\n3\n1\n", "1\n3\nr\n", "1\n2\n3\n3\n"],
  );
});

Deno.test("An outbox busy writing keeps the lines of past turns, in order", async () => {
  // Lines sent while a write is pending outlive the turn they were sent in (its log is dropped).
  const [l0, l1, l2, l3, l4] = [enc("0\n"), enc("1\n"), enc("2\n"), enc("3\n"), enc("4\n")];
  const a = make();
  const b = make();
  a.outbox.send(l1);
  await new Promise((r) => setTimeout(r, 5)); // the turn's flush: a's write of "1" now pending
  b.outbox.send(l0); // so a's lines of this turn start past the log's first
  for (const o of [a, b]) o.outbox.send(l2);
  for (const o of [b, a]) o.outbox.send(l3);
  await new Promise((r) => setTimeout(r, 5)); // another turn ends while a still writes
  a.outbox.send(l4);
  await a.writer.open();
  await b.writer.open();
  await a.outbox.drained();
  assert.deepEqual(a.writer.writes, ["1\n", "2\n3\n4\n"]);
  assert.deepEqual(b.writer.writes, ["0\n2\n3\n"]);
});

Deno.test("Outboxes flushed together with the same lines share one joined buffer", async () => {
  const raw: Uint8Array[][] = [[], [], []];
  const outboxes = raw.map((bytes) =>
    new Outbox(
      {
        write: (b: Uint8Array) => (bytes.push(b), Promise.resolve(b.length)),
      },
      { outboxFailed() {} },
      { maxBytes: 1000 },
    )
  );
  const [l1, l2, l3] = [enc("1\n"), enc("2\n"), enc("3\n")];
  for (const line of [l1, l2]) for (const o of outboxes) o.send(line);
  outboxes[2].send(l3);
  await Promise.all(outboxes.map((o) => o.drained()));
  assert.deepEqual(raw.map((w) => w.map(dec)), [["1\n2\n"], ["1\n2\n"], ["1\n2\n3\n"]]);
  assert.equal(raw[0][0], raw[1][0], "one join for the room");
  assert.notEqual(raw[1][0], raw[2][0]);
});

const pacing = { share: 0.5, maxDelayMs: 25, windowMs: 200, linesPerWrite: 4 };

/**
 * Flushes every `every` ms for a second, each cycle costing `cost` ms of CPU; then the delay asked
 * at the next due time.
 */
function steady(pacer: FlushPacer, cost: number, every: number): number {
  let t = 1000;
  let cpu = 0;
  for (; t < 2000; t += every) pacer.flushing(t, cpu += cost), pacer.wrote(1000, 1000);
  return pacer.delay(t);
}

Deno.test("FlushPacer: no delay at a classroom's pace, whatever a cycle costs", () => {
  // 25 messages a second to 1,000 clients: 13 ms of CPU every 40 ms, a third of a core.
  assert.equal(steady(new FlushPacer(pacing), 13, 40), 0);
});

Deno.test("FlushPacer: under load the next flush waits until the CPU is back to its share", () => {
  // 100 messages a second: 9.7 ms of CPU every 10 ms.
  const pacer = new FlushPacer(pacing);
  const delay = steady(pacer, 9.7, 10);
  assert.ok(pacer.share > 0.9, `share ${pacer.share}`);
  // The last flush began at 1990 after a cycle of 9.7 ms: the next begins 9.7 / 0.5 ms after it.
  assert.ok(Math.abs(delay - (1990 + 9.7 / 0.5 - 2000)) < 1e-9, `delay ${delay}`);
});

Deno.test("FlushPacer: the delay never passes its budget, and an idle spell forgets the load", () => {
  const pacer = new FlushPacer(pacing);
  assert.equal(steady(pacer, 40, 40), 25);
  // 200 ms without a flush: the next one goes at once.
  assert.equal(pacer.delay(2000 + 200), 0);
});

Deno.test("FlushPacer: no delay once the writes carry several lines each by themselves", () => {
  const pacer = new FlushPacer(pacing);
  let t = 1000;
  let cpu = 0;
  // 1,600 messages a second: each flush finds 5 lines per connection without waiting.
  for (; t < 2000; t += 10) pacer.flushing(t, cpu += 9.7), pacer.wrote(5000, 1000);
  assert.equal(pacer.delay(t), 0);
});
