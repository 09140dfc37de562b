import assert from "node:assert/strict";
import { ChatState } from "./chat_state.ts";
import type { WireMessage } from "./wire.ts";

function msg(seq: number, from = "bob", timestamp?: string, content = `m${seq}`): WireMessage {
  return {
    seq,
    from,
    content,
    timestamp: timestamp ?? `2026-03-02T14:05:${String(seq).padStart(2, "0")}.000`,
    announce: false,
  };
}

function stateWith(key = "#général"): ChatState {
  const s = new ChatState();
  s.ensure(key, "channel", key);
  s.setActive(key);
  return s;
}

const seqs = (s: ChatState, key = "#général") => s.conversations.get(key)!.order.map((m) => m.seq);

Deno.test("ChatState.upsert() keys by seq: a message seen twice is kept once", () => {
  const s = stateWith();
  assert.equal(s.upsert("#général", msg(1)), true);
  assert.equal(s.upsert("#général", msg(1)), false);
  assert.deepEqual(seqs(s), [1]);
});

Deno.test("ChatState orders by (timestamp, seq): imported messages with a higher seq sort by time", () => {
  const s = stateWith();
  s.upsert("#général", msg(10, "bob", "2026-03-02T14:00:00.000"));
  s.upsert("#général", msg(3, "bob", "2026-03-02T14:01:00.000"));
  s.upsert("#général", msg(500, "old", "2025-01-01T08:00:00.000")); // imported
  s.upsert("#général", msg(4, "bob", "2026-03-02T14:01:00.000"));
  s.upsert("#général", msg(2, "bob", "2026-03-02T14:01:00.000"));
  assert.deepEqual(seqs(s), [500, 10, 2, 3, 4]);
  assert.equal(s.oldestSeq("#général"), 500);
  assert.equal(s.newestSeq("#général"), 4);
});

Deno.test("ChatState.addPage() dedupes overlapping pages and tracks hasMore", () => {
  const s = stateWith();
  s.addPage("#général", [6, 7, 8, 9, 10].map((n) => msg(n)), { more: true, direction: "latest" });
  assert.equal(s.conversations.get("#général")!.hasMore, true);
  // a live line, then an older page that overlaps
  s.upsert("#général", msg(11), { fresh: true });
  const added = s.addPage("#général", [4, 5, 6, 7].map((n) => msg(n)), {
    more: false,
    direction: "older",
  });
  assert.equal(added, 2);
  assert.deepEqual(seqs(s), [4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(s.conversations.get("#général")!.hasMore, false);
  // a newer page never touches hasMore
  s.addPage("#général", [11, 12].map((n) => msg(n)), { more: true, direction: "newer" });
  assert.equal(s.conversations.get("#général")!.hasMore, false);
  assert.deepEqual(seqs(s), [4, 5, 6, 7, 8, 9, 10, 11, 12]);
});

Deno.test("ChatState counts unread only for others' fresh messages not seen", () => {
  const s = stateWith();
  s.ensure("#sisr", "channel", "#sisr");
  s.addPage("#sisr", [msg(1)], { more: false, direction: "latest" }); // history: not unread
  s.upsert("#sisr", msg(2), { fresh: true });
  s.upsert("#sisr", msg(3, "alice"), { fresh: true, own: true });
  s.upsert("#général", msg(4), { fresh: true }); // shown and at the bottom
  assert.equal(s.conversations.get("#sisr")!.unread, 1);
  assert.equal(s.conversations.get("#sisr")!.markerSeq, 2);
  assert.equal(s.conversations.get("#général")!.unread, 0);
  // scrolled up in the shown conversation
  s.setViewing(false);
  s.upsert("#général", msg(5), { fresh: true });
  s.upsert("#général", msg(6), { fresh: true });
  assert.equal(s.conversations.get("#général")!.unread, 2);
  assert.equal(s.conversations.get("#général")!.markerSeq, 5);
  assert.equal(s.totalUnread, 3);
  s.setViewing(true);
  assert.equal(s.conversations.get("#général")!.unread, 0);
  s.setActive("#sisr");
  assert.equal(s.conversations.get("#sisr")!.unread, 0);
  assert.equal(s.conversations.get("#sisr")!.markerSeq, 2, "the line stays while shown");
  assert.equal(s.conversations.get("#général")!.markerSeq, undefined, "left: line dropped");
});

Deno.test("ChatState pending sends: sending → ack → stored; refused → failed", () => {
  const s = stateWith();
  s.addPending({ id: "a", conv: "#général", text: "Bonjour", state: "sending", timestamp: "t" });
  s.addPending({ id: "b", conv: "#général", text: "Encore", state: "sending", timestamp: "t" });
  assert.equal(s.pendingOf("#général").length, 2);
  s.ack("a", 7, "2026-03-02T14:06:00.000", "Alice");
  assert.deepEqual(seqs(s), [7]);
  assert.equal(s.conversations.get("#général")!.bySeq.get(7)!.content, "Bonjour");
  assert.equal(s.conversations.get("#général")!.unread, 0);
  s.fail("b", { code: "server_busy" });
  assert.deepEqual(s.pendingOf("#général").map((p) => [p.id, p.state]), [["b", "failed"]]);
  // a late live copy of the acked message is not doubled
  s.upsert("#général", msg(7, "Alice"), { fresh: true, own: true });
  assert.deepEqual(seqs(s), [7]);
});

Deno.test("ChatState settles sends in doubt after a drop: found → sent, not found → queued again, not caught up → failed", () => {
  const s = stateWith();
  s.ensure("@bob", "private", "bob");
  s.addPending({ id: "a", conv: "#général", text: "stored", state: "sending", timestamp: "t" });
  s.addPending({ id: "b", conv: "#général", text: "lost", state: "sending", timestamp: "t" });
  s.addPending({ id: "c", conv: "#général", text: "stored", state: "sending", timestamp: "t" });
  s.addPending({
    id: "d",
    conv: "#général",
    text: "typed offline",
    state: "queued",
    timestamp: "t",
  });
  s.addPending({ id: "e", conv: "@bob", text: "not caught up", state: "sending", timestamp: "t" });
  s.markInDoubt();
  assert.deepEqual(
    [...s.pending.values()].map((p) => p.state),
    ["unknown", "unknown", "unknown", "queued", "unknown"],
  );
  s.upsert("#général", msg(20, "alice", undefined, "stored"), { fresh: true, own: true });
  const stored = s.settleInDoubt("Alice", new Map([["#général", new Set([20])]]));
  assert.deepEqual([...stored], ["a"]);
  // one copy stored: the first send matches it, the second identical one did not arrive
  assert.deepEqual(
    s.pendingOf("#général").map((p) => [p.id, p.state]),
    [["b", "queued"], ["c", "queued"], ["d", "queued"]],
  );
  assert.deepEqual(s.pendingOf("@bob").map((p) => [p.id, p.state]), [["e", "failed"]]);
});

Deno.test("ChatState.trim() keeps the newest messages and says older ones exist", () => {
  const s = stateWith();
  s.addPage("#général", Array.from({ length: 30 }, (_, i) => msg(i + 1)), {
    more: false,
    direction: "latest",
  });
  s.trim("#général", 10);
  assert.deepEqual(seqs(s), [21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
  assert.equal(s.conversations.get("#général")!.hasMore, true);
  assert.equal(s.upsert("#général", msg(5)), true, "a trimmed message may come back");
});

Deno.test("ChatState.dropOlderThan() forgets what lies before a capped catch-up", () => {
  const s = stateWith();
  for (const n of [1, 2, 3, 50, 51]) s.upsert("#général", msg(n));
  s.dropOlderThan("#général", 50);
  assert.deepEqual(seqs(s), [50, 51]);
  assert.equal(s.conversations.get("#général")!.hasMore, true);
});
