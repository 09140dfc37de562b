// The messages of the open conversation (role="log"): paging back keeps the position, new lines
// never yank the scroll, a "nouveaux messages" line and a "↓ N nouveaux" pill (WEB.md §1, §5).
import { Component, type VNode } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Client } from "../core/client.ts";
import { describeError } from "../core/describe_error.ts";
import type { I18n } from "../core/i18n.ts";
import type { ChatMessage, Conversation, PendingSend } from "../core/store.ts";
import { nameKey } from "../core/wire.ts";
import { useI18n } from "./hooks.ts";

interface RowProps {
  m: ChatMessage;
  own: boolean;
  t: I18n;
}

/** One stored message; re-renders only when the message object or language changes. */
class MessageRow extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    return next.m !== this.props.m || next.t !== this.props.t || next.own !== this.props.own;
  }

  override render() {
    const { m, own, t } = this.props;
    let cls = "msg";
    if (own) cls += " own";
    if (m.announce) cls += " announce";
    return (
      <li class={cls} data-seq={m.seq}>
        <span class="from">
          <bdi>{m.from}</bdi>
          <span class="sr-only">,</span>
        </span>
        {m.announce && <strong class="tag announce-tag">{t.t("announceTag")}</strong>}
        {m.offline && <em class="tag offline-tag">{t.t("offlineTag")}</em>}
        <bdi class="text">
          {m.content}
        </bdi>
        <time dateTime={m.timestamp}>{t.time(m.timestamp)}</time>
      </li>
    );
  }
}

function PendingRow(props: { p: PendingSend; me: string; client: Client }) {
  const t = useI18n();
  const { p, client } = props;
  const failed = p.state === "failed";
  return (
    <li
      class={`msg own ${failed ? "failed" : "pending"}`}
      data-pending={failed ? undefined : "true"}
      data-failed={failed ? "true" : undefined}
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
              <button type="button" class="link" onClick={() => client.resend(p.id)}>
                {t.t("resend")}
              </button>
            </>
          )
          : t.t("sending")}
      </span>
    </li>
  );
}

const NEAR_BOTTOM_PX = 32;
const NEAR_TOP_PX = 120;

/** The log of one conversation. */
export function MessageLog(props: { client: Client; conv: Conversation; visible: boolean }) {
  const t = useI18n();
  const { client, conv } = props;
  const ref = useRef<HTMLDivElement>(null);
  const [atBottom, setAtBottom] = useState(true);
  const bottomRef = useRef(true);
  const me = client.me ?? "";
  const meKey = nameKey(me);
  const pending = client.store.pendingOf(conv.key);
  const first = conv.order[0]?.seq;

  // Read before the DOM changes (render runs right before the commit): the layout effect puts
  // the reader back where they were when older messages are added on top.
  const pre = useRef({ height: 0, top: 0 });
  const prev = useRef<{ first?: number; key?: string }>({});
  if (ref.current) pre.current = { height: ref.current.scrollHeight, top: ref.current.scrollTop };

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const p = prev.current;
    if (p.key !== conv.key) {
      el.scrollTop = el.scrollHeight; // a conversation opens at its newest line
      bottomRef.current = true;
      setAtBottom(true);
    } else if (bottomRef.current) {
      el.scrollTop = el.scrollHeight;
    } else if (p.first !== undefined && p.first !== first) {
      el.scrollTop = pre.current.top + (el.scrollHeight - pre.current.height);
    }
    prev.current = { first, key: conv.key };
  });

  // Seen = visible and at the bottom: clears the unread count, lets old lines go.
  useEffect(() => {
    client.store.setViewing(props.visible && atBottom);
    if (props.visible && atBottom) client.store.trim(conv.key);
  }, [props.visible, atBottom, conv.key, conv.version]);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    bottomRef.current = bottom;
    if (bottom !== atBottom) setAtBottom(bottom);
    if (el.scrollTop < NEAR_TOP_PX && conv.hasMore && conv.loaded && !conv.loading) {
      void client.loadOlder(conv.key);
    }
  };

  const toBottom = () => {
    const el = ref.current;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    bottomRef.current = true;
    setAtBottom(true);
  };

  // One flat keyed list: rows keep their DOM nodes when older pages come in on top.
  const rows: VNode[] = [];
  for (const m of conv.order) {
    if (m.seq === conv.markerSeq) {
      rows.push(
        <li key="marker" class="marker" role="separator">
          <span>{t.t("newMessagesLine")}</span>
        </li>,
      );
    }
    rows.push(<MessageRow key={m.seq} m={m} own={nameKey(m.from) === meKey} t={t} />);
    if (m.seq === conv.gapAfterSeq) {
      rows.push(
        <li key="gap" class="gap">
          <button type="button" class="link" onClick={() => client.loadGap(conv.key)}>
            {t.t("gap")}
          </button>
        </li>,
      );
    }
  }

  const busy = client.busy || conv.loading;
  return (
    <div class="log-wrap">
      <div
        class="log"
        ref={ref}
        role="log"
        aria-labelledby="conv-title"
        aria-busy={busy ? "true" : "false"}
        tabIndex={0}
        onScroll={onScroll}
      >
        <div class="log-top">
          {conv.loading
            ? <p class="hint">{t.t("loading")}</p>
            : conv.hasMore
            ? (
              <button type="button" class="link" onClick={() => client.loadOlder(conv.key)}>
                {t.t("loadOlder")}
              </button>
            )
            : conv.loaded && <p class="history-start">{t.t("historyStart")}</p>}
        </div>
        {conv.loaded && conv.order.length === 0 && pending.length === 0 && (
          <p class="hint">{t.t("emptyConv")}</p>
        )}
        <ol class="messages">
          {rows}
          {pending.map((p) => <PendingRow key={p.id} p={p} me={me} client={client} />)}
        </ol>
      </div>
      {!atBottom && conv.unread > 0 && (
        <button type="button" class="pill" onClick={toBottom}>
          {t.n("newPill", conv.unread)}
        </button>
      )}
    </div>
  );
}
