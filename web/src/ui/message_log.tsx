// The messages of the open conversation (role="log"): a window of at most WINDOW_ROWS rows over
// the held history (core/log_window.ts), moved as the reader scrolls and paging back by itself at
// the top; the reader's line stays put when rows come or go; day separators, full dates on
// hover, http(s) links and mentions of the signed-in user; a "nouveaux messages" line and a
// "↓ N nouveaux" pill (docs/web.md §6.2, §6.3, §7.2).
import { Component, type VNode } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ChatModel } from "../core/chat_model.ts";
import { dayLabel, dayOf, fullDateTime } from "../core/dates.ts";
import { describeError } from "../core/describe_error.ts";
import { type I18n, localDate } from "../core/i18n.ts";
import {
  FOLLOW,
  type Range,
  shiftNewer,
  shiftOlder,
  windowRange,
  type WindowState,
} from "../core/log_window.ts";
import { mentionPattern, richText } from "../core/rich_text.ts";
import type { ChatMessage, Conversation, PendingSend } from "../core/chat_state.ts";
import { nameKey } from "../core/wire.ts";
import { useI18n, useNow } from "./hooks.ts";

/** The id of the note "(s'ouvre dans un nouvel onglet)" that every link points to. */
const NEW_TAB_NOTE = "log-new-tab";

interface RowProps {
  m: ChatMessage;
  own: boolean;
  /** Finds the signed-in user's name in a text (none for one's own messages). */
  pattern: RegExp | undefined;
  t: I18n;
}

/** One stored message; re-renders only when the message, the language or the reader changes. */
class MessageRow extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const p = this.props;
    return next.m !== p.m || next.t !== p.t || next.own !== p.own || next.pattern !== p.pattern;
  }

  override render() {
    const { m, own, t } = this.props;
    // Text is only ever put in text nodes and attributes: never HTML (the page's CSP has
    // Trusted Types on: an innerHTML would throw).
    const segments = richText(m.content, own ? undefined : this.props.pattern);
    const mention = segments.some((s) => s.kind === "mention");
    let cls = "msg";
    if (own) cls += " own";
    if (m.announce) cls += " announce";
    if (mention) cls += " mention";
    return (
      <li class={cls} data-seq={m.seq}>
        <span class="from">
          <bdi>{m.from}</bdi>
          <span class="sr-only">,</span>
          {mention && <span class="sr-only">{` ${t.t("mentionsYou")},`}</span>}
        </span>
        {m.announce && <strong class="tag announce-tag">{t.t("announceTag")}</strong>}
        {m.offline && <em class="tag offline-tag">{t.t("offlineTag")}</em>}
        <bdi class="text">
          {segments.map((s, i) =>
            s.kind === "link"
              ? (
                <a
                  key={i}
                  href={s.href}
                  target="_blank"
                  rel="noopener noreferrer"
                  aria-describedby={NEW_TAB_NOTE}
                >
                  {s.text}
                </a>
              )
              : s.kind === "mention"
              ? <mark key={i}>{s.text}</mark>
              : s.text
          )}
        </bdi>
        <time dateTime={m.timestamp} title={fullDateTime(m.timestamp, t.lang)}>
          {t.time(m.timestamp)}
        </time>
      </li>
    );
  }
}

function PendingRow(props: { p: PendingSend; me: string; chat: ChatModel }) {
  const t = useI18n();
  const { p, chat } = props;
  const failed = p.state === "failed";
  return (
    <li
      class={`msg own ${failed ? "failed" : "pending"}`}
      data-pending={failed ? undefined : "true"}
      data-failed={failed ? "true" : undefined}
      data-queued={p.state === "queued" ? "true" : undefined}
    >
      <span class="from">
        <bdi>{props.me}</bdi>
      </span>
      <bdi class="text">
        {p.text}
      </bdi>
      <span class="state">
        {failed
          ? (
            <>
              <span class="failed-text">
                {t.t("failed")}
                {p.error && p.error.code !== "closed"
                  ? ` (${describeError(t, p.error, "send").text})`
                  : ""}
              </span>{" "}
              <button type="button" class="link" onClick={() => chat.resend(p.id)}>
                {t.t("resend")}
              </button>
            </>
          )
          : t.t(p.state === "queued" ? "queued" : "sending")}
      </span>
    </li>
  );
}

/** A day separator: "Aujourd'hui", "Hier", "lundi 30 novembre 2026". */
function DaySeparator(props: { day: string; today: string; t: I18n }) {
  const { day, t } = props;
  const words = { today: t.t("dayToday"), yesterday: t.t("dayYesterday") };
  return (
    <li class="day" data-day={day}>
      <time dateTime={day}>{dayLabel(day, props.today, t.lang, words)}</time>
    </li>
  );
}

const NEAR_BOTTOM_PX = 32;
/**
 * How near an edge of the rendered rows the window moves or an older page is asked for: a
 * screen or more ahead, so a reader scrolling at a normal pace never reaches a blank edge.
 */
const EDGE_PX = 800;

/** Where the reader is: the first row in view and its distance to the log's top edge. */
interface Anchor {
  key: string;
  offset: number;
}

/** The first row (message or pending send) at least partly in view. */
function anchorOf(el: HTMLElement): Anchor | undefined {
  const top = el.getBoundingClientRect().top;
  for (const li of el.querySelectorAll<HTMLElement>("li[data-seq], li[data-key]")) {
    const r = li.getBoundingClientRect();
    if (r.bottom > top) return { key: rowKey(li), offset: r.top - top };
  }
  return undefined;
}

function rowKey(li: HTMLElement): string {
  return li.dataset.seq !== undefined ? `s${li.dataset.seq}` : `k${li.dataset.key}`;
}

function findRow(el: HTMLElement, key: string): HTMLElement | null {
  return key.startsWith("s")
    ? el.querySelector(`li[data-seq="${key.slice(1)}"]`)
    : el.querySelector(`li[data-key="${key.slice(1)}"]`);
}

/** The log of one conversation. */
export function MessageLog(props: { chat: ChatModel; conv: Conversation; visible: boolean }) {
  const t = useI18n();
  const { chat, conv } = props;
  const ref = useRef<HTMLDivElement>(null);
  // The window belongs to one conversation: another one opens following its newest line.
  const [win, setWin] = useState<{ key: string; state: WindowState }>({
    key: conv.key,
    state: FOLLOW,
  });
  const state = win.key === conv.key ? win.state : FOLLOW;
  const move = (next: WindowState) => setWin({ key: conv.key, state: next });
  const [atBottom, setAtBottom] = useState(true);
  const bottomRef = useRef(true);
  // Which way the reader last scrolled: the window only moves that way (a short window could
  // otherwise be near both edges and move back and forth).
  const dirRef = useRef<"up" | "down">("up");
  const lastTop = useRef(0);
  const today = localDate(new Date(useNow(true, 60_000)));
  const me = chat.me ?? "";
  const meKey = nameKey(me);
  const pattern = useMemo(() => mentionPattern(me), [me]);
  const pending = chat.state.pendingOf(conv.key);
  const range: Range = windowRange(conv.order, conv.bySeq, state);
  const atEnd = range.end >= conv.order.length;

  // Read before the DOM changes (render runs right before the commit): the layout effect puts
  // the reader's line back where it was when rows are added or dropped above it, and gives the
  // focus back to the log if the focused row left the window.
  const pre = useRef<{ anchor?: Anchor; focus: boolean }>({ focus: false });
  const prev = useRef<{ key?: string; pending: number }>({ pending: 0 });
  if (ref.current) {
    const el = ref.current;
    const active = document.activeElement;
    pre.current = {
      anchor: state.follow && bottomRef.current ? undefined : anchorOf(el),
      focus: active !== el && el.contains(active),
    };
  }

  // Moves the window, or asks for an older page, when the reader nears an edge.
  const edges = (el: HTMLElement) => {
    const fromTop = el.scrollTop;
    const fromBottom = el.scrollHeight - el.scrollTop - el.clientHeight;
    if (dirRef.current === "up" && fromTop < EDGE_PX) {
      const older = shiftOlder(conv.order, range);
      if (older) return move(older);
      if (conv.hasMore && conv.loaded && !conv.loading) void chat.loadOlder(conv.key);
    } else if (dirRef.current === "down" && fromBottom < EDGE_PX) {
      const newer = shiftNewer(conv.order, range);
      if (newer) return move(newer);
    }
    if (bottomRef.current && atEnd) {
      if (!state.follow) move(FOLLOW);
    } else if (!bottomRef.current && state.follow && conv.order.length > 0) {
      // Reading back: the rows in view stay rendered while new lines come in.
      move({ follow: false, topSeq: conv.order[range.start].seq });
    }
  };

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const p = prev.current;
    const sent = p.key === conv.key && pending.length > p.pending;
    if (p.key !== conv.key || sent) {
      // A conversation opens at its newest line; one's own new message is always shown.
      el.scrollTop = el.scrollHeight;
      bottomRef.current = true;
      dirRef.current = "up";
      setAtBottom(true);
      if (!state.follow) move(FOLLOW);
    } else if (state.follow && bottomRef.current) {
      el.scrollTop = el.scrollHeight;
    } else if (pre.current.anchor) {
      const { key, offset } = pre.current.anchor;
      const row = findRow(el, key);
      if (row) {
        const delta = row.getBoundingClientRect().top - el.getBoundingClientRect().top - offset;
        if (Math.abs(delta) >= 1) el.scrollTop += delta;
      }
    }
    lastTop.current = el.scrollTop;
    if (pre.current.focus && !el.contains(document.activeElement)) {
      el.focus({ preventScroll: true });
    }
    prev.current = { key: conv.key, pending: pending.length };
    // A page or a move may leave the reader near an edge still (or a short conversation may not
    // fill the log): go on without waiting for another scroll.
    if (!(state.follow && bottomRef.current) || range.start === 0) edges(el);
  });

  // Seen = visible, at the bottom, newest line rendered: clears the unread count, lets old
  // lines go.
  const seen = props.visible && atBottom && atEnd;
  useEffect(() => {
    chat.state.setViewing(seen);
    if (seen && state.follow) chat.state.trim(conv.key);
  }, [seen, state.follow, conv.key, conv.version]);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    const dy = el.scrollTop - lastTop.current;
    lastTop.current = el.scrollTop;
    if (dy < 0) dirRef.current = "up";
    else if (dy > 0) dirRef.current = "down";
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    bottomRef.current = bottom;
    if (bottom !== atBottom) setAtBottom(bottom);
    edges(el);
  };

  const toBottom = () => {
    const el = ref.current;
    if (!el) return;
    bottomRef.current = true;
    dirRef.current = "up";
    setAtBottom(true);
    move(FOLLOW);
    el.scrollTop = el.scrollHeight;
  };

  const onKeyDown = (e: KeyboardEvent) => {
    // End: the newest line at once, however far back the reader is (the window would otherwise
    // come down a step at a time).
    if (e.key === "End" && !e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey) {
      if (e.target !== ref.current) return;
      e.preventDefault();
      toBottom();
    }
  };

  // One flat keyed list: rows keep their DOM nodes when the window moves.
  const rows: VNode[] = [];
  let lastDay: string | undefined;
  for (let i = range.start; i < range.end; i++) {
    const m = conv.order[i];
    const day = dayOf(m.timestamp);
    if (day !== undefined && day !== lastDay) {
      rows.push(<DaySeparator key={`day-${day}`} day={day} today={today} t={t} />);
      lastDay = day;
    }
    if (m.seq === conv.markerSeq) {
      rows.push(
        <li key="marker" class="marker" data-key="marker">
          <span>{t.t("newMessagesLine")}</span>
        </li>,
      );
    }
    rows.push(
      <MessageRow key={m.seq} m={m} own={nameKey(m.from) === meKey} pattern={pattern} t={t} />,
    );
    if (m.seq === conv.gapAfterSeq) {
      rows.push(
        <li key="gap" class="gap" data-key="gap">
          <button type="button" class="link" onClick={() => chat.loadGap(conv.key)}>
            {t.t("gap")}
          </button>
        </li>,
      );
    }
  }
  if (atEnd) {
    for (const p of pending) {
      const day = dayOf(p.timestamp);
      if (day !== undefined && day !== lastDay) {
        rows.push(<DaySeparator key={`day-${day}`} day={day} today={today} t={t} />);
        lastDay = day;
      }
      rows.push(<PendingRow key={p.id} p={p} me={me} chat={chat} />);
    }
  }

  const busy = chat.busy || conv.loading;
  const oldest = range.start === 0;
  return (
    <div class="log-wrap">
      <div
        class="log"
        ref={ref}
        role="log"
        aria-labelledby="conv-title"
        aria-busy={busy ? "true" : "false"}
        // Reading back, rows that come into the window are old ones: not news to announce (new
        // lines are then announced by the page's status region, as for hidden conversations).
        aria-live={state.follow ? undefined : "off"}
        tabIndex={0}
        onScroll={onScroll}
        onKeyDown={onKeyDown}
      >
        {
          /* Older pages load by themselves as the reader scrolls up: no control up here that
          Tab could reach out of view and that would vanish once used (defect 8). */
        }
        <div class="log-top">
          {oldest && conv.loading
            ? <p class="hint">{conv.loaded ? t.t("loadingOlder") : t.t("loading")}</p>
            : oldest && !conv.hasMore && conv.loaded &&
              <p class="history-start">{t.t("historyStart")}</p>}
        </div>
        {conv.loaded && conv.order.length === 0 && pending.length === 0 && (
          <p class="hint">{t.t("emptyConv")}</p>
        )}
        <ol class="messages">
          {rows}
        </ol>
        <p id={NEW_TAB_NOTE} hidden>{t.t("newTab")}</p>
      </div>
      {!atBottom && (conv.unread > 0 || !atEnd) && (
        <button
          type="button"
          class={conv.unread > 0 ? "pill" : "pill quiet"}
          onClick={toBottom}
        >
          {conv.unread > 0 ? t.n("newPill", conv.unread) : t.t("jumpToLatest")}
        </button>
      )}
    </div>
  );
}
