// The student chat page under daily use, in a real browser (Debian's chromium through
// playwright-core) beside real TCP clients: bursts of typing, mutes lifted, private conversations
// across reloads, one's own status, the network going away. Screenshots: artifacts/web/.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { launchBrowser, screenshot } from "./helpers/browser.ts";
import { post, shown, signIn } from "./helpers/web_page.ts";
import {
  freePort,
  startTestServer,
  storeWithAdmin,
  type TestClient,
} from "./helpers/test_server.ts";
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
  "40 messages typed in 2 s leave in the order typed: a TCP client gets all 40 in order, once",
  needs("chromium"),
  async () => {
    // The server's default rate (20 at once, then 5 per second): half of the burst is refused
    // with retry_after_ms at first, and must be sent again by the page, in its turn.
    await using srv = await startTestServer({ web: true });
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    await using browser = await launchBrowser();
    const alice = await signIn(browser, srv, "alice");
    await until(bob, (l) => l.type === "status" && l.user === "alice");

    const texts = Array.from({ length: 40 }, (_, i) => `rafale ${i + 1}`);
    const started = Date.now();
    // As fast as the browser takes them: about 2 s for 40 on this machine.
    for (const text of texts) await post(alice.page, text);
    const typedMs = Date.now() - started;
    console.log(`40 messages typed in ${typedMs} ms`);
    assert.ok(typedMs < 4000, `typed in ${typedMs} ms`);

    const received: string[] = [];
    while (received.length < texts.length) {
      const line = await until(bob, (l) => l.type === "message" && l.from === "alice");
      received.push(String(line.content));
    }
    assert.deepEqual(received, texts, "every message once, in the order typed");

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
    await until(bob, (l) => l.type === "status" && l.user === "alice");

    await alice.page.context().setOffline(true);
    await alice.page.locator('.app[data-state="reconnecting"]').waitFor({ timeout: 3000 });
    for (const text of ["hors ligne 1", "hors ligne 2", "hors ligne 3"]) {
      await post(alice.page, text);
    }
    assert.equal(await alice.page.locator("li[data-pending]").count(), 3);
    assert.equal(await alice.page.locator("li[data-failed]").count(), 0);
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
