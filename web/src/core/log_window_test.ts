import assert from "node:assert/strict";
import { FOLLOW, indexOf, shiftNewer, shiftOlder, windowRange } from "./log_window.ts";
import { ChatState } from "./chat_state.ts";

function held(n: number, first = 1, s = new ChatState()) {
  s.ensure("#g", "channel", "#g");
  for (let seq = first; seq < first + n; seq++) {
    s.upsert("#g", {
      seq,
      from: "bob",
      content: `m${seq}`,
      timestamp: `2026-03-02T14:${String(Math.floor(seq / 60) % 60).padStart(2, "0")}:${
        String(seq % 60).padStart(2, "0")
      }.${String(seq).padStart(3, "0").slice(-3)}`,
      announce: false,
    });
  }
  return s.conversations.get("#g")!;
}

Deno.test("the log window follows the newest messages, at most its size", () => {
  const c = held(1000);
  assert.deepEqual(windowRange(c.order, c.bySeq, FOLLOW, 150), { start: 850, end: 1000 });
  const few = held(20);
  assert.deepEqual(windowRange(few.order, few.bySeq, FOLLOW, 150), { start: 0, end: 20 });
});

Deno.test("the log window moves up and down by steps, never past either end", () => {
  const c = held(1000);
  let range = windowRange(c.order, c.bySeq, FOLLOW, 150);
  let state = shiftOlder(c.order, range, 50)!;
  range = windowRange(c.order, c.bySeq, state, 150);
  assert.deepEqual(range, { start: 800, end: 950 });
  for (let i = 0; i < 30; i++) {
    const next = shiftOlder(c.order, range, 50);
    if (!next) break;
    state = next;
    range = windowRange(c.order, c.bySeq, state, 150);
    assert.equal(range.end - range.start, 150, "always the same size");
  }
  assert.deepEqual(range, { start: 0, end: 150 });
  assert.equal(shiftOlder(c.order, range, 50), undefined, "the oldest held is reached");
  for (let i = 0; i < 30; i++) {
    const next = shiftNewer(c.order, range, 50, 150);
    if (!next) break;
    range = windowRange(c.order, c.bySeq, next, 150);
  }
  assert.deepEqual(range, { start: 850, end: 1000 });
  assert.equal(shiftNewer(c.order, range, 50, 150), undefined, "the newest is reached");
});

Deno.test("a pinned log window keeps its messages when an older page comes in on top", () => {
  const chat = new ChatState();
  const conv = held(300, 201, chat);
  const state = { follow: false, topSeq: 300 };
  const pinned = windowRange(conv.order, conv.bySeq, state, 150);
  const shown = conv.order.slice(pinned.start, pinned.end).map((m) => m.seq);
  // The older page: seqs 1..200, with older timestamps, through the chat state.
  held(200, 1, chat);
  const after = windowRange(conv.order, conv.bySeq, state, 150);
  assert.deepEqual(conv.order.slice(after.start, after.end).map((m) => m.seq), shown);
  assert.equal(after.start, pinned.start + 200);
});

Deno.test("a pinned log window whose first message was dropped starts at the oldest held", () => {
  const c = held(400);
  const state = { follow: false, topSeq: 10 };
  for (const m of c.order.splice(0, 100)) c.bySeq.delete(m.seq);
  assert.deepEqual(windowRange(c.order, c.bySeq, state, 150), { start: 0, end: 150 });
});

Deno.test("indexOf() finds a message by its place in the (timestamp, seq) order", () => {
  const c = held(500);
  for (const i of [0, 1, 250, 499]) assert.equal(indexOf(c.order, c.order[i]), i);
  assert.equal(indexOf(c.order, { ...c.order[3] }), -1, "another object is not held");
});
