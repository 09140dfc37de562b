// The student chat page under daily use, in a real browser (Debian's chromium through
// playwright-core) beside real TCP clients: bursts of typing, mutes lifted, private conversations
// across reloads, one's own status, the network going away. Screenshots: artifacts/web/.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { launchBrowser, screenshot } from "./helpers/browser.ts";
import { axeViolations, describeViolations } from "./helpers/axe.ts";
import { post, shown, signIn, watch } from "./helpers/web_page.ts";
import {
  parseMetrics,
  startTestServer,
  storeWithAdmin,
  type TestClient,
} from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";
import { needs } from "./helpers/tools.ts";

/** Reads lines until one matches, each read with the client's deadline. */
async function until(
  c: TestClient,
  match: (line: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  for (;;) {
    const line = await c.json();
    if (match(line)) return line;
  }
}

/** The lines the page's WebSockets receive from now on, and a wait for one (with a deadline). */
function serverLines(page: Page) {
  const lines: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; done: () => void }[] = [];
  page.on("websocket", (ws) =>
    ws.on("framereceived", ({ payload }) => {
      if (typeof payload !== "string") return;
      const line = JSON.parse(payload) as Record<string, unknown>;
      lines.push(line);
      for (const w of waiters.filter((w) => w.match(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.done();
      }
    }));
  return {
    lines,
    wait(match: (l: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<void> {
      if (lines.some(match)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error("No such line from the server")),
          timeoutMs,
        );
        waiters.push({
          match,
          done: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

Deno.test(
  "40 messages typed in a burst leave in the order typed: a TCP client gets all 40 in order, once",
  needs("chromium"),
  async () => {
    // A tight rate (5 at once, then 4 per second): however fast the browser types, most of the
    // burst is refused with retry_after_ms at first and must be sent again by the page, in turn.
    await using srv = await startTestServer({
      web: true,
      limits: { rateBurst: 5, ratePerSecond: 4 },
    });
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    await using browser = await launchBrowser();
    const alice = await signIn(browser, srv, "alice");
    await alice.page.setViewportSize({ width: 1280, height: 800 });
    await until(bob, (l) => l.type === "status" && l.user === "alice");
    const refused = async () =>
      parseMetrics(await srv.server.metrics.text())
        .get('classcord_limit_hits_total{limit="message_rate"}') ?? 0;
    const refusedBefore = await refused();

    const texts = Array.from({ length: 40 }, (_, i) => `rafale ${i + 1}`);
    const started = Date.now();
    for (const text of texts) await post(alice.page, text);
    console.log(`40 messages typed in ${Date.now() - started} ms`);

    const received: string[] = [];
    while (received.length < texts.length) {
      const line = await until(bob, (l) => l.type === "message" && l.from === "alice");
      received.push(String(line.content));
    }
    assert.deepEqual(received, texts, "every message once, in the order typed");
    assert.ok(await refused() > refusedBefore, "the rate limit was met, and its retries made");

    // The page shows them stored (with their seq), in order, none failed nor waiting.
    await alice.page.getByText("rafale 40", { exact: true }).waitFor();
    await alice.page.locator("li[data-pending]").first().waitFor({ state: "detached" });
    const messages = (await shown(alice.page)).filter((m) => m.text.startsWith("rafale "));
    assert.deepEqual(messages.map((m) => m.text), texts);
    const seqs = messages.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "seqs grow in the order typed");
    assert.equal(await alice.page.locator("li[data-failed]").count(), 0, "none shown failed");
    await screenshot(alice.page, "chat-burst-40-fr");

    // History agrees: the order is stored for good.
    const history = await bob.call({ type: "history", channel: "#général", limit: 50 });
    const stored = (history.messages as { content: string }[]).map((m) => m.content)
      .filter((c) => c.startsWith("rafale "));
    assert.deepEqual(stored, texts);
    assert.deepEqual(alice.problems, []);
  },
);

Deno.test(
  "messages typed while the network is away wait, then leave in order on reconnection, once",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true });
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    await using browser = await launchBrowser();
    const alice = await signIn(browser, srv, "alice");
    await alice.page.setViewportSize({ width: 1280, height: 800 });
    await until(bob, (l) => l.type === "status" && l.user === "alice");

    await alice.page.context().setOffline(true);
    await alice.page.locator('.app[data-state="reconnecting"]').waitFor({ timeout: 3000 });
    for (const text of ["hors ligne 1", "hors ligne 2", "hors ligne 3"]) {
      await post(alice.page, text);
    }
    assert.equal(await alice.page.locator("li[data-pending]").count(), 3);
    assert.equal(await alice.page.locator("li[data-failed]").count(), 0);
    // Shown as waiting, not as being sent.
    assert.equal(await alice.page.locator("li[data-queued]").count(), 3);
    assert.equal(
      await alice.page.locator("li[data-queued] .state").first().textContent(),
      "en attente",
    );
    await screenshot(alice.page, "chat-offline-queued-fr");
    await alice.page.context().setOffline(false);
    await alice.page.locator('.app[data-state="ready"]').waitFor({ timeout: 15_000 });

    const received: string[] = [];
    while (received.length < 3) {
      const line = await until(bob, (l) => l.type === "message" && l.from === "alice");
      received.push(String(line.content));
    }
    assert.deepEqual(received, ["hors ligne 1", "hors ligne 2", "hors ligne 3"]);
    await alice.page.locator("li[data-pending]").first().waitFor({ state: "detached" });
    // Nothing more comes: each left once.
    await bob.expectNothingPending();
    const mine = (await shown(alice.page)).filter((m) => m.text.startsWith("hors ligne"));
    assert.deepEqual(mine.map((m) => m.text), ["hors ligne 1", "hors ligne 2", "hors ligne 3"]);
    assert.deepEqual(alice.problems, []);
  },
);

Deno.test(
  "a mute locks the composer at once with the time left; the teacher's unmute unlocks it at once",
  needs("chromium"),
  async () => {
    await using seeded = await storeWithAdmin("prof", "mot de passe");
    await using srv = await startTestServer({ db: seeded.db, web: true });
    await using browser = await launchBrowser();
    const lea = await signIn(browser, srv, "Léa");
    await lea.page.setViewportSize({ width: 1280, height: 800 });
    await using prof = await srv.connect();
    await prof.send({ type: "hello", version: 2, id: "h" });
    await until(prof, (l) => l.type === "hello");
    await prof.login("prof", "mot de passe");

    // Léa has not posted anything: she learns of the mute from the server's `muted` event.
    const muted = await prof.call({ type: "mute", user: "Léa", duration: 900, id: "m" });
    assert.equal(muted.status, "ok", JSON.stringify(muted));
    const banner = lea.page.locator("#composer-muted");
    await banner.waitFor({ timeout: 3000 });
    assert.match(await banner.innerText(), /vous pourrez écrire dans 1[45] min/);
    assert.equal(await lea.page.locator("#composer").getAttribute("readonly"), "");
    assert.equal(await lea.page.locator("button.send").isDisabled(), true);
    await screenshot(lea.page, "chat-muted-event-fr");

    const lifted = await prof.call({ type: "unmute", user: "léa", id: "u" });
    assert.equal(lifted.status, "ok", JSON.stringify(lifted));
    await banner.waitFor({ state: "detached", timeout: 3000 });
    assert.equal(await lea.page.locator("#composer").getAttribute("readonly"), null);
    await post(lea.page, "merci monsieur");
    await lea.page.locator("li[data-seq]", { hasText: "merci monsieur" }).waitFor();
    await screenshot(lea.page, "chat-unmuted-fr");
    assert.deepEqual(lea.problems, []);
  },
);

Deno.test(
  "private conversations come from the server: partners, last message and unread counts survive F5",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true });
    await using browser = await launchBrowser();
    // Registered, then gone: nobody online can reopen these conversations but the server.
    for (const name of ["bob", "carole", "david"]) {
      await using c = await srv.connect();
      await c.request({ type: "register", username: name, password: "secret" });
    }
    const alice = await signIn(browser, srv, "alice");
    await alice.page.setViewportSize({ width: 1280, height: 800 });
    {
      await using bob = await srv.connect();
      await bob.login("bob");
      await bob.request({ type: "message", subtype: "private", to: "alice", content: "un", id: 1 });
      await bob.request({
        type: "message",
        subtype: "private",
        to: "alice",
        content: "deux",
        id: 2,
      });
      await using carole = await srv.connect();
      await carole.login("carole");
      await carole.request({
        type: "message",
        subtype: "private",
        to: "alice",
        content: "Tu as le sujet ?",
        id: 3,
      });
    }
    const nav = alice.page.locator("#nav");
    const bobRow = nav.locator(".conv", { hasText: "bob" });
    const caroleRow = nav.locator(".conv", { hasText: "carole" });
    await bobRow.locator(".badge", { hasText: "2" }).waitFor();

    // F5: the page starts empty and asks the server.
    const lines = serverLines(alice.page);
    await alice.page.reload();
    await alice.page.locator('.app[data-state="ready"]').waitFor();
    await bobRow.locator(".badge", { hasText: "2" }).waitFor();
    await caroleRow.locator(".badge", { hasText: "1" }).waitFor();
    assert.match(await caroleRow.innerText(), /carole\s:\sTu as le sujet/);
    // Most recent first.
    const order = await nav.locator("ul[aria-labelledby=privates-h] .conv-name").allInnerTexts();
    assert.deepEqual(order, ["carole", "bob"]);
    await screenshot(alice.page, "chat-privates-after-f5-fr");

    // Opening one tells the server it is read: the count stays at zero after another F5.
    await bobRow.click();
    await alice.page.getByText("deux", { exact: true }).waitFor();
    await bobRow.locator(".badge").waitFor({ state: "detached" });
    await lines.wait((l) => l.type === "read" && l.status === "ok");
    await alice.page.reload();
    await alice.page.locator('.app[data-state="ready"]').waitFor();
    await caroleRow.locator(".badge", { hasText: "1" }).waitFor();
    assert.equal(await bobRow.locator(".badge").count(), 0, "bob's conversation was read");
    assert.deepEqual(alice.problems, []);
  },
);

Deno.test(
  "Nouvelle conversation: any registered name, offline too, completed from the directory",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true });
    for (const name of ["david", "Daniela"]) {
      await using c = await srv.connect();
      await c.request({ type: "register", username: name, password: "secret" });
    }
    await using browser = await launchBrowser();
    const alice = await signIn(browser, srv, "alice");
    await alice.page.setViewportSize({ width: 1280, height: 800 });
    const input = alice.page.getByLabel("Nouvelle conversation");
    await input.pressSequentially("da");
    await alice.page.locator("#directory-list option").nth(1).waitFor({ state: "attached" });
    const options = await alice.page.locator("#directory-list option").evaluateAll((items) =>
      items.map((o) => o.getAttribute("value"))
    );
    assert.deepEqual(options, ["Daniela", "david"]);
    await screenshot(alice.page, "chat-new-private-fr");
    // An unknown name is refused next to the field.
    await input.fill("zoé");
    await input.press("Enter");
    await alice.page.locator("#private-error").waitFor();
    // Keyboard only: type, Enter; david is offline.
    await input.fill("DAVID");
    await input.press("Enter");
    await alice.page.locator("#conv-title", { hasText: "david" }).waitFor();
    await post(alice.page, "Tu viens demain ?");
    await alice.page.locator("li[data-seq]", { hasText: "Tu viens demain ?" }).waitFor();
    await screenshot(alice.page, "chat-new-private-sent-fr");

    await using david = await srv.connect();
    await david.send({ type: "hello", version: 2 });
    await until(david, (l) => l.type === "hello");
    await david.login("david");
    const delivered = await until(david, (l) => l.type === "message");
    assert.equal(delivered.content, "Tu viens demain ?");
    assert.equal(delivered.from, "alice");
    assert.deepEqual(alice.problems, []);
  },
);

Deno.test(
  "Mon statut holds: the select and the people list keep it, and it is sent again after a restart",
  needs("chromium"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_web_chat_" });
    try {
      const db = `${dir}/classcord.kv`;
      const webPort = freePort();
      let srv = await startTestServer({ db, webPort });
      try {
        await using browser = await launchBrowser();
        const alice = await signIn(browser, srv, "alice");
        await alice.page.setViewportSize({ width: 1280, height: 800 });
        // Watch the page's socket from its start: an F5 resumes the session on a new one.
        const lines = serverLines(alice.page);
        await alice.page.reload();
        await alice.page.locator('.app[data-state="ready"]').waitFor();
        {
          await using bob = await srv.connect();
          await bob.loginAs("bob");
          const select = alice.page.getByLabel("Mon statut");
          await select.selectOption("away");
          const relayed = await until(bob, (l) => l.type === "status" && l.user === "alice");
          assert.equal(relayed.state, "away");
          // The server's direct reply came; the select stays, the list says so.
          await lines.wait((l) => l.type === "status" && l.status === "ok");
          assert.equal(await select.inputValue(), "away");
          await alice.page.locator("#people .person", { hasText: "Absent (vous)" }).waitFor();
          await screenshot(alice.page, "chat-status-away-fr");
        }

        await srv.server.shutdown();
        await alice.page.locator('.app[data-state="reconnecting"]').waitFor();
        srv = await startTestServer({ db, webPort });
        await alice.page.locator('.app[data-state="ready"]').waitFor({ timeout: 15_000 });
        assert.equal(await alice.page.getByLabel("Mon statut").inputValue(), "away");
        await alice.page.locator("#people .person", { hasText: "Absent (vous)" }).waitFor();
        // The others see it again: the page sent it on its new session.
        await using carole = await srv.connect();
        await carole.send({ type: "hello", version: 2 });
        await until(carole, (l) => l.type === "hello");
        await carole.loginAs("carole");
        const users = await carole.call({ type: "users" });
        const details = users.details as { user: string; state: string }[];
        assert.equal(details.find((d) => d.user === "alice")?.state, "away");
        assert.deepEqual(alice.problems, []);
      } finally {
        await srv.server.shutdown();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "the browser going offline shows the disconnected state at once, and the page comes back online",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true });
    await using browser = await launchBrowser();
    const alice = await signIn(browser, srv, "alice");
    await alice.page.setViewportSize({ width: 1280, height: 800 });
    const started = Date.now();
    await alice.page.context().setOffline(true);
    await alice.page.locator('.conn[data-conn="reconnecting"]').waitFor({ timeout: 2000 });
    await alice.page.getByText("Pas de réseau", { exact: false }).waitFor({ timeout: 2000 });
    const noticedMs = Date.now() - started;
    assert.ok(noticedMs < 2000, `noticed after ${noticedMs} ms`);
    // The banner is inside a labelled region (axe: every content in a landmark).
    const region = alice.page.getByRole("region", { name: "État de la connexion" });
    await region.getByText("Pas de réseau", { exact: false }).waitFor();
    const violations = await axeViolations(alice.page);
    assert.deepEqual(violations, [], describeViolations(violations));
    await screenshot(alice.page, "chat-offline-banner-fr");
    await alice.page.context().setOffline(false);
    await alice.page.locator('.app[data-state="ready"]').waitFor({ timeout: 15_000 });
    assert.deepEqual(alice.problems, []);
  },
);

Deno.test(
  "the login form: an empty password is said; register mode asks the password twice, with its own heading",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true });
    {
      await using c = await srv.connect();
      await c.request({ type: "register", username: "alice", password: "mot de passe" });
    }
    await using browser = await launchBrowser();
    const page = await browser.user();
    await page.setViewportSize({ width: 1280, height: 800 });
    const problems = watch(page);
    let sockets = 0;
    page.on("websocket", () => sockets++);
    await page.goto(`http://127.0.0.1:${srv.server.webPort}/`);
    await page.locator("#login-user").fill("alice");
    await page.locator("#login-pass").press("Enter");
    await page.locator("#login-error", { hasText: "Saisissez votre mot de passe" }).waitFor();
    assert.equal(await page.locator("#login-pass").getAttribute("aria-invalid"), "true");
    assert.equal(await page.locator("#login-pass:focus").count(), 1, "focus on the password");
    assert.equal(sockets, 0, "nothing sent");
    await screenshot(page, "login-empty-password-fr");

    // A wrong password, then "Créer un compte": the error goes, the heading changes.
    await page.locator("#login-pass").fill("faux");
    await page.locator("#login-pass").press("Enter");
    await page.locator("#login-error", { hasText: "incorrect" }).waitFor();
    await page.getByRole("button", { name: "Créer un compte" }).click();
    assert.equal(await page.locator("#login-error").count(), 0);
    await page.getByRole("heading", { name: "Créer un compte ClassCord" }).waitFor();
    await page.locator("#login-user").fill("bruno");
    await page.locator("#login-pass").fill("mot de passe");
    await page.getByLabel("Confirmer le mot de passe").fill("mot de pase");
    await page.locator("#login-pass").press("Enter");
    await page.locator("#login-error", { hasText: "ne sont pas identiques" }).waitFor();
    assert.equal(await page.locator("#login-pass2").getAttribute("aria-invalid"), "true");
    await screenshot(page, "login-register-mismatch-fr");
    await page.getByLabel("Confirmer le mot de passe").fill("mot de passe");
    await page.getByLabel("Confirmer le mot de passe").press("Enter");
    await page.locator('.app[data-state="ready"]').waitFor();
    assert.deepEqual(problems, []);
  },
);

/** "14 décembre 2026 à 10:30" for a server timestamp, as the page should write it. */
function frenchDate(timestamp: string): string {
  const [, y, mo, d, h, mi] = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(timestamp) ?? [];
  const date = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi));
  return new Intl.DateTimeFormat("fr", { dateStyle: "long", timeStyle: "short" }).format(date)
    .replace(/^1 /, "1er ");
}

Deno.test(
  "a ban shows its end as a French date, on the banner and on the refused login",
  needs("chromium"),
  async () => {
    await using seeded = await storeWithAdmin("prof", "mot de passe");
    await using srv = await startTestServer({ db: seeded.db, web: true });
    await using browser = await launchBrowser();
    const lea = await signIn(browser, srv, "Léa");
    await lea.page.setViewportSize({ width: 1280, height: 800 });
    await using prof = await srv.connect();
    await prof.login("prof", "mot de passe");
    const ban = await prof.call({ type: "ban", user: "Léa", duration: 8 * 86400, id: "b" });
    assert.equal(ban.status, "ok", JSON.stringify(ban));
    const date = frenchDate(String(ban.until));
    assert.match(date, /^\d{1,2}(er)? \p{L}+ \d{4} à \d{2}:\d{2}$/u);
    await lea.page.locator('.app[data-state="stopped"]').waitFor();
    await lea.page.getByRole("region", { name: "État de la connexion" })
      .getByText(`Banni jusqu'au ${date}`).waitFor();
    await screenshot(lea.page, "chat-banned-banner-fr");
    // "Se reconnecter": the resume is refused, the form says until when.
    await lea.page.getByRole("button", { name: "Se reconnecter" }).click();
    await lea.page.locator("#login-error", { hasText: `Ce nom est banni jusqu'au ${date}` })
      .waitFor();
    await screenshot(lea.page, "login-banned-fr");
    assert.deepEqual(lea.problems, []);
  },
);

Deno.test(
  "in a channel, the people list shows that channel's members (who), kept up to date",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true });
    await using bob = await srv.connect();
    await bob.send({ type: "hello", version: 2 });
    await until(bob, (l) => l.type === "hello");
    await bob.loginAs("bob");
    await bob.call({ type: "join", channel: "#sisr" });
    await using carole = await srv.connect();
    await carole.send({ type: "hello", version: 2 });
    await until(carole, (l) => l.type === "hello");
    await carole.loginAs("carole");
    await using browser = await launchBrowser();
    const alice = await signIn(browser, srv, "alice");
    await alice.page.setViewportSize({ width: 1280, height: 800 });
    const people = alice.page.locator("#people");
    await people.locator(".person", { hasText: "carole" }).waitFor();
    await alice.page.locator("#join-input").fill("sisr");
    await alice.page.locator("#join-input").press("Enter");
    await people.getByRole("heading", { name: /Membres de #sisr/ }).waitFor();
    await people.locator(".person", { hasText: "bob" }).waitFor();
    assert.deepEqual(await people.locator(".person-name").allInnerTexts(), ["alice", "bob"]);
    // Carole posts there, which joins her: she appears.
    await carole.send({ type: "message", channel: "sisr", content: "Je viens aussi" });
    await people.locator(".person", { hasText: "carole" }).waitFor();
    assert.deepEqual(await people.locator(".person-name").allInnerTexts(), [
      "alice",
      "bob",
      "carole",
    ]);
    await screenshot(alice.page, "chat-channel-members-fr");
    // Back in #général: everyone online.
    await alice.page.locator("#nav .conv", { hasText: "#général" }).click();
    await people.getByRole("heading", { name: /Connectés/ }).waitFor();
    assert.deepEqual(alice.problems, []);
  },
);

/**
 * Replaces the browser's Notification with a recorder (permission "default" until asked), and
 * lets the test hide the page (document.visibilityState).
 */
const NOTIFICATION_STUB = `(() => {
  const log = { asked: [], shown: [] };
  globalThis.__notifications = log;
  // The browser remembers a granted permission across reloads: so does the recorder, per tab.
  let permission = sessionStorage.getItem("__permission") ?? "default";
  class Recorder {
    constructor(title, options) { log.shown.push({ title, body: options && options.body }); }
    static get permission() { return permission; }
    static requestPermission() {
      log.asked.push(navigator.userActivation ? navigator.userActivation.isActive : null);
      permission = "granted";
      sessionStorage.setItem("__permission", permission);
      return Promise.resolve(permission);
    }
    close() {}
  }
  globalThis.Notification = Recorder;
  let hidden = false;
  Object.defineProperty(document, "visibilityState", { get: () => hidden ? "hidden" : "visible" });
  Object.defineProperty(document, "hidden", { get: () => hidden });
  globalThis.__hide = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();`;

Deno.test(
  "opt-in desktop notifications: asked on the click only; mentions and private messages while hidden",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true });
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    await using browser = await launchBrowser();
    const page = await browser.user();
    await page.addInitScript(NOTIFICATION_STUB);
    const problems = watch(page);
    await page.goto(`http://127.0.0.1:${srv.server.webPort}/`);
    await page.locator("button.link").click();
    await page.locator("#login-user").fill("Alice");
    await page.locator("#login-pass").fill("mot de passe");
    await page.locator("#login-pass2").fill("mot de passe");
    await page.locator("#login-pass").press("Enter");
    await page.locator('.app[data-state="ready"]').waitFor();
    await until(bob, (l) => l.type === "status" && l.user === "Alice");
    // deno-lint-ignore no-explicit-any
    const log = () => page.evaluate(() => (globalThis as any).__notifications);
    const message = (content: string, extra: Record<string, unknown> = {}) =>
      bob.request({ type: "message", content, ...extra, id: content });

    await message("alice, tu es là ?"); // the tab is visible: nothing
    assert.deepEqual((await log()).asked, [], "never asked before the click");
    await page.getByLabel("Notifications").check();
    assert.deepEqual((await log()).asked, [true], "asked once, during the click");
    await page.setViewportSize({ width: 1280, height: 800 });
    await screenshot(page, "chat-notifications-on-fr");

    await page.evaluate(() => (globalThis as unknown as { __hide(v: boolean): void }).__hide(true));
    await message("bonjour à tous");
    await message("Alicette n'est pas Alice"); // "Alice" is a whole word here
    await message("Alicette seulement");
    await message("Un mot en privé", { subtype: "private", to: "alice" });
    await page.getByText("Un mot en privé", { exact: false }).first().waitFor({
      state: "attached",
    });
    await page.waitForFunction(() =>
      // deno-lint-ignore no-explicit-any
      (globalThis as any).__notifications.shown.length >= 2
    );
    const shownNow = (await log()).shown as { title: string; body: string }[];
    assert.deepEqual(shownNow.map((n) => n.body), [
      "Alicette n'est pas Alice",
      "Un mot en privé",
    ]);
    // F5: the choice stays, and the browser is not asked again.
    await page.reload();
    await page.locator('.app[data-state="ready"]').waitFor();
    assert.equal(await page.getByLabel("Notifications").isChecked(), true, "kept after F5");
    assert.deepEqual((await log()).asked, [], "not asked again after F5");
    await page.getByLabel("Notifications").uncheck();
    await page.reload();
    await page.locator('.app[data-state="ready"]').waitFor();
    assert.equal(await page.getByLabel("Notifications").isChecked(), false, "off stays off");
    assert.deepEqual(problems, []);
  },
);

Deno.test(
  "axe finds nothing on the login, chat, private conversation, dialog and banner views, fr and en, light and dark",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true });
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    await using browser = await launchBrowser();
    const found: string[] = [];
    const check = async (page: Page, view: string) => {
      const violations = await axeViolations(page);
      if (violations.length > 0) found.push(`${view}:\n${describeViolations(violations)}`);
    };
    for (const [lang, locale, name] of [["fr", "fr-FR", "Élodie"], ["en", "en-US", "Emma"]]) {
      for (const colorScheme of ["light", "dark"] as const) {
        const view = (v: string) => `${v} (${lang}, ${colorScheme})`;
        const login = await browser.user({ locale });
        await login.emulateMedia({ colorScheme });
        await login.goto(`http://127.0.0.1:${srv.server.webPort}/`);
        await login.locator("#login-user").waitFor();
        await check(login, view("login"));
        await login.locator("button.link").click(); // register mode, with its confirmation
        await login.locator("#login-pass").press("Enter"); // and an error shown
        await login.locator("#login-error").waitFor();
        await check(login, view("register"));
        await login.close();

        const user = `${name}-${colorScheme}`;
        const { page } = await signIn(browser, srv, user, { locale });
        await page.emulateMedia({ colorScheme });
        await bob.send({ type: "message", subtype: "private", to: user, content: "Coucou !" });
        await page.locator("#nav .conv", { hasText: "bob" }).waitFor();
        await check(page, view("chat"));
        await page.locator("#nav .conv", { hasText: "bob" }).click();
        await page.getByText("Coucou !", { exact: true }).waitFor();
        await check(page, view("private conversation"));
        await page.locator("#conv-title").click();
        await page.keyboard.press("?");
        await page.locator("dialog[open]").waitFor();
        await check(page, view("dialog"));
        await page.keyboard.press("Escape");
        await page.context().setOffline(true);
        await page.locator(".banner").waitFor();
        await check(page, view("banner"));
        await page.context().setOffline(false);
        await page.locator('.app[data-state="ready"]').waitFor({ timeout: 15_000 });
        if (lang === "fr" && colorScheme === "dark") {
          await page.setViewportSize({ width: 360, height: 740 });
          await page.locator(".nav-toggle").click();
          await page.locator("#nav.open .drawer-close").waitFor();
          await check(page, view("phone nav"));
          await screenshot(page, "chat-phone-nav-dark-fr");
        }
        await page.context().close();
      }
    }
    assert.deepEqual(found, [], found.join("\n"));
  },
);
