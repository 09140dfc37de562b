// A real browser for the web app's tests: Debian's chromium driven by playwright-core, headless,
// one context (its own storage) per user. Screenshots go to artifacts/web/, kept after the run
// for a person to look at (git-ignored).
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { which } from "./tools.ts";

/** Where screenshots are written. */
export const ARTIFACTS: string = fileURLToPath(new URL("../../artifacts/web/", import.meta.url));

/** A launched chromium; disposing of it closes every page. */
export interface TestBrowser extends AsyncDisposable {
  browser: Browser;
  /** A new user: a context of its own (no storage shared with the others) and its page. */
  user(options?: { locale?: string; width?: number }): Promise<Page>;
}

/** Launches Debian's chromium headless (no sandbox when running as root, as in CI containers). */
export async function launchBrowser(): Promise<TestBrowser> {
  const executablePath = which("chromium");
  if (!executablePath) throw new Error("chromium not found (Debian: apt-get install chromium)");
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    chromiumSandbox: Deno.uid() !== 0,
    // Nothing on the internet is ever asked for: a request leaving loopback fails at once.
    // (loopback is never proxied; the proxy on port 9 does not exist).
    args: ["--proxy-server=http://127.0.0.1:9"],
  });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async user(options = {}) {
      const context = await browser.newContext({
        locale: options.locale ?? "fr-FR",
        viewport: { width: options.width ?? 1100, height: 760 },
      });
      contexts.push(context);
      const page = await context.newPage();
      // A page error is a failure of the app: surface it in the test's output.
      page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
      return page;
    },
    async [Symbol.asyncDispose]() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
    },
  };
}

/** Saves a full-page screenshot as artifacts/web/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const path = `${ARTIFACTS}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}
