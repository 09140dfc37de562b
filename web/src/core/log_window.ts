// The window of the message log: which of a conversation's held messages are rendered, so the
// page stays fast whatever the history's size (ISSUE 18, defect 6: 8,008 rows were 80,500 DOM
// nodes and a 2.5 s wait for a live line). A contiguous run of at most WINDOW_ROWS messages,
// either the newest (following the conversation) or pinned by its first message's seq, moved by
// WINDOW_STEP rows when the reader nears an edge. No row heights are estimated: the log keeps the
// reader's line in place itself when rows come and go. @tanstack/virtual-core 3.19 was measured
// first: 10.2 KB of gzip bundled, a third of the app's 30 KB budget, for absolute positioning a
// chat log does not need.
import { type ChatMessage, compareMessages } from "./chat_state.ts";

/** Messages rendered at most: about 12 DOM nodes each, under the log's 3,000-node budget. */
export const WINDOW_ROWS = 150;
/** Messages added at one end (and dropped at the other) when the reader nears an edge. */
export const WINDOW_STEP = 50;

/** Where the window is: following the newest messages, or pinned at a message. */
export interface WindowState {
  follow: boolean;
  /** The first rendered message's seq when pinned. */
  topSeq?: number;
}

/** The rendered messages: `order.slice(start, end)`. */
export interface Range {
  start: number;
  end: number;
}

/** The window that follows the newest messages. */
export const FOLLOW: WindowState = { follow: true };

/** The index of a held message in `order` (sorted by (timestamp, seq)), or -1. */
export function indexOf(order: readonly ChatMessage[], m: ChatMessage): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareMessages(order[mid], m) < 0) lo = mid + 1;
    else hi = mid;
  }
  return order[lo] === m ? lo : order.indexOf(m);
}

/**
 * The messages to render. A pinned window whose first message is gone (dropped from the chat
 * state) starts at the oldest held one, the nearest to where the reader was.
 */
export function windowRange(
  order: readonly ChatMessage[],
  bySeq: ReadonlyMap<number, ChatMessage>,
  state: WindowState,
  rows = WINDOW_ROWS,
): Range {
  const n = order.length;
  if (state.follow || state.topSeq === undefined) return { start: Math.max(0, n - rows), end: n };
  const top = bySeq.get(state.topSeq);
  const i = top ? indexOf(order, top) : -1;
  const start = Math.max(0, Math.min(i < 0 ? 0 : i, n - rows));
  return { start, end: Math.min(n, start + rows) };
}

/** The window `step` older messages up (pinned); undefined when it already starts at the oldest. */
export function shiftOlder(
  order: readonly ChatMessage[],
  range: Range,
  step = WINDOW_STEP,
): WindowState | undefined {
  if (range.start <= 0 || order.length === 0) return undefined;
  return { follow: false, topSeq: order[Math.max(0, range.start - step)].seq };
}

/**
 * The window `step` newer messages down (pinned); undefined when it already ends at the newest
 * (the log then follows once the reader is at the bottom).
 */
export function shiftNewer(
  order: readonly ChatMessage[],
  range: Range,
  step = WINDOW_STEP,
  rows = WINDOW_ROWS,
): WindowState | undefined {
  if (range.end >= order.length) return undefined;
  const start = Math.min(range.start + step, Math.max(0, order.length - rows));
  return { follow: false, topSeq: order[start].seq };
}
