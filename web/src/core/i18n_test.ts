import assert from "node:assert/strict";
import { en } from "../i18n/en.ts";
import { fr } from "../i18n/fr.ts";
import { CATALOGS, chooseLang, frenchTypography, I18n } from "./i18n.ts";

Deno.test("Catalogues: English has exactly the French keys, plurals with both forms", () => {
  assert.deepEqual(Object.keys(en).sort(), Object.keys(fr).sort());
  for (const [key, value] of Object.entries(fr)) {
    const other = (en as Record<string, unknown>)[key];
    assert.equal(typeof other, typeof value, key);
    if (typeof value === "object") assert.deepEqual(Object.keys(other as object), ["one", "other"]);
    const placeholders = (v: unknown) =>
      JSON.stringify(v).match(/\{\w+\}/g)?.sort().filter((p, i, a) => a.indexOf(p) === i) ?? [];
    assert.deepEqual(placeholders(other), placeholders(value), `placeholders of ${key}`);
  }
});

Deno.test("French texts put a narrow no-break space before : ; ! ?", () => {
  assert.equal(
    frenchTypography("Erreur : oui ; non ! Vraiment ?"),
    "Erreur\u202f: oui\u202f; non\u202f! Vraiment\u202f?",
  );
  for (const [key, value] of Object.entries(CATALOGS.fr)) {
    for (const text of typeof value === "string" ? [value] : Object.values(value)) {
      assert.doesNotMatch(text, /[^\u202f][:;!?](\s|$)/, `${key}: ${text}`);
    }
  }
  assert.equal(
    new I18n("fr").t("err_rate_limited", { s: 3 }),
    "Trop de demandes\u202f: réessayez dans 3 s",
  );
});

Deno.test("Values put into texts are left alone (no typography on user text)", () => {
  const t = new I18n("fr");
  assert.equal(t.t("writeTo", { name: "a ! b" }), "Écrire à a ! b");
  assert.equal(t.t("writeTo", { name: "{n}" }), "Écrire à {n}");
});

Deno.test("Plurals follow Intl.PluralRules: French puts 0 with 1", () => {
  const f = new I18n("fr");
  assert.equal(f.n("badgeUnread", 0), "0 non lu");
  assert.equal(f.n("badgeUnread", 1), "1 non lu");
  assert.equal(f.n("badgeUnread", 2), "2 non lus");
  const e = new I18n("en");
  assert.equal(e.n("peopleCount", 0), "0 people");
  assert.equal(e.n("peopleCount", 1), "1 person");
  assert.equal(f.n("newIn", 3, { conv: "#sisr" }), "3 nouveaux messages dans #sisr");
});

Deno.test("chooseLang(): saved choice, then the browser's languages, then French", () => {
  assert.equal(chooseLang("en", ["fr-FR"]), "en");
  assert.equal(chooseLang(null, ["de-DE", "en-US", "fr"]), "en");
  assert.equal(chooseLang("xx", ["es"]), "fr");
  assert.equal(chooseLang(null, []), "fr");
});

Deno.test("I18n shows server times as given, and durations", () => {
  const f = new I18n("fr");
  const e = new I18n("en");
  assert.equal(f.time("2026-03-02T14:05:09.123"), "14:05");
  assert.equal(f.until("2026-11-25T10:50:12.531", "2026-11-25"), "10 h 50");
  assert.equal(e.until("2026-11-25T10:50:12.531", "2026-11-25"), "10:50");
  assert.equal(f.until("2026-11-26T08:05:00.000", "2026-11-25"), "26/11 à 8 h 05");
  assert.equal(e.until("2026-11-26T08:05:00.000", "2026-11-25"), "2026-11-26 08:05");
  assert.equal(f.duration(45_000), "45 s");
  assert.equal(f.duration(299_000), "4 min 59 s");
  assert.equal(f.duration(300_000), "5 min");
  assert.equal(f.duration(7_500_000), "2 h 05 min");
  assert.equal(f.duration(3 * 86_400_000 + 4 * 3_600_000), "3 j 4 h");
  assert.equal(e.duration(86_400_000), "1 d");
});
