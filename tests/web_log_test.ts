// The web app's message log in a real browser (Debian's chromium through playwright-core), with a
// TCP client posting: a bounded window over a 10,000-message history read from end to start (its
// DOM nodes, the live-message delay and the JS heap printed), focus leaving the log, day
// separators and full dates, links, mentions, and axe in both languages and colour schemes.
// Screenshots: artifacts/web/log-*.png.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { Clock } from "../src/clock.ts";
import { axeViolations, describeViolations } from "./helpers/axe.ts";
import { launchBrowser, screenshot } from "./helpers/browser.ts";
import {
  FLOOD_LIMITS,
  startTestServer,
  type TestClient,
  type TestServer,
} from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";
import { post, signIn } from "./helpers/web_page.ts";

// The functions given to page.evaluate run in the page, with the browser's globals; this module
// is checked without the DOM types (they clash with Deno's own in the rest of the suite).
// deno-lint-ignore no-explicit-any
declare const document: any, NodeFilter: any, MutationObserver: any, getComputedStyle: any;
declare const requestAnimationFrame: (fn: (t: number) => void) => number;
declare const innerHeight: number;

/** Posts `count` messages in #général from a logged-in TCP client, waiting for every ack. */
async function postMany(c: TestClient, count: number, text: (i: number) => string) {
  const batch = 500;
  for (let from = 0; from < count; from += batch) {
    const n = Math.min(batch, count - from);
    const lines = Array.from(
      { length: n },
      (_, k) => JSON.stringify({ type: "message", content: text(from + k), id: from + k }) + "\n",
    );
    await c.write(lines.join(""));
    for (let k = 0; k < n; k++) {
      const reply = await c.json(30_000);
      assert.equal(reply.type, "ack", JSON.stringify(reply));
    }
  }
}

/** Every DOM node (elements, text, comments) under the message log. */
function logNodes(page: Page): Promise<number> {
  return page.evaluate(() => {
    const log = document.querySelector(".log");
    if (!log) return 0;
    const walker = document.createTreeWalker(log, NodeFilter.SHOW_ALL);
    let n = 0;
    while (walker.nextNode()) n++;
    return n + 1;
  });
}

/** The log's state after two animation frames: what the reader sees. */
interface Step {
  /** How far the line in view moved while the window changed (px). */
  drift: number;
  nodes: number;
  firstSeq: number;
  lastSeq: number;
  atStart: boolean;
}

/**
 * Scrolls the log to one end of its rendered rows, then waits (10 s at most) for the window to
 * move (its first or last row changes) or the start of the history to show; measures how far the
 * line then in view moved.
 */
function scrollStep(page: Page, to: "top" | "bottom"): Promise<Step> {
  return page.evaluate(async (to) => {
    const log = document.querySelector(".log")!;
    const frame = () => new Promise((r) => requestAnimationFrame(() => r(undefined)));
    const rows = () => log.querySelectorAll("li[data-seq]");
    const ends = () => {
      const r = rows();
      return `${r[0]?.dataset.seq}-${r[r.length - 1]?.dataset.seq}`;
    };
    const before = ends();
    log.scrollTop = to === "top" ? 0 : log.scrollHeight;
    await frame();
    const top = log.getBoundingClientRect().top;
    const inView = [...rows()].find((li) => li.getBoundingClientRect().bottom > top)!;
    const seq = inView.dataset.seq;
    const offset = inView.getBoundingClientRect().top - top;
    const deadline = performance.now() + 10_000;
    while (
      ends() === before && !log.querySelector(".history-start") && performance.now() < deadline
    ) {
      await frame();
    }
    await frame();
    await frame();
    const again = log.querySelector(`li[data-seq="${seq}"]`);
    const walker = document.createTreeWalker(log, NodeFilter.SHOW_ALL);
    let nodes = 1;
    while (walker.nextNode()) nodes++;
    const r = rows();
    return {
      drift: again ? Math.abs(again.getBoundingClientRect().top - top - offset) : Infinity,
      nodes,
      firstSeq: Number(r[0].dataset.seq),
      lastSeq: Number(r[r.length - 1].dataset.seq),
      atStart: log.querySelector(".history-start") !== null,
    };
  }, to);
}

/** Resolves (in the page) with the wall-clock time of the frame after `selector` shows `text`. */
function whenShown(page: Page, selector: string, text: string): Promise<void> {
  return page.evaluate(([selector, text]) => {
    const found = () =>
      [...document.querySelectorAll(selector)].some((e) => e.textContent?.includes(text));
    // deno-lint-ignore no-explicit-any
    (globalThis as any).__shownAt = new Promise<number>((resolve) => {
      const done = () =>
        requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now()));
      if (found()) return done();
      const observer = new MutationObserver(() => {
        if (!found()) return;
        observer.disconnect();
        done();
      });
      observer.observe(document.body, { childList: true, subtree: true, characterData: true });
    });
  }, [selector, text]);
}

/** Milliseconds from `sentAt` (Date.now() in the test) to the frame that showed it. */
async function latency(page: Page, sentAt: number): Promise<number> {
  // deno-lint-ignore no-explicit-any
  const shownAt = await page.evaluate(() => (globalThis as any).__shownAt as Promise<number>);
  return Math.round((shownAt - sentAt) * 10) / 10;
}

/** "min / median / max" of some samples. */
function spread(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  return `${s[0]} / ${s[Math.floor(s.length / 2)]} / ${s[s.length - 1]}`;
}

/** The page's JS heap in MB (DevTools protocol), before and after a garbage collection. */
async function heapMB(page: Page): Promise<{ used: number; afterGc: number }> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const mb = (n: number) => Math.round(n / 1e4) / 100;
    const { usedSize } = await cdp.send("Runtime.getHeapUsage");
    await cdp.send("HeapProfiler.collectGarbage");
    const after = await cdp.send("Runtime.getHeapUsage");
    return { used: mb(usedSize), afterGc: mb(after.usedSize) };
  } finally {
    await cdp.detach();
  }
}

Deno.test(
  "the message log renders a bounded window of a 10,000-message history read from end to start, the line in view staying put",
  needs("chromium"),
  async () => {
    const COUNT = 10_000;
    await using srv = await startTestServer({ web: true, limits: FLOOD_LIMITS });
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    await postMany(
      bob,
      COUNT,
      (i) => `message ${i + 1}${i % 7 === 0 ? " (un peu plus long)" : ""}`,
    );
    await using browser = await launchBrowser();
    const { page, problems } = await signIn(browser, srv, "alice", { width: 1280 });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByText(`message ${COUNT}`, { exact: true }).waitFor();
    const opened = await logNodes(page);

    // From the end to the start: the window moves up, older pages come in by themselves.
    const started = Date.now();
    let maxNodes = opened;
    let maxDrift = 0;
    let steps = 0;
    let step: Step;
    do {
      step = await scrollStep(page, "top");
      steps++;
      maxNodes = Math.max(maxNodes, step.nodes);
      maxDrift = Math.max(maxDrift, step.drift);
      assert.ok(steps < 2000, "the start of the history is reached");
    } while (!step.atStart);
    const upMs = Date.now() - started;
    assert.ok(maxNodes <= 3000, `${maxNodes} DOM nodes in the log, read from end to start`);
    assert.equal(step.firstSeq, 1, "the first message is shown at the start of the history");
    const seqFirst = step.firstSeq;
    await page.locator(".history-start").waitFor();
    await page.evaluate(() => document.querySelector(".log")!.scrollTop = 0);
    await screenshot(page, "log-10k-start-1280-fr");
    const heapTop = await heapMB(page);

    // Back down a few steps: rows leave the window at the top, the line in view stays.
    for (let i = 0; i < 5; i++) {
      const down = await scrollStep(page, "bottom");
      maxNodes = Math.max(maxNodes, down.nodes);
      maxDrift = Math.max(maxDrift, down.drift);
      assert.ok(down.firstSeq > seqFirst, "the window moved down");
    }
    await screenshot(page, "log-10k-far-up-1280-fr");
    await page.setViewportSize({ width: 360, height: 740 });
    await screenshot(page, "log-10k-far-up-360-fr");
    await page.setViewportSize({ width: 1280, height: 800 });
    // Reading back, the log is not a live region for the rows coming in; axe still finds it right.
    assert.equal(await page.locator(".log").getAttribute("aria-live"), "off");
    const found = await axeViolations(page, ".log-wrap");
    assert.deepEqual(found, [], describeViolations(found));

    // A live message while reading far back: the view does not move, the pill tells of it.
    const anchor = await page.evaluate(() => {
      const log = document.querySelector(".log")!;
      const top = log.getBoundingClientRect().top;
      const li = [...log.querySelectorAll("li[data-seq]")].find((l) =>
        l.getBoundingClientRect().bottom > top
      )!;
      return { seq: li.dataset.seq!, offset: li.getBoundingClientRect().top - top };
    });
    // Five live messages each way: min / median / max (2 shared cores: one sample can be noise).
    const LIVE = 5;
    const pillMs: number[] = [];
    for (let k = 1; k <= LIVE; k++) {
      await whenShown(page, ".pill", `${k} nouveau`);
      const sentAt = Date.now();
      await bob.send({
        type: "message",
        content: `en direct pendant la lecture ${k}`,
        id: `up${k}`,
      });
      pillMs.push(await latency(page, sentAt));
    }
    const moved = await page.evaluate(({ seq, offset }) => {
      const log = document.querySelector(".log")!;
      const li = log.querySelector(`li[data-seq="${seq}"]`)!;
      return li.getBoundingClientRect().top - log.getBoundingClientRect().top - offset;
    }, anchor);
    assert.ok(Math.abs(moved) <= 1, `the line in view moved ${moved} px`);

    // The pill brings the newest lines; the log then sticks to the bottom for the next ones.
    await page.locator(".pill").click();
    await page.getByText(`en direct pendant la lecture ${LIVE}`, { exact: true }).waitFor();
    const rowMs: number[] = [];
    for (let k = 1; k <= LIVE; k++) {
      await whenShown(page, "li[data-seq] .text", `en direct en bas ${k}`);
      const sentAt = Date.now();
      await bob.send({ type: "message", content: `en direct en bas ${k}`, id: `down${k}` });
      rowMs.push(await latency(page, sentAt));
    }
    const gap = await page.evaluate(() => {
      const log = document.querySelector(".log")!;
      return log.scrollHeight - log.scrollTop - log.clientHeight;
    });
    assert.ok(gap < 2, `the newest line is in view (${gap} px below)`);
    maxNodes = Math.max(maxNodes, await logNodes(page));
    const heapBottom = await heapMB(page);

    console.log(
      `message log, ${COUNT} messages: ${steps} steps up in ${upMs} ms; DOM nodes in the log ` +
        `${opened} opened, ${maxNodes} at most; line in view moved ${maxDrift} px at most; ` +
        `live message shown in ${spread(pillMs)} ms (pill, scrolled far up), ${spread(rowMs)} ms ` +
        `(row, at the bottom); JS heap ${heapTop.used} MB (${heapTop.afterGc} after GC) with the whole ` +
        `history held, ${heapBottom.used} MB (${heapBottom.afterGc} after GC) back at the bottom`,
    );
    assert.ok(maxNodes <= 3000, `${maxNodes} DOM nodes in the log`);
    assert.ok(maxDrift <= 1, `the line in view moved ${maxDrift} px`);
    assert.deepEqual(problems, []);
  },
);

Deno.test(
  "Tab from the message log never lands on a control that vanishes; a focused row leaving the window gives the focus back to the log; sending brings the log down",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true, limits: FLOOD_LIMITS });
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    await postMany(
      bob,
      600,
      (i) => i === 300 ? "le cours : https://cours.lycee.example/maths" : `ligne ${i + 1}`,
    );
    await using browser = await launchBrowser();
    const { page, problems } = await signIn(browser, srv, "alice");
    await page.getByText("ligne 600", { exact: true }).waitFor();

    // Older pages exist. Tab from the log: a control in view, the view where it was.
    await page.locator(".log").focus();
    const before = await page.evaluate(() => document.querySelector(".log")!.scrollTop);
    await page.keyboard.press("Tab");
    await page.locator('.log[aria-busy="false"]').waitFor();
    await page.evaluate(() => new Promise((r) => setTimeout(r, 300)));
    const after = await page.evaluate(() => {
      const a = document.activeElement!;
      const r = a.getBoundingClientRect();
      return {
        tag: a.tagName,
        id: a.id,
        inLogTop: a.closest(".log-top") !== null,
        inView: r.bottom > 0 && r.top < innerHeight && r.width > 0,
        top: document.querySelector(".log")!.scrollTop,
      };
    });
    assert.notEqual(after.tag, "BODY", "the focus fell to <body>");
    assert.equal(after.inLogTop, false);
    assert.ok(after.inView, `the focused ${after.tag} is in view`);
    assert.equal(after.id, "composer", "Tab goes on to the composer");
    assert.ok(Math.abs(after.top - before) <= 1, `the log scrolled from ${before} to ${after.top}`);

    // Reading back until a link shows; focused, then the reader scrolls down until its row
    // leaves the window: the focus goes back to the log, not to <body>.
    const link = page.getByRole("link", { name: "https://cours.lycee.example/maths" });
    for (let i = 0; i < 50 && await link.count() === 0; i++) await scrollStep(page, "top");
    await link.focus();
    const seq = await page.locator("li[data-seq]", { has: link }).getAttribute("data-seq");
    for (let i = 0; i < 50; i++) {
      if (await page.locator(`li[data-seq="${seq}"]`).count() === 0) break;
      await scrollStep(page, "bottom");
    }
    assert.equal(await page.locator(`li[data-seq="${seq}"]`).count(), 0, "the row left");
    assert.equal(
      await page.evaluate(() => document.activeElement?.classList.contains("log")),
      true,
      "the focus went back to the log",
    );
    await page.keyboard.press("End");
    await page.getByText("ligne 600", { exact: true }).waitFor();

    // Reading back, then writing: one's own message is shown, at the bottom.
    for (let i = 0; i < 3; i++) await scrollStep(page, "top");
    await post(page, "envoyé en lisant");
    await page.locator("li[data-seq]", { hasText: "envoyé en lisant" }).waitFor();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
    const below = await page.evaluate(() => {
      const log = document.querySelector(".log")!;
      return log.scrollHeight - log.scrollTop - log.clientHeight;
    });
    assert.ok(below < 2, `one's own message is in view (${below} px below)`);
    assert.deepEqual(problems, []);
  },
);

/** A server clock set back by the test, so messages carry the dates of days gone by. */
class SetBackClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

const DAY_MS = 86_400_000;
const LINK = "https://moodle.lycee.example/cours?id=4";

/** Messages of a week ago, yesterday and today, with links, other schemes and mentions. */
async function seedDays(srv: TestServer, clock: SetBackClock): Promise<void> {
  await using bob = await srv.connect();
  await bob.loginAs("bob");
  const say = async (content: string) => {
    const reply = await bob.request({ type: "message", content, id: content });
    assert.equal(reply.type, "ack", JSON.stringify(reply));
  };
  await say(`Le devoir est sur ${LINK} (page 2).`);
  await say("Pas de cours lundi prochain");
  clock.offsetMs = -DAY_MS;
  await say("Qui a fini ? javascript:alert(1) data:text/html,x file:///etc/passwd");
  clock.offsetMs = 0;
  await say("@alice tu peux relire mon exercice ?");
  await say("Alicette n'est pas dans la classe");
}

/** The long date of the day `daysAgo` before today, as the page's own Intl writes it. */
function longDate(page: Page, lang: string, daysAgo: number): Promise<string> {
  return page.evaluate(([lang, daysAgo]) => {
    const d = new Date();
    d.setDate(d.getDate() - Number(daysAgo));
    return new Intl.DateTimeFormat(String(lang), {
      weekday: "long",
      day: "numeric",
      month: "long",
      year: "numeric",
    }).format(d);
  }, [lang, daysAgo]);
}

Deno.test(
  "the message log shows day separators, full dates, http(s) links only and my mentions, in French and English; axe finds nothing in it",
  needs("chromium"),
  async () => {
    // The server starts a week ago; its clock only goes forward (as rate limits expect).
    const clock = new SetBackClock();
    clock.offsetMs = -7 * DAY_MS;
    await using srv = await startTestServer({ web: true, clock });
    await seedDays(srv, clock);
    await using browser = await launchBrowser();
    const { page, problems } = await signIn(browser, srv, "alice");
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByText("Alicette n'est pas dans la classe", { exact: true }).waitFor();
    await post(page, "Oui, moi alice je relis");
    await page.locator("li[data-seq]", { hasText: "moi alice je relis" }).waitFor();

    // C. Day separators, in order, then a full date and time on every timestamp.
    assert.deepEqual(await page.locator(".log .day").allTextContents(), [
      await longDate(page, "fr", 7),
      "Hier",
      "Aujourd'hui",
    ]);
    const times = await page.locator("li[data-seq] time").evaluateAll((els) =>
      els.map((e) => ({ dt: e.getAttribute("datetime")!, title: e.getAttribute("title")! }))
    );
    assert.equal(times.length, 6);
    for (const { dt, title } of times) {
      const expected = await page.evaluate((dt) => {
        const [d, t] = dt.split("T");
        const [y, mo, day] = d.split("-").map(Number);
        const [h, mi, s] = t.split(":").map((x: string) => Math.floor(Number(x)));
        return new Intl.DateTimeFormat("fr", {
          dateStyle: "full",
          timeStyle: "medium",
          timeZone: "UTC",
        }).format(Date.UTC(y, mo - 1, day, h, mi, s));
      }, dt);
      assert.equal(title, expected, `title of ${dt}`);
    }

    // D. One link, to where it says, in a new tab, with no access to this page; the other
    // schemes are text.
    const links = await page.locator(".log a").evaluateAll((as) =>
      as.map((a) => ({
        href: a.getAttribute("href"),
        text: a.textContent,
        target: a.getAttribute("target"),
        rel: a.getAttribute("rel"),
      }))
    );
    assert.deepEqual(links, [{
      href: LINK,
      text: LINK,
      target: "_blank",
      rel: "noopener noreferrer",
    }]);
    await page.getByText(
      "Qui a fini ? javascript:alert(1) data:text/html,x file:///etc/passwd",
      { exact: true },
    ).waitFor();
    assert.equal(await page.locator(".log img, .log iframe").count(), 0, "no preview");

    // E. The message naming me is highlighted, by a bar and a text for screen readers; the
    // others (a longer name, my own message) are not.
    const mentioned = page.locator("li.mention");
    assert.equal(await mentioned.count(), 1);
    assert.match(await mentioned.innerText(), /tu peux relire/);
    assert.equal(await mentioned.locator(".sr-only", { hasText: "vous mentionne" }).count(), 1);
    assert.equal(await mentioned.locator("mark").textContent(), "@alice");
    assert.equal(
      await mentioned.evaluate((li) => getComputedStyle(li).borderLeftWidth),
      "4px",
    );

    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      const found = await axeViolations(page, ".log-wrap");
      assert.deepEqual(found, [], `fr ${scheme}:\n${describeViolations(found)}`);
      const whole = await axeViolations(page);
      if (whole.length) {
        console.log(`axe, whole chat page, fr ${scheme}:\n${describeViolations(whole)}`);
      }
      await screenshot(page, `log-days-links-mention-1280-fr-${scheme}`);
    }
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 360, height: 740 });
    await screenshot(page, "log-days-links-mention-360-fr");
    await page.setViewportSize({ width: 1280, height: 800 });

    // In English, from the language menu.
    await page.locator(".tools-top select").last().selectOption("en");
    await page.locator(".log .day", { hasText: "Today" }).waitFor();
    assert.deepEqual(await page.locator(".log .day").allTextContents(), [
      await longDate(page, "en", 7),
      "Yesterday",
      "Today",
    ]);
    assert.equal(await mentioned.locator(".sr-only", { hasText: "mentions you" }).count(), 1);
    assert.match((await page.locator("li[data-seq] time").first().getAttribute("title"))!, / at /);
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      const found = await axeViolations(page, ".log-wrap");
      assert.deepEqual(found, [], `en ${scheme}:\n${describeViolations(found)}`);
      const whole = await axeViolations(page);
      if (whole.length) {
        console.log(`axe, whole chat page, en ${scheme}:\n${describeViolations(whole)}`);
      }
    }
    await screenshot(page, "log-days-links-mention-1280-en-dark");
    assert.deepEqual(problems, []);
  },
);
