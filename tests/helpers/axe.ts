// Accessibility checks of the web app in the real browser: axe-core (the engine of the browsers'
// own accessibility audits) injected into the page, every rule of WCAG 2.1 A and AA run.
import { createRequire } from "node:module";
import type { Page } from "playwright-core";

const require = createRequire(import.meta.url);
// axe-core ships one self-contained script; read once, injected into each page checked.
const AXE_SOURCE: string = Deno.readTextFileSync(require.resolve("axe-core/axe.min.js"));

/** One rule broken, with the elements that break it. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Runs axe on the page as it is now (or on `selector` within it) and returns every violation of
 * any impact. The Content-Security-Policy of the app forbids inline scripts: the script is added
 * through the DevTools protocol, which the policy does not govern.
 */
export async function axeViolations(page: Page, selector?: string): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  return await page.evaluate(async (context) => {
    // Runs in the page: its globals are the browser's (this module is checked without DOM types).
    // deno-lint-ignore no-explicit-any
    const { axe, document } = globalThis as any;
    const result = await axe.run(context ?? document, {
      runOnly: {
        type: "tag",
        values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
      },
    });
    // deno-lint-ignore no-explicit-any
    return result.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      // deno-lint-ignore no-explicit-any
      nodes: v.nodes.map((n: any) => n.target.join(" ")),
    }));
  }, selector);
}

/** A violation list as lines for an assertion message. */
export function describeViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.impact} ${v.id}: ${v.help}\n    ${v.nodes.join("\n    ")}`)
    .join("\n");
}
