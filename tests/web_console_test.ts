// The teacher console in a real browser (Debian's chromium through playwright-core), with the
// students on real TCP connections: what a teacher sees and does in daily use. Screenshots:
// artifacts/web/console-*.png.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { axeViolations, describeViolations } from "./helpers/axe.ts";
import { launchBrowser, screenshot } from "./helpers/browser.ts";
import { signIn } from "./helpers/web_page.ts";
import { startTestServer, storeWithAdmin, type TestClient } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

const PASSWORD = "mot de passe";
/** A console row on a phone: at most this tall (see the phone test for why). */
const PHONE_ROW_MAX_PX = 120;

/** Opens the console of a signed-in teacher's page, as its link does, and waits for its rows. */
async function openConsole(page: Page, size = { width: 1280, height: 800 }): Promise<void> {
  await page.setViewportSize(size);
  await page.evaluate(() => {
    location.hash = "#/console";
  });
  await page.locator("#console-h").waitFor();
  await page.locator("main tbody tr").first().waitFor();
}

/** The console's row of a name (its row header is exactly the name). */
function row(page: Page, name: string) {
  return page.locator("main tbody tr", {
    has: page.locator("th", { hasText: new RegExp(`^${name}`) }),
  });
}

/** The items of a console card, by its heading's id. */
function items(page: Page, headingId: string) {
  return page.locator(`section[aria-labelledby="${headingId}"] li`);
}

/** Posts in #général from a TCP client; the `ack` or the refusal. */
async function postFrom(c: TestClient, content: string, id: number) {
  await c.send({ type: "message", content, id });
  for (;;) {
    const line = await c.json();
    if (line.type === "ack" || line.type === "error") return line;
  }
}

Deno.test(
  "the console offers no action on the teacher's own row; running mutes are listed, kept current and lifted",
  needs("chromium"),
  async () => {
    await using seeded = await storeWithAdmin("prof", PASSWORD);
    await using srv = await startTestServer({ db: seeded.db, web: true });
    await using lea = await srv.connect();
    await lea.loginAs("Léa");
    await using browser = await launchBrowser();
    const prof = await signIn(browser, srv, "prof", { register: false, password: PASSWORD });
    const page = prof.page;
    await openConsole(page);

    // Defect 5: nothing to click on one's own row (the server refuses it anyway).
    const own = row(page, "prof");
    await own.getByText("Vous (aucune action sur votre propre nom)").waitFor();
    assert.equal(await own.getByRole("button").count(), 0, "no kick/mute/ban on oneself");
    const other = row(page, "Léa");
    for (const name of ["Exclure", "Rendre muet", "Bannir"]) {
      assert.equal(await other.getByRole("button", { name, exact: true }).count(), 1, name);
    }
    await screenshot(page, "console-own-row-fr");

    // A mute from the row: listed with its end, the row says so, the student is refused.
    await other.getByRole("button", { name: "Rendre muet", exact: true }).click();
    const mutes = items(page, "mutes-h");
    await mutes.filter({ hasText: "Léa" }).waitFor();
    assert.match(
      await mutes.filter({ hasText: "Léa" }).innerText(),
      /^Léa\s+prend fin aujourd’hui à \d\d:\d\d \(encore (5 min|4 min 5\d s)\)\s+Lever$/,
    );
    await other.getByText("muet", { exact: true }).waitFor();
    assert.equal((await postFrom(lea, "mais monsieur !", 1)).code, "forbidden");

    // Kept current: a mute given elsewhere (the teacher's other session) shows without a click.
    await using profTcp = await srv.connect();
    await profTcp.login("prof", PASSWORD);
    const tom = await profTcp.call({ type: "mute", user: "Tom", duration: 600 });
    assert.equal(tom.status, "ok");
    await mutes.filter({ hasText: "Tom" }).waitFor({ timeout: 15_000 });
    await screenshot(page, "console-mutes-fr");

    // "Lever": the mute ends at once, the list follows, the student writes again.
    await page.getByRole("button", { name: "Lever le silence de Léa" }).click();
    await page.getByRole("status").getByText("Léa peut de nouveau écrire").waitFor();
    await mutes.filter({ hasText: "Léa" }).waitFor({ state: "detached" });
    assert.equal(await mutes.count(), 1, "Tom's mute stays");
    assert.equal((await postFrom(lea, "merci", 2)).type, "ack");
    await page.getByRole("button", { name: "Lever le silence de Tom" }).click();
    await page.getByText("Personne n'est muet.").waitFor();
    await screenshot(page, "console-mutes-lifted-fr");
    assert.deepEqual(prof.problems, []);
  },
);

Deno.test(
  "the console mutes and bans a registered user who is offline, completing the name; bans show it as given with its end",
  needs("chromium"),
  async () => {
    await using seeded = await storeWithAdmin("prof", PASSWORD);
    await using srv = await startTestServer({ db: seeded.db, web: true });
    {
      await using zoe = await srv.connect();
      await zoe.loginAs("Zoé");
    } // Zoé has left: nobody under that name is online
    await using lea = await srv.connect();
    await lea.loginAs("Léa");
    await using browser = await launchBrowser();
    const prof = await signIn(browser, srv, "prof", { register: false, password: PASSWORD });
    const page = prof.page;
    await openConsole(page);

    // Name completion from the registered names, online or not (directory).
    const input = page.getByRole("combobox", { name: "Nom" });
    await input.focus();
    await page.keyboard.type("zo");
    await page.locator('#by-name-list option[value="Zoé"]').waitFor({ state: "attached" });
    await page.locator("#by-name-for").scrollIntoViewIfNeeded();
    await screenshot(page, "console-by-name-fr");

    // One's own name, typed in full: refused here, nothing sent.
    await input.fill("PROF");
    await input.press("Enter");
    await page.getByRole("alert").getByText("Vous ne pouvez ni vous rendre muet ni vous bannir")
      .waitFor();
    await page.getByRole("button", { name: "Bannir…" }).click();
    assert.equal(await page.getByRole("dialog").count(), 0, "no ban dialog for oneself");

    // Keyboard only: the name, the duration, Enter mutes.
    await input.fill("");
    await page.keyboard.type("Zoé");
    await page.keyboard.press("Tab"); // the hint under the name is text: the duration is next
    assert.equal(await page.evaluate("document.activeElement?.id"), "by-name-for");
    await page.locator("#by-name-for").selectOption({ label: "15 min" });
    await input.press("Enter");
    const mutes = items(page, "mutes-h");
    await mutes.filter({ hasText: "Zoé" }).waitFor();
    assert.match(await mutes.first().innerText(), /^Zoé\s+prend fin aujourd’hui à \d\d:\d\d/);
    {
      await using zoe = await srv.connect();
      await zoe.login("Zoé");
      const refused = await postFrom(zoe, "coucou", 1);
      assert.equal(refused.code, "forbidden", JSON.stringify(refused));
    }

    // A ban of the offline name, 7 days, confirmed; listed as the server spells it, with its end.
    await input.fill("Zoé");
    await page.locator("#by-name-for").selectOption({ label: "7 j" });
    await page.getByRole("button", { name: "Bannir…" }).click();
    const dialog = page.getByRole("dialog", { name: "Bannir Zoé ?" });
    await dialog.waitFor();
    assert.equal(await dialog.locator("#ban-for").inputValue(), String(7 * 86400));
    await screenshot(page, "console-ban-dialog-fr");
    await dialog.getByRole("button", { name: "Bannir", exact: true }).click();
    const bans = items(page, "bans-h");
    await bans.first().waitFor();
    assert.equal(await bans.first().locator(".who").textContent(), "Zoé", "not folded to zoé");
    assert.match(
      await bans.first().innerText(),
      /^Zoé\s+prend fin le \d{1,2}(er)? \p{L}+ à \d\d:\d\d \(encore (7 j|6 j 23 h)\)\s+Lever le bannissement$/u,
    );
    // And a connected student banned from the row: her display case too.
    await row(page, "Léa").getByRole("button", { name: "Bannir", exact: true }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Bannir", exact: true }).click();
    await bans.filter({ hasText: "Léa" }).waitFor();
    assert.deepEqual(await bans.locator(".who").allTextContents(), ["Léa", "Zoé"]);
    await page.locator("#console-h").scrollIntoViewIfNeeded(); // the outcome line, then the lists
    await screenshot(page, "console-bans-fr");
    {
      await using zoe = await srv.connect();
      const refused = await zoe.request({ type: "login", username: "zoé", password: "secret" });
      assert.equal(refused.code, "forbidden", JSON.stringify(refused));
    }
    assert.deepEqual(prof.problems, []);
  },
);

Deno.test(
  "the console's times read as sentences: started today at a time, connected for a duration",
  needs("chromium"),
  async () => {
    await using seeded = await storeWithAdmin("prof", PASSWORD);
    await using srv = await startTestServer({ db: seeded.db, web: true });
    await using lea = await srv.connect();
    await lea.loginAs("Léa");
    await using browser = await launchBrowser();
    for (
      const [locale, started, since] of [
        [
          "fr-FR",
          /^Serveur démarré aujourd’hui à \d\d:\d\d, en marche depuis \d+ (s|min)/,
          "Connecté depuis",
        ],
        ["en-US", /^Server started today at \d\d:\d\d, running for \d+ (s|min)/, "Connected for"],
      ] as const
    ) {
      const prof = await signIn(browser, srv, "prof", {
        register: false,
        password: PASSWORD,
        locale,
      });
      await openConsole(prof.page);
      const text = prof.page.locator(".started");
      await text.waitFor();
      assert.match(await text.innerText(), started);
      await prof.page.getByRole("columnheader", { name: since }).waitFor();
      assert.match(
        await row(prof.page, "Léa").locator("td.col-since").innerText(),
        /^\d+ (s|min)( \d+ s)?$/,
      );
      await screenshot(prof.page, `console-times-${locale.slice(0, 2)}`);
      assert.deepEqual(prof.problems, []);
    }
  },
);

Deno.test(
  "on a phone (360×740) a console row is short and its actions are on screen",
  needs("chromium"),
  async () => {
    await using seeded = await storeWithAdmin("prof", PASSWORD);
    await using srv = await startTestServer({ db: seeded.db, web: true });
    await using lea = await srv.connect();
    await lea.loginAs("Léa");
    await using browser = await launchBrowser();
    const prof = await signIn(browser, srv, "prof", {
      register: false,
      password: PASSWORD,
      width: 360,
    });
    await openConsole(prof.page, { width: 360, height: 740 });
    const first = prof.page.locator("main tbody tr").first();
    const buttons = first.getByRole("button");
    assert.equal(await buttons.count(), 3, "Léa's row comes first, with its three actions");
    for (const b of await buttons.all()) {
      const box = await b.boundingBox();
      assert.ok(box, "button laid out");
      assert.ok(
        box.x >= 0 && box.x + box.width <= 360,
        `${await b.innerText()} off-screen: ${JSON.stringify(box)}`,
      );
    }
    // 120 px: the name, its figures and one line of 44 px buttons; five people per screen of
    // 740 px under the header, where the unstacked table gave 259 px to each row.
    const height = (await first.boundingBox())?.height ?? Infinity;
    assert.ok(height <= PHONE_ROW_MAX_PX, `row ${height} px tall`);
    await first.scrollIntoViewIfNeeded();
    await screenshot(prof.page, "console-phone-fr");
    assert.deepEqual(prof.problems, []);
  },
);

Deno.test(
  "the console's skip link reaches it, and axe finds nothing on it and its dialog, fr and en, light and dark",
  needs("chromium"),
  async () => {
    await using seeded = await storeWithAdmin("prof", PASSWORD);
    await using srv = await startTestServer({ db: seeded.db, web: true });
    await using lea = await srv.connect();
    await lea.loginAs("Léa");
    await using profTcp = await srv.connect();
    await profTcp.login("prof", PASSWORD);
    assert.equal((await profTcp.call({ type: "mute", user: "Tom", duration: 600 })).status, "ok");
    assert.equal((await profTcp.call({ type: "ban", user: "Zoé", duration: 3600 })).status, "ok");
    await using browser = await launchBrowser();
    for (const locale of ["fr-FR", "en-US"]) {
      const prof = await signIn(browser, srv, "prof", {
        register: false,
        password: PASSWORD,
        locale,
      });
      const p = prof.page;
      await openConsole(p);
      await items(p, "mutes-h").first().waitFor();
      await items(p, "bans-h").first().waitFor();

      // The skip link's target exists here, and takes the focus.
      const href = await p.locator("a.skip").getAttribute("href");
      assert.equal(await p.locator(href ?? "#").count(), 1, `skip link to ${href}`);
      await p.locator("a.skip").focus();
      await screenshot(p, `console-skip-${locale.slice(0, 2)}`);
      await p.keyboard.press("Enter");
      assert.equal(await p.evaluate("document.activeElement?.id"), "console-h");

      for (const colorScheme of ["light", "dark"] as const) {
        await p.emulateMedia({ colorScheme });
        const where = `${locale} ${colorScheme}`;
        const onPage = await axeViolations(p);
        assert.deepEqual(onPage, [], `${where}:\n${describeViolations(onPage)}`);
        await row(p, "Léa").getByRole("button", { name: /^(Bannir|Ban)$/ }).click();
        await p.getByRole("dialog").waitFor();
        const inDialog = await axeViolations(p);
        await screenshot(p, `console-axe-${locale.slice(0, 2)}-${colorScheme}`);
        await p.keyboard.press("Escape");
        await p.getByRole("dialog").waitFor({ state: "hidden" });
        assert.deepEqual(inDialog, [], `${where}, ban dialog:\n${describeViolations(inDialog)}`);
      }
      assert.deepEqual(prof.problems, []);
    }
  },
);
