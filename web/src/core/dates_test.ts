import assert from "node:assert/strict";
import { dayBefore, dayLabel, dayOf, fullDateTime } from "./dates.ts";

const FR = { today: "Aujourd'hui", yesterday: "Hier" };
const EN = { today: "Today", yesterday: "Yesterday" };

Deno.test("dayOf() reads the day of a server timestamp, and nothing from an unreadable one", () => {
  assert.equal(dayOf("2026-11-30T14:05:09.123"), "2026-11-30");
  assert.equal(dayOf("2026-11-30 14:05:09"), "2026-11-30");
  assert.equal(dayOf("hier"), undefined);
});

Deno.test("dayBefore() goes back across months, years and leap days", () => {
  assert.equal(dayBefore("2026-12-07"), "2026-12-06");
  assert.equal(dayBefore("2026-12-01"), "2026-11-30");
  assert.equal(dayBefore("2027-01-01"), "2026-12-31");
  assert.equal(dayBefore("2028-03-01"), "2028-02-29");
});

Deno.test("dayLabel() says today, yesterday, then the long date, in French and English", () => {
  const today = "2026-12-07";
  assert.equal(dayLabel("2026-12-07", today, "fr", FR), "Aujourd'hui");
  assert.equal(dayLabel("2026-12-06", today, "fr", FR), "Hier");
  assert.equal(dayLabel("2026-11-30", today, "fr", FR), "lundi 30 novembre 2026");
  assert.equal(dayLabel("2026-12-06", today, "en", EN), "Yesterday");
  assert.equal(dayLabel("2026-11-30", today, "en", EN), "Monday, November 30, 2026");
  // A message from the future (a server clock ahead) gets its date, not "today".
  assert.equal(dayLabel("2026-12-08", today, "fr", FR), "mardi 8 décembre 2026");
});

Deno.test("fullDateTime() gives the server's wall-clock time as written, with the date", () => {
  assert.equal(fullDateTime("2026-11-30T14:05:09.123", "fr"), "lundi 30 novembre 2026 à 14:05:09");
  assert.equal(
    fullDateTime("2026-11-30T14:05:09.123", "en"),
    "Monday, November 30, 2026 at 2:05:09 PM",
  );
  assert.equal(fullDateTime("n'importe quoi", "fr"), "n'importe quoi");
});
