// The connection banner: reconnecting with its countdown and "Réessayer maintenant", or stopped
// with the reason (kick, ban) and a reconnect button (WEB.md §3).
import type { Client } from "../core/client.ts";
import { describeError } from "../core/describe_error.ts";
import { useI18n, useNow } from "./hooks.ts";

/** Shown above the chat while the connection is not up. */
export function Banner(props: { client: Client }) {
  const t = useI18n();
  const { client } = props;
  const s = client.status;
  const counting = s.state === "reconnecting" && s.retryAt !== undefined;
  const now = useNow(counting);
  if (s.state === "ready" || s.state === "syncing" || s.state === "idle") return null;
  if (s.state === "stopped") {
    const text = s.reason ? describeError(t, s.reason, "close").text : t.t("state_stopped");
    return (
      <div class="banner stopped">
        <p>{text}</p>
        <div class="actions">
          <button type="button" class="primary" onClick={() => client.conn.retryNow()}>
            {t.t("reconnect")}
          </button>
        </div>
      </div>
    );
  }
  let text: string;
  if (s.state !== "reconnecting") text = t.t("lostRetrying");
  else if (s.waitingForNetwork) text = t.t("offlineWait");
  else {
    // retryAt is on the client's clock (Date.now in the page).
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
    <div class="banner lost">
      <p>{text}</p>
      {s.state === "reconnecting" && (
        <div class="actions">
          <button type="button" class="primary" onClick={() => client.conn.retryNow()}>
            {t.t("retryNow")}
          </button>
        </div>
      )}
    </div>
  );
}
