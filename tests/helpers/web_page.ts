// What the web app's browser tests do on a page: watch it for errors, sign in as a user, post,
// and read the messages shown.
import type { Page } from "playwright-core";
import type { TestBrowser } from "./browser.ts";
import type { TestServer } from "./test_server.ts";

/** Everything a page did wrong: uncaught errors, alert() and the like, CSP refusals. */
export function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("dialog", (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  page.on("console", (msg) => {
    // A WebSocket failing while the server is down is expected; anything else is not.
    if (msg.type() === "error" && !/WebSocket/.test(msg.text())) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  return problems;
}

/** Opens the app as `name`, registering first unless `login` says the account exists. */
export async function signIn(
  browser: TestBrowser,
  srv: TestServer,
  name: string,
  options: { password?: string; register?: boolean; locale?: string; width?: number } = {},
): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.user({ locale: options.locale, width: options.width });
  const problems = watch(page);
  await page.goto(`http://127.0.0.1:${srv.server.webPort}/`);
  if (options.register ?? true) await page.locator("button.link").click();
  await page.locator("#login-user").fill(name);
  await page.locator("#login-pass").fill(options.password ?? "mot de passe");
  // Registering asks for the password twice.
  const confirm = page.locator("#login-pass2");
  if (await confirm.count() > 0) await confirm.fill(options.password ?? "mot de passe");
  await page.locator("#login-pass").press("Enter");
  await page.locator('.app[data-state="ready"]').waitFor();
  return { page, problems };
}

/** Types `text` into the composer of the open conversation and sends it. */
export async function post(page: Page, text: string): Promise<void> {
  await page.locator("#composer").fill(text);
  await page.locator("#composer").press("Enter");
}

/** The content of every message shown in the open conversation, in order, with its seq. */
export function shown(page: Page): Promise<{ seq: number; text: string }[]> {
  return page.locator("li[data-seq]").evaluateAll((items) =>
    items.map((li) => ({
      seq: Number(li.getAttribute("data-seq")),
      text: li.querySelector(".text")?.textContent ?? "",
    }))
  );
}

/**
 * Every message of the open conversation, oldest first, as `shown` gives them: the log renders
 * a window of rows, so this scrolls it up (older pages load as a reader's would) until the start
 * of the history, gathering the rows on the way.
 */
export async function shownAll(page: Page): Promise<{ seq: number; text: string }[]> {
  let all = await shown(page);
  for (let step = 0; step < 1000; step++) {
    const atStart = await page.evaluate(async () => {
      // Runs in the page: the browser's globals (this module is checked without DOM types).
      // deno-lint-ignore no-explicit-any
      const { document, requestAnimationFrame, performance } = globalThis as any;
      const log = document.querySelector(".log");
      const first = () => log.querySelector("li[data-seq]")?.getAttribute("data-seq");
      const done = () => log.querySelector(".history-start") !== null;
      if (done()) return true;
      const before = first();
      log.scrollTop = 0;
      const deadline = performance.now() + 10_000;
      while (first() === before && !done() && performance.now() < deadline) {
        await new Promise((r) => requestAnimationFrame(r));
      }
      return false;
    });
    const rows = await shown(page);
    const at = rows.findIndex((r) => r.seq === all[0]?.seq);
    if (at > 0) all = [...rows.slice(0, at), ...all];
    if (atStart) return all;
  }
  throw new Error("The start of the history was not reached");
}
