// The web app in a real browser (Debian's chromium through playwright-core): what a student and a
// teacher see and do, with TCP clients in the same rooms. Screenshots: artifacts/web/.
import assert from "node:assert/strict";
import { launchBrowser, screenshot } from "./helpers/browser.ts";
import { post, shown, shownAll, signIn } from "./helpers/web_page.ts";
import { compileJavaClient, javaClient } from "./helpers/legacy_clients.ts";
import { FLOOD_LIMITS, startTestServer, storeWithAdmin } from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";
import { needs } from "./helpers/tools.ts";

/** Whether a page at `pageOrigin` can open the server's /ws (from inside the browser). */
function opensWs(wsUrl: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl);
    ws.onopen = () => {
      ws.close();
      resolve("open");
    };
    ws.onerror = () => resolve("refused");
  });
}

Deno.test(
  "a page from another origin cannot open /ws; the server's own page and allowed origins can",
  needs("chromium"),
  async () => {
    // Another site on this machine: a page of its own, on another port.
    const otherPort = freePort();
    const other = Deno.serve(
      { hostname: "127.0.0.1", port: otherPort, onListen: () => {} },
      () =>
        new Response("<!doctype html><title>autre site</title>", {
          headers: { "content-type": "text/html" },
        }),
    );
    const allowedPort = freePort();
    const allowed = Deno.serve(
      { hostname: "127.0.0.1", port: allowedPort, onListen: () => {} },
      () =>
        new Response("<!doctype html><title>ENT</title>", {
          headers: { "content-type": "text/html" },
        }),
    );
    try {
      await using t = await startTestServer({
        web: true,
        webOrigins: [`http://127.0.0.1:${allowedPort}`],
      });
      const ws = `ws://127.0.0.1:${t.server.webPort}/ws`;
      await using browser = await launchBrowser();
      const page = await browser.user();

      await page.goto(`http://127.0.0.1:${otherPort}/`);
      assert.equal(await page.evaluate(opensWs, ws), "refused", "cross-site WebSocket hijacking");

      await page.goto(`http://127.0.0.1:${allowedPort}/`);
      assert.equal(await page.evaluate(opensWs, ws), "open", "an origin of --web-origins");

      await page.goto(`http://127.0.0.1:${t.server.webPort}/`);
      assert.equal(await page.evaluate(opensWs, ws), "open", "the server's own page");
    } finally {
      await other.shutdown();
      await allowed.shutdown();
    }
  },
);

const GREETING = "Bonjour Élodie ! Ça va ? « déjà » 😀";
const FROM_JAVA = "Salut depuis Java : café crème, œuf, 2 €";
const WHISPER = "En privé : on se voit à la cafétéria ?";
const WHISPER_BACK = "Oui, à 14 h ! Noël approche";
const XSS = "<img src=x onerror=alert(1)>";

Deno.test(
  "two browser users and a Java client chat in #général and privately, accents included; HTML stays text",
  needs("chromium", "javac", "java"),
  async () => {
    await using srv = await startTestServer({ web: true });
    await using java = await compileJavaClient();
    await using elodie = javaClient("Élodie (Java)", java.classes, srv.port, [
      "register Élodie mot-de-passe",
      "login Élodie mot-de-passe",
      `expect MSG [global] alice: ${GREETING}`,
      `say ${FROM_JAVA}`,
      `expect PM alice -> Élodie: ${WHISPER}`,
      `pm alice ${WHISPER_BACK}`,
      `expect MSG [global] bob: ${XSS}`,
      "quit",
    ]);
    await elodie.waitFor("LOGIN OK Élodie");
    await using browser = await launchBrowser();
    const alice = await signIn(browser, srv, "alice");
    const bob = await signIn(browser, srv, "bob", { locale: "en-US" });
    assert.equal(await bob.page.getAttribute("html", "lang"), "en");
    assert.equal(await alice.page.getAttribute("html", "lang"), "fr");

    await post(alice.page, GREETING);
    await bob.page.getByText(GREETING, { exact: true }).waitFor();
    for (const { page } of [alice, bob]) await page.getByText(FROM_JAVA, { exact: true }).waitFor();

    // A private conversation with the Java user, from the list of who is online.
    await alice.page.locator("#people .person", { hasText: "Élodie" }).click();
    await post(alice.page, WHISPER);
    await alice.page.getByText(WHISPER_BACK, { exact: true }).waitFor();
    await screenshot(alice.page, "chat-private-alice-fr");

    // HTML from a user is shown as its characters, never run or rendered.
    await post(bob.page, XSS);
    await alice.page.locator(".conv", { hasText: "#général" }).click();
    await alice.page.getByText(XSS, { exact: true }).waitFor();
    assert.equal(await alice.page.locator("#app img").count(), 0, "no <img> from a message");
    await screenshot(alice.page, "chat-general-alice-fr");
    await screenshot(bob.page, "chat-general-bob-en");

    assert.equal(await elodie.exitCode(), 0, elodie.report());
    const general = (await shown(alice.page)).map((m) => m.text);
    for (const text of [GREETING, FROM_JAVA, XSS]) {
      assert.equal(general.filter((t) => t === text).length, 1, `${text} once in ${general}`);
    }
    assert.deepEqual([...alice.problems, ...bob.problems], []);
  },
);

Deno.test(
  "a teacher mutes then kicks a student from the console; the student's page says so",
  needs("chromium"),
  async () => {
    await using seeded = await storeWithAdmin("prof", "mot de passe");
    await using srv = await startTestServer({ db: seeded.db, web: true });
    await using browser = await launchBrowser();
    const lea = await signIn(browser, srv, "Léa");
    const prof = await signIn(browser, srv, "prof", { register: false });
    await prof.page.locator(".console-link").click();
    const row = prof.page.locator("main tr", { hasText: "Léa" });
    await row.waitFor();
    await screenshot(prof.page, "console-prof-fr");

    // A draft is being typed when the mute comes: the page is told at once (a `muted` event),
    // locks the composer and keeps the draft for later.
    await lea.page.locator("#composer").fill("mais monsieur !");
    await row.getByRole("button", { name: "Rendre muet" }).click();
    await lea.page.getByText("Un enseignant vous a rendu muet", { exact: false }).waitFor();
    assert.equal(await lea.page.locator("#composer").getAttribute("readonly"), "");
    assert.equal(await lea.page.locator("#composer").inputValue(), "mais monsieur !");
    await screenshot(lea.page, "student-muted-fr");

    await row.getByRole("button", { name: "Exclure" }).click();
    await lea.page.locator('.app[data-state="stopped"]').waitFor();
    await lea.page.getByRole("alert").getByText("Déconnecté par un enseignant").waitFor();
    await screenshot(lea.page, "student-kicked-fr");
    assert.deepEqual([...lea.problems, ...prof.problems], []);
  },
);

Deno.test(
  "the server restarts: the page reconnects by itself and resumes with no gap and no duplicate",
  needs("chromium"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_web_" });
    try {
      const db = `${dir}/classcord.kv`;
      const webPort = freePort();
      let srv = await startTestServer({ db, webPort });
      await using browser = await launchBrowser();
      const alice = await signIn(browser, srv, "alice");
      try {
        {
          await using bob = await srv.connect();
          await bob.loginAs("bob");
          for (const n of [1, 2]) {
            await bob.request({
              type: "message",
              content: `avant ${n}`,
              id: n,
            });
          }
        }
        await alice.page.getByText("avant 2", { exact: true }).waitFor();

        // The server restarts; the page loses the network meanwhile, so the class goes on
        // without her until it is back.
        await srv.server.shutdown();
        await alice.page.locator('.app[data-state="reconnecting"]').waitFor();
        await alice.page.context().setOffline(true);
        // More than one page of history (200) is missed: catching up takes several requests.
        srv = await startTestServer({ db, webPort, limits: FLOOD_LIMITS });
        await screenshot(alice.page, "resume-reconnecting-fr");
        const missed = Array.from({ length: 250 }, (_, i) => `pendant ${i + 1}`);
        {
          await using bob = await srv.connect();
          await bob.login("bob");
          await bob.write(
            missed.map((content, id) => JSON.stringify({ type: "message", content, id }) + "\n")
              .join(""),
          );
          for (const _ of missed) assert.equal((await bob.json()).type, "ack");
        }
        await alice.page.context().setOffline(false);
        await alice.page.locator('.app[data-state="ready"]').waitFor({ timeout: 30_000 });
        await alice.page.getByText("pendant 250", { exact: true }).waitFor();
        // Logged in again with the resume token: the password was never asked.
        assert.equal(await alice.page.locator("#login-pass").count(), 0);
        await screenshot(alice.page, "resume-resumed-fr");
        assert.equal(await alice.page.locator(".gap").count(), 0, "no missing messages marker");

        const messages = await shownAll(alice.page);
        const seqs = messages.map((m) => m.seq);
        assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), "ordered, no duplicate");
        const texts = ["avant 1", "avant 2", ...missed];
        assert.deepEqual(messages.map((m) => m.text), texts, "every message once, in order");
        assert.deepEqual(alice.problems, []);
      } finally {
        await srv.server.shutdown();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
