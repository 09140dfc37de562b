// Server errors in the page's language, chosen by `code` (the server may run in English), with
// the server's own text kept as a detail when the translation says less (docs/web.md §8).
import type { I18n } from "./i18n.ts";
import type { ErrorInfo } from "./wire.ts";

/** Where an error came from: the same code says different things. */
export type ErrorContext = "login" | "resume" | "send" | "close" | "leave" | "admin" | "other";

/** A translated error: `text` always, `detail` (the server's words) when it adds something. */
export interface Described {
  text: string;
  detail?: string;
}

// Codes whose translation says all the server's text says: no detail shown.
const EXACT = ["too_large", "user_exists", "name_taken", "shutting_down", "network", "closed"];

/** Translates an error line (or a local failure) for the user. */
export function describeError(
  i18n: I18n,
  error: ErrorInfo,
  context: ErrorContext = "other",
): Described {
  const detail = (text: string): Described =>
    error.message && error.message !== text ? { text, detail: error.message } : { text };
  const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 0) / 1000));
  switch (error.code) {
    case "forbidden":
      if (error.until !== undefined) {
        const time = i18n.until(error.until);
        return { text: i18n.t(context === "close" ? "bannedUntil" : "err_banned", { time }) };
      }
      if (error.retryAfterMs !== undefined) {
        return { text: i18n.t("err_muted", { time: i18n.duration(error.retryAfterMs) }) };
      }
      if (context === "close") return { text: i18n.t("kicked") };
      if (context === "leave") return { text: i18n.t("err_leave_default") };
      if (context === "admin") return detail(i18n.t("err_forbidden_admin"));
      return detail(i18n.t("err_forbidden"));
    case "rate_limited":
      return {
        text: error.retryAfterMs === undefined
          ? i18n.t("err_rate_limited_close")
          : i18n.t("err_rate_limited", { s: seconds }),
      };
    case "server_busy":
      return { text: i18n.t(context === "send" ? "err_not_stored" : "err_server_busy") };
    case "session_expired":
      return { text: i18n.t("sessionExpired") };
    case "auth_failed":
      return { text: i18n.t(context === "resume" ? "sessionExpired" : "err_auth_failed") };
  }
  const key = `err_${error.code}`;
  const text = i18n.has(key) ? i18n.t(key) : i18n.t("err_unknown");
  return EXACT.includes(error.code) ? { text } : detail(text);
}
