// The student chat page under daily use, in a real browser (Debian's chromium through
// playwright-core) beside real TCP clients: bursts of typing, mutes lifted, private conversations
// across reloads, one's own status, the network going away. Screenshots: artifacts/web/.
import assert from "node:assert/strict";
import { launchBrowser, screenshot } from "./helpers/browser.ts";
import { post, shown, signIn } from "./helpers/web_page.ts";
import { startTestServer, type TestClient } from "./helpers/test_server.ts";
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
