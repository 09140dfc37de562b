// The inspector in a real browser (Debian's chromium through playwright-core) against a real server
// (docs/web.md §12, docs/protocol.md §11.8): a student sees the lines of their own Java client and of
// their raw TCP client, with the server's reading and a French hint, never a password and never
// another account's lines, and again after F5 and after a server restart; a teacher sees every
// connection's health in the console and inspects an anonymous one. Screenshots:
// artifacts/web/inspector-*.png.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { axeViolations, describeViolations } from "./helpers/axe.ts";
import { launchBrowser, screenshot } from "./helpers/browser.ts";
import { compileJavaClient, javaClient } from "./helpers/legacy_clients.ts";
import { signIn } from "./helpers/web_page.ts";
import { startTestServer, storeWithAdmin } from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";
import { needs } from "./helpers/tools.ts";

/** The student's password: it must never show in the page. */
const PASSWORD = "hunter2-secret";

/** Opens the inspector from the nav as a keyboard user would, and waits for its heading. */
async function openInspector(page: Page): Promise<void> {
  await page.getByRole("link", { name: "Inspecteur", exact: true }).focus();
  await page.keyboard.press("Enter");
  await page.locator("#inspector-h").waitFor();
}

/** The log's line (an `li`) whose raw text contains `text`. */
function wireLine(page: Page, text: string) {
  return page.locator(".wire-line", { has: page.locator(".wire-text", { hasText: text }) });
}

/** Everything the page shows, as text. */
function pageText(page: Page): Promise<string> {
  return page.locator("body").innerText();
}

Deno.test(
  "a student's inspector shows their TCP client's lines, readings and French hints, masks the password, never shows another account, and asks again after F5",
  needs("chromium"),
  async () => {
    await using srv = await startTestServer({ web: true });
    await using browser = await launchBrowser();
    const alice = await signIn(browser, srv, "alice", { password: PASSWORD });
    const page = alice.page;
    await openInspector(page);
    await page.getByText(
      "Connectez votre client Java ou Python avec votre compte (alice)\u202f: ses lignes apparaîtront ici.",
    ).waitFor();
    await screenshot(page, "inspector-empty-fr");

    // Another account's client, busy making mistakes: none of it may show.
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    await bob.write('{"type":"bob-only","content":"de bob"}\n');
    assert.equal((await bob.json()).code, "unknown_type");

    // The student's own client: its login, then mistakes.
    await using tcp = await srv.connect();
    await tcp.login("alice", PASSWORD);
    await page.locator(".conn-card").waitFor();
    assert.match(await page.locator(".conn-card").innerText(), /Connexion n°\s\d+ · alice/);
    await tcp.write('{"type":"message" "content":"oups"}\n');
    assert.equal((await tcp.json()).code, "bad_json");
    await tcp.write('{"type":"msg","content":"salut"}\n');
    assert.equal((await tcp.json()).code, "unknown_type");

    // Bad JSON: the character where reading stopped is marked, and the hint says where.
    const badJson = wireLine(page, '"content":"oups"}');
    await badJson.waitFor();
    assert.equal(await badJson.locator("mark.stop").innerText(), '"');
    assert.match(
      await badJson.locator(".advice").innerText(),
      /^Conseil JSON invalide\s: la lecture s'arrête au caractère 19, marqué ci-dessus/,
    );
    assert.match(await badJson.locator(".wire-meta").innerText(), /Votre client → serveur/);

    // An unknown type: the suggestion, and the error reply highlighted.
    const unknown = wireLine(page, '{"type":"msg","content":"salut"}');
    await unknown.waitFor();
    assert.match(
      await unknown.locator(".advice").innerText(),
      /Type «\smsg\s» inconnu\s: vouliez-vous dire «\smessage\s»\s\?/,
    );
    assert.match(await unknown.locator(".reading").innerText(), /^Refusée \(unknown_type\)/);
    const reply = page.locator('.wire-line[data-dir="out"][data-error]', { hasText: "msg" });
    await reply.waitFor();
    assert.match(await reply.locator(".wire-meta").innerText(), /Serveur → votre client/);
    assert.match(await reply.locator(".wire-meta").innerText(), /erreur renvoyée/);

    // A line without its end waits, then is replaced by the whole line.
    await tcp.write('{"type":"message","content":"ça');
    const waiting = page.locator(".wire-line[data-partial]");
    await waiting.waitFor();
    assert.match(await waiting.innerText(), /en attente de la fin de ligne/);
    assert.match(
      await waiting.locator(".advice").innerText(),
      /Le serveur attend la fin de la ligne/,
    );
    await screenshot(page, "inspector-partial-fr");
    await tcp.write(' va"}\n');
    await wireLine(page, '{"type":"message","content":"ça va"}').waitFor();
    await waiting.waitFor({ state: "detached" });
    assert.match(
      await wireLine(page, "ça va").locator(".reading").innerText(),
      /^Lue comme une demande «\smessage\s»$/,
    );

    // The figures follow the log: 2 lines read since the announcement, plus the message.
    const card = page.locator(".conn-card");
    await card.getByText("unknown_type à").waitFor();
    assert.match(await card.innerText(), /JSON invalide\s*1/);
    assert.match(await card.innerText(), /Types inconnus\s*1/);

    // Another account's lines never, a password never.
    const shown = await pageText(page);
    assert.doesNotMatch(shown, /bob-only|de bob/);
    assert.doesNotMatch(shown, /hunter2/);
    await screenshot(page, "inspector-student-fr");
    for (const colorScheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme });
      const violations = await axeViolations(page);
      assert.deepEqual(violations, [], `${colorScheme}:\n${describeViolations(violations)}`);
    }
    await page.emulateMedia({ colorScheme: "light" });

    // F5: the page resumes, asks `inspect` again, and the client's next lines show; its login line,
    // typed again by the client, shows masked.
    await page.reload();
    await page.locator('.app[data-state="ready"]').waitFor();
    await page.locator(".conn-card").waitFor();
    await tcp.send({ type: "login", username: "alice", password: PASSWORD });
    await tcp.json();
    await wireLine(page, '"password":"••••••"').waitFor();
    assert.doesNotMatch(await pageText(page), /hunter2/);

    // On a phone: everything reachable, nothing wider than the screen.
    await page.setViewportSize({ width: 360, height: 740 });
    const width = await page.evaluate("document.documentElement.scrollWidth");
    assert.ok(Number(width) <= 360, `page ${width} px wide on a 360 px phone`);
    await screenshot(page, "inspector-phone-fr");
    // Leaving it tells the server: the client's lines are no longer recorded for this page.
    await page.getByRole("button", { name: "Conversations" }).click();
    await page.locator("#nav").getByRole("button", { name: "#général" }).click();
    await page.locator("#composer").waitFor();
    assert.deepEqual(alice.problems, []);
  },
);

Deno.test(
  "a student's inspector shows the lines of their Java client (windows-1252) with a French hint",
  needs("chromium", "javac", "java"),
  async () => {
    await using srv = await startTestServer({ web: true });
    await using java = await compileJavaClient();
    await using browser = await launchBrowser();
    const alice = await signIn(browser, srv, "alice", { password: PASSWORD });
    const page = alice.page;
    await openInspector(page);

    // The Java client of the BTS SIO kind: a French Windows charset, one accent in its message.
    // It waits for a classmate's message before it quits.
    await using client = javaClient("alice (Java)", java.classes, srv.port, [
      `login alice ${PASSWORD}`,
      "say Un café ?",
      "users",
      "expect USERS",
      "expect MSG [global] bob: fin",
      "quit",
    ]);
    await client.waitFor("LOGIN OK alice");
    const login = wireLine(page, '{"type":"login","username":"alice","password":"••••••"}');
    await login.waitFor();
    assert.match(
      await login.locator(".reading").innerText(),
      /^Lue comme une demande «\slogin\s»$/,
    );
    const cafe = wireLine(page, '"content":"Un café ?"');
    await cafe.waitFor();
    assert.equal(
      await cafe.locator(".advice").innerText(),
      "Conseil Ligne reçue en Windows-1252, pas en UTF-8\u202f: les emoji et certains caractères " +
        "sont perdus\u202f; écrivez en UTF-8, par ex. new OutputStreamWriter(socket.getOutputStream(), " +
        "StandardCharsets.UTF_8)",
    );
    await wireLine(page, '{"type":"users"}').waitFor();
    await page.locator('.wire-line[data-dir="out"]', { hasText: '"users":[' }).waitFor();
    const card = page.locator(".conn-card");
    assert.match(await card.innerText(), /TCP · 127\.0\.0\.1/);
    await screenshot(page, "inspector-java-fr");
    assert.doesNotMatch(await pageText(page), /hunter2/);

    // A classmate's message ends the client's script; its connection then shows as closed.
    await using bob = await srv.connect();
    await bob.loginAs("bob");
    await bob.send({ type: "message", content: "fin" });
    assert.equal(await client.exitCode(), 0, client.report());
    await page.locator('.conn-card[data-state="closed"]').first().waitFor();
    assert.deepEqual(alice.problems, []);
  },
);

Deno.test(
  "the console shows every connection's protocol health, and inspects an anonymous one",
  needs("chromium"),
  async () => {
    await using seeded = await storeWithAdmin("prof", "mot de passe");
    await using srv = await startTestServer({ db: seeded.db, web: true });
    // A client that never logs in: a line that is not JSON, then a failed login.
    await using anon = await srv.connect();
    await anon.write("hello\n");
    assert.equal((await anon.json()).code, "bad_json");
    await anon.write('{"type":"login","username":"x","password":"s3cr3t-x"}\n');
    assert.equal((await anon.json()).code, "auth_failed");
    await using browser = await launchBrowser();
    const prof = await signIn(browser, srv, "prof", { register: false });
    const page = prof.page;
    await page.evaluate(() => {
      location.hash = "#/console";
    });
    const card = page.locator(".conn-card", { hasText: "non identifiée" });
    await card.waitFor();
    const text = await card.innerText();
    for (
      const figure of [
        /Lignes reçues\s*2/,
        /Erreurs\s*2/,
        /JSON invalide\s*1/,
        /Types inconnus\s*0/,
        /Limites atteintes\s*0/,
        /Dernière erreur\s*auth_failed à \d\d:\d\d:\d\d/,
        /TCP · 127\.0\.0\.1 · ouverte aujourd’hui à \d\d:\d\d/,
      ]
    ) assert.match(text, figure);
    await card.scrollIntoViewIfNeeded();
    await screenshot(page, "inspector-console-fr");
    await page.setViewportSize({ width: 360, height: 740 });
    await card.scrollIntoViewIfNeeded();
    await screenshot(page, "inspector-console-phone-fr");
    await page.setViewportSize({ width: 1280, height: 800 });

    // "Inspecter": its lines so far (before any login), then live; the password never.
    await card.getByRole("link", { name: /^Inspecter la connexion n°\s\d+$/ }).click();
    await page.locator("#inspector-h").waitFor();
    assert.match(
      await page.locator("#inspector-h").innerText(),
      /^Inspecteur\s: connexion n°\s\d+$/,
    );
    const hello = wireLine(page, "hello");
    await hello.waitFor();
    assert.match(await hello.locator(".wire-meta").innerText(), /Client → serveur/);
    assert.match(
      await hello.locator(".advice").innerText(),
      /^Conseil Ce n'est pas du JSON\s: chaque ligne/,
    );
    await wireLine(page, '"password":"••••••"').waitFor();
    await anon.write('{"type":"users"}\n');
    await anon.json();
    await wireLine(page, '{"type":"users"}').locator(".reading", { hasText: "users" }).waitFor();
    assert.doesNotMatch(await pageText(page), /s3cr3t/);
    const violations = await axeViolations(page);
    assert.deepEqual(violations, [], describeViolations(violations));
    await screenshot(page, "inspector-teacher-fr");

    // The connection ends: said, and its card is closed.
    anon.close();
    await page.getByText("Cette connexion est fermée\u202f: plus rien ne viendra.").waitFor();
    await page.locator('.conn-card[data-state="closed"]').waitFor();
    await page.getByRole("link", { name: "Retour à la console" }).click();
    await page.locator("#console-h").waitFor();
    assert.deepEqual(prof.problems, []);
  },
);

Deno.test(
  "after a server restart the inspector asks again: the client's new connection shows, the old one is closed",
  needs("chromium"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "classcord_inspector_" });
    try {
      const db = `${dir}/classcord.kv`;
      const webPort = freePort();
      let srv = await startTestServer({ db, webPort });
      await using browser = await launchBrowser();
      const alice = await signIn(browser, srv, "alice", { password: PASSWORD });
      const page = alice.page;
      try {
        await openInspector(page);
        {
          await using tcp = await srv.connect();
          await tcp.login("alice", PASSWORD);
          await tcp.write('{"type":"users","avant":true}\n');
          await tcp.json();
          await wireLine(page, '"avant":true').waitFor();
        }
        // The client closed: said by the server. Then the server restarts.
        await page.locator('.conn-card[data-state="closed"]').waitFor();
        await using tcp2 = await srv.connect();
        await tcp2.login("alice", PASSWORD);
        await page.locator('.conn-card:not([data-state="closed"])').waitFor();
        await srv.server.shutdown();
        await page.locator('.app[data-state="reconnecting"]').waitFor();
        srv = await startTestServer({ db, webPort });
        await page.locator('.app[data-state="ready"]').waitFor({ timeout: 30_000 });
        // The connection open before the restart is gone with it: shown closed once the page has
        // asked again, as the server no longer announces it.
        await page.locator('.conn-card:not([data-state="closed"])').waitFor({ state: "detached" });
        // The client comes back (the server may give it a number it gave before): a new card, its
        // lines after the old ones.
        await using tcp3 = await srv.connect();
        await tcp3.login("alice", PASSWORD);
        await tcp3.write('{"type":"users","apres":true}\n');
        await tcp3.json();
        await wireLine(page, '"apres":true').waitFor();
        assert.equal(await page.locator(".conn-card").count(), 3);
        // The same number before and after the restart: the lines say which by the opening time.
        const before = await wireLine(page, '"avant":true').locator(".tag").innerText();
        const after = await wireLine(page, '"apres":true').locator(".tag").innerText();
        assert.match(before, /^Connexion n°\s2 · \d\d:\d\d:\d\d$/);
        assert.match(after, /^Connexion n°\s2 · \d\d:\d\d:\d\d$/);
        const lines = await page.locator(".wire-text").allInnerTexts();
        assert.ok(
          lines.findIndex((l) => l.includes('"avant":true')) <
            lines.findIndex((l) => l.includes('"apres":true')),
          lines.join("\n"),
        );
        await screenshot(page, "inspector-restart-fr");
        assert.deepEqual(alice.problems, []);
      } finally {
        await srv.server.shutdown();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
