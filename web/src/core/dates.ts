// The dates of the message log: which day a server timestamp falls on, the day separators'
// labels ("Aujourd'hui", "Hier", "lundi 30 novembre 2026") and the full date and time of a
// message, in the page's language through Intl.DateTimeFormat (docs/protocol.md §3.6: timestamps
// are the server's local wall-clock time, without an offset, and are shown as given).
import type { Lang } from "./i18n.ts";

const DAY = /^(\d{4})-(\d{2})-(\d{2})/;
const STAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/;

/** "YYYY-MM-DD" of a server timestamp, or undefined when it cannot be read. */
export function dayOf(timestamp: string): string | undefined {
  return DAY.exec(timestamp)?.[0];
}

/** The day before a "YYYY-MM-DD" day, as "YYYY-MM-DD" (calendar arithmetic, no time zone). */
export function dayBefore(day: string): string {
  const m = DAY.exec(day);
  if (!m) return day;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) - 1));
  return d.toISOString().slice(0, 10);
}

// One formatter per language and style: building them is the slow part of Intl.
const cache = new Map<string, Intl.DateTimeFormat>();
function format(lang: Lang, style: "day" | "full"): Intl.DateTimeFormat {
  const key = `${lang}:${style}`;
  let f = cache.get(key);
  if (!f) {
    // Formatted in UTC from UTC fields: the server's wall-clock time is shown as it is written,
    // whatever the page's time zone.
    f = new Intl.DateTimeFormat(
      lang,
      style === "day"
        ? { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }
        : { dateStyle: "full", timeStyle: "medium", timeZone: "UTC" },
    );
    cache.set(key, f);
  }
  return f;
}

/** The words a day separator uses for the two nearest days. */
export interface DayWords {
  today: string;
  yesterday: string;
}

/**
 * The label of a day separator: `words.today` or `words.yesterday` for `today` and the day
 * before it (both "YYYY-MM-DD", the page's own date), else the long date ("lundi 30 novembre
 * 2026", "Monday, November 30, 2026").
 */
export function dayLabel(day: string, today: string, lang: Lang, words: DayWords): string {
  if (day === today) return words.today;
  if (day === dayBefore(today)) return words.yesterday;
  const m = DAY.exec(day);
  if (!m) return day;
  return format(lang, "day").format(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
}

/**
 * The full date and time of a server timestamp ("lundi 30 novembre 2026 à 14:05:09"), or the
 * timestamp itself when it cannot be read.
 */
export function fullDateTime(timestamp: string, lang: Lang): string {
  const m = STAMP.exec(timestamp);
  if (!m) return timestamp;
  const [, y, mo, d, h, mi, s = "0"] = m;
  return format(lang, "full").format(
    Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)),
  );
}
