// Texts in the page's language: lookup, plurals (Intl.PluralRules), French typography, and the
// server's wall-clock times shown as given (docs/web.md §8).
import type {
  Catalog,
  CatalogOf,
  PluralKey,
  PluralKeyOf,
  TextKey,
  TextKeyOf,
} from "../i18n/catalog.ts";
import { en } from "../i18n/en.ts";
import { fr } from "../i18n/fr.ts";

/** Languages of the page; French first, the default. */
export const LANGS = ["fr", "en"] as const;
/** A language of the page. */
export type Lang = typeof LANGS[number];

/** Values put into `{name}` placeholders (always as text, never as markup). */
export type Params = Readonly<Record<string, string | number>>;

/**
 * French typography: a narrow no-break space (U+202F) before `: ; ! ?` and inside « ».
 * Applied to catalogue texts before any value is put in, so user text is never touched.
 */
export function frenchTypography(text: string): string {
  return text.replace(/ ([:;!?»])/g, "\u202f$1").replace(/« /g, "«\u202f");
}

function typeset<S extends Record<string, unknown>>(source: S): CatalogOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    out[key] = typeof value === "string" ? frenchTypography(value) : Object.fromEntries(
      Object.entries(value as Record<string, string>).map(([k, v]) => [k, frenchTypography(v)]),
    );
  }
  return out as CatalogOf<S>;
}

/** Every catalogue, French typeset. */
export const CATALOGS: Readonly<Record<Lang, Catalog>> = { fr: typeset(fr), en };

/**
 * The page's language: the saved choice, else the first of the browser's languages we have,
 * else French.
 */
export function chooseLang(saved: string | null, languages: readonly string[]): Lang {
  const known = (tag: string | null): Lang | undefined => {
    const base = tag?.toLowerCase().split("-")[0];
    return LANGS.find((l) => l === base);
  };
  return known(saved) ?? languages.map(known).find((l) => l !== undefined) ?? "fr";
}

// Server timestamps: "2026-03-02T14:05:09.123", local wall-clock, no offset.
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/;

/** Texts of one language. */
export class I18n {
  readonly lang: Lang;
  readonly collator: Intl.Collator;
  readonly #cat: Catalog;
  readonly #plural: Intl.PluralRules;
  readonly #number: Intl.NumberFormat;

  constructor(lang: Lang) {
    this.lang = lang;
    this.#cat = CATALOGS[lang];
    this.#plural = new Intl.PluralRules(lang);
    this.#number = new Intl.NumberFormat(lang);
    this.collator = new Intl.Collator(lang, { sensitivity: "base", numeric: true });
  }

  /** A plain text, placeholders filled. */
  t(key: TextKey, params: Params = {}): string {
    return this.fill(this.#cat[key], params);
  }

  /** A plural text for `count` (`{n}` is the count); French puts 0 with 1. */
  n(key: PluralKey, count: number, params: Params = {}): string {
    return this.plural(this.#cat[key], count, params);
  }

  /** The form of `forms` for `count`, filled (`{n}` is the count). */
  plural(forms: { one: string; other: string }, count: number, params: Params = {}): string {
    const form = this.#plural.select(count) === "one" ? forms.one : forms.other;
    return this.fill(form, { n: count, ...params });
  }

  /** A number in the language's notation. */
  num(value: number): string {
    return this.#number.format(value);
  }

  /** "14:05" from a server timestamp, shown as given (minutes only). */
  time(timestamp: string): string {
    const m = TIMESTAMP.exec(timestamp);
    return m ? `${m[4]}:${m[5]}` : timestamp;
  }

  /**
   * An end time ("10 h 50" in French, "10:50" in English), with the day when it is not
   * `today` (a "YYYY-MM-DD" string, the page's local date by default).
   */
  until(timestamp: string, today: string = localDate(new Date())): string {
    const m = TIMESTAMP.exec(timestamp);
    if (!m) return timestamp;
    const [, y, mo, d, h, mi] = m;
    const clock = this.lang === "fr" ? `${Number(h)} h ${mi}` : `${h}:${mi}`;
    if (`${y}-${mo}-${d}` === today) return clock;
    return this.lang === "fr" ? `${d}/${mo} à ${clock}` : `${y}-${mo}-${d} ${clock}`;
  }

  /** Whether the catalogue has a plain text under `key`. */
  has(key: string): key is TextKey {
    return typeof (this.#cat as Record<string, unknown>)[key] === "string";
  }

  /** A time left: "45 s", "4 min 59 s", "2 h 05 min", "3 j 4 h". */
  duration(ms: number): string {
    const s = Math.max(0, Math.ceil(ms / 1000)) || 0; // NaN (an unreadable time): 0
    if (s < 60) return `${s} s`;
    if (s < 3600) {
      const rest = s % 60;
      return rest ? `${Math.floor(s / 60)} min ${rest} s` : `${s / 60} min`;
    }
    if (s < 86400) {
      const m = Math.floor((s % 3600) / 60);
      return `${Math.floor(s / 3600)} h${m ? ` ${String(m).padStart(2, "0")} min` : ""}`;
    }
    const h = Math.floor((s % 86400) / 3600);
    const d = `${Math.floor(s / 86400)} ${this.#cat.dayShort}`;
    return h ? `${d} ${h} h` : d;
  }

  /** `text` with its `{name}` placeholders filled: numbers in the language's notation. */
  fill(text: string, params: Params): string {
    return text.replace(
      /\{(\w+)\}/g,
      (whole, name: string) => {
        const value = params[name];
        if (value === undefined) return whole;
        return typeof value === "number" ? this.num(value) : value;
      },
    );
  }
}

/**
 * The texts of a part of the page loaded apart from the first visit (docs/web.md §10), from its own
 * catalogues (French the source, typeset like the page's), in the page's language.
 */
export class TextPart<S extends Record<string, unknown>> {
  readonly i18n: I18n;
  readonly #cat: CatalogOf<S>;

  constructor(i18n: I18n, catalogs: { fr: S; en: CatalogOf<S> }) {
    this.i18n = i18n;
    this.#cat = i18n.lang === "fr" ? typesetOnce(catalogs.fr) : catalogs.en;
  }

  /** A plain text, placeholders filled. */
  t(key: TextKeyOf<S>, params: Params = {}): string {
    return this.i18n.fill(this.#cat[key] as string, params);
  }

  /** A plural text for `count`. */
  n(key: PluralKeyOf<S>, count: number, params: Params = {}): string {
    return this.i18n.plural(this.#cat[key] as { one: string; other: string }, count, params);
  }

  /** Whether the part has a plain text under `key`. */
  has(key: string): key is TextKeyOf<S> {
    return typeof (this.#cat as Record<string, unknown>)[key] === "string";
  }
}

const typesetCache = new WeakMap<object, unknown>();

function typesetOnce<S extends Record<string, unknown>>(source: S): CatalogOf<S> {
  let done = typesetCache.get(source) as CatalogOf<S> | undefined;
  if (!done) typesetCache.set(source, done = typeset(source));
  return done;
}

/** "YYYY-MM-DD" of a date, in the page's time zone. */
export function localDate(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The server-style timestamp of a local date: "2026-03-02T14:05:09.123". */
export function localTimestamp(date: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${localDate(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}:${
    pad(date.getSeconds())
  }.${pad(date.getMilliseconds(), 3)}`;
}

/** Milliseconds since the epoch of a server timestamp read as local time, or NaN. */
export function parseTimestamp(timestamp: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?/.exec(timestamp);
  if (!m) return NaN;
  const [, y, mo, d, h, mi, s, ms = "0"] = m;
  return new Date(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s),
    Number(ms.padEnd(3, "0")),
  ).getTime();
}
