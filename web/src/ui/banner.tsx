// The connection banner: reconnecting with its countdown and "Réessayer maintenant", or stopped
// with the reason (kick, ban with its end date) and a reconnect button (docs/web.md §3.2). It sits
// in a labelled region, so every part of the page is in a landmark.
import type { ChatModel } from "../core/chat_model.ts";
import { describeError } from "../core/describe_error.ts";
import { type I18n, parseTimestamp } from "../core/i18n.ts";
import { useI18n, useNow } from "./hooks.ts";

/**
 * A ban's end from its machine-readable `until` (docs/protocol.md §11.7), as a
 * date in words: "14 décembre 2026 à 10:30", "1er mars 2027 à 08:00", "December 14, 2026 at
 * 10:30 AM". The server's wall-clock time is shown as given.
 */
export function banEnd(t: I18n, until: string): string {
  const ms = parseTimestamp(until);
  if (Number.isNaN(ms)) return until;
  const text = new Intl.DateTimeFormat(t.lang, { dateStyle: "long", timeStyle: "short" })
    .format(new Date(ms));
  return t.lang === "fr" ? text.replace(/^1 /, "1er ") : text;
}

/** Shown above the chat while the connection is not up. */
export function Banner(props: { chat: ChatModel }) {
  const t = useI18n();
  const { chat } = props;
  const s = chat.status;
  const counting = s.state === "reconnecting" && s.retryAt !== undefined;
  const now = useNow(counting);
  if (s.state === "ready" || s.state === "syncing" || s.state === "idle") return null;
  if (s.state === "stopped") {
    const until = s.reason?.code === "forbidden" ? s.reason.until : undefined;
    const text = until !== undefined
      ? t.t("closedBannedUntilDate", { date: banEnd(t, until) })
      : s.reason
      ? describeError(t, s.reason, "close").text
      : t.t("state_stopped");
    return (
      <section class="banner stopped" aria-label={t.t("connectionRegion")}>
        <p>{text}</p>
        <div class="actions">
          <button type="button" class="primary" onClick={() => chat.link.retryNow()}>
            {t.t("reconnect")}
          </button>
        </div>
      </section>
    );
  }
  let text: string;
  if (s.state !== "reconnecting") text = t.t("lostRetrying");
  else if (s.waitingForNetwork) text = t.t("offlineWait");
  else {
    // retryAt is on the page's clock (Date.now).
    const left = Math.max(0, Math.ceil(((s.retryAt ?? now) - now) / 1000));
    const code = s.reason?.code;
    text = left === 0
      ? t.t(code === "shutting_down" ? "restarting" : "lostRetrying")
      : code === "shutting_down"
      ? t.t("restartingIn", { s: left })
      : code === "server_busy" || code === "rate_limited"
      ? t.t("busyRetryIn", { s: left })
      : t.t("lostRetryIn", { s: left });
  }
  return (
    <section class="banner lost" aria-label={t.t("connectionRegion")}>
      <p>{text}</p>
      {s.state === "reconnecting" && (
        <div class="actions">
          <button type="button" class="primary" onClick={() => chat.link.retryNow()}>
            {t.t("retryNow")}
          </button>
        </div>
      )}
    </section>
  );
}
