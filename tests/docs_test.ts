// The repository carries its own spec: no file cites a document outside it, and every citation of
// a section of docs/ ("docs/protocol.md §5.3") names a heading that exists.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Where code, tests, scripts, docs and deployment files live: every file under them is read. */
const SCANNED = [
  "src",
  "web",
  "tests",
  "scripts",
  "docs",
  "monitoring",
  "deploy",
  ".ci",
  "README.md",
  "compose.yaml",
  "Dockerfile",
];
/** Never read: installed packages and build output. */
const SKIPPED_DIRS = new Set(["node_modules", "dist", "artifacts"]);

/**
 * Files that still cite an outside document because another engineer is rewriting them; the
 * exact replacements are listed for the lead, who applies them and then empties this list. A
 * listed file that no longer cites one fails the test, so the list cannot go stale.
 */
const PENDING_CITATIONS = new Set<string>([]);

// The outside notes, by file name or by their section style ("B.7", "A.1"); built from parts so
// this file does not match itself.
const OUTSIDE = [
  new RegExp(["\\bPROTO", "COL\\b"].join("")),
  new RegExp(["\\b(?:WEB|CLUSTER|STYLE)\\.", "md\\b"].join("")),
  new RegExp(["\\b(?:WEB|CLUSTER|STYLE) ", "§"].join("")),
  new RegExp(["\\.\\./sha", "red\\b"].join("")),
  new RegExp(["(?<![\\w.])[AB]\\.", "\\d+(?:\\.\\d+)?\\b"].join("")),
];

// `docs/protocol.md §5.3`, also written `docs/protocol.md` §5.3 or [docs/protocol.md](...) §5.3,
// with more sections after it: "§3.3, §4.4" or "§12.1 and §4.6".
const SECTION = String.raw`§\d+(?:\.\d+)*`;
const CITATION = new RegExp(
  String.raw`(docs/[\w/-]+\.md)(?:\x60|\]\([^)]*\))? (${SECTION}(?:(?:,| and) ${SECTION})*)`,
  "g",
);

/** Every text file under the scanned paths, by path from the repository root. */
async function files(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function visit(rel: string): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(ROOT + rel);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    if (info.isDirectory) {
      for await (const e of Deno.readDir(ROOT + rel)) {
        if (!SKIPPED_DIRS.has(e.name)) await visit(`${rel}/${e.name}`);
      }
    } else if (info.isFile) {
      const bytes = await Deno.readFile(ROOT + rel);
      if (!bytes.includes(0)) out.set(rel, new TextDecoder().decode(bytes));
    }
  }
  for (const path of SCANNED) await visit(path);
  return out;
}

/** The numbered headings of a Markdown file ("## 5. Limits" → "5", "### 5.3 Line size" → "5.3"). */
export function sectionsOf(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = !fenced && /^#{1,6} (\d+(?:\.\d+)*)\.? /.exec(line);
    if (m) out.add(m[1]);
  }
  return out;
}

/** Each `docs/<file>.md §N` citation of a text, one per section named. */
export function citationsOf(text: string): { doc: string; section: string; line: number }[] {
  const out: { doc: string; section: string; line: number }[] = [];
  for (const m of text.matchAll(CITATION)) {
    const line = text.slice(0, m.index).split("\n").length;
    for (const s of m[2].matchAll(/§(\d+(?:\.\d+)*)/g)) {
      out.push({ doc: m[1], section: s[1], line });
    }
  }
  return out;
}

const ALL = await files();
const SELF = "tests/docs_test.ts";

Deno.test("no file cites a document outside the repository", () => {
  const found: string[] = [];
  const cleanPending: string[] = [];
  for (const [path, text] of ALL) {
    if (path === SELF) continue;
    const hits = text.split("\n").flatMap((line, i) =>
      OUTSIDE.some((re) => re.test(line)) ? [`${path}:${i + 1}: ${line.trim()}`] : []
    );
    if (PENDING_CITATIONS.has(path)) {
      if (hits.length === 0) cleanPending.push(path);
    } else found.push(...hits);
  }
  assert.deepEqual(found, [], "cite a section of docs/ instead");
  assert.deepEqual(cleanPending, [], "no outside citation left: remove from PENDING_CITATIONS");
  for (const path of PENDING_CITATIONS) assert.ok(ALL.has(path), `"${path}" does not exist`);
});

Deno.test("every docs/<file>.md §N citation names a numbered section of that file", () => {
  const sections = new Map<string, Set<string>>();
  const missing: string[] = [];
  let count = 0;
  for (const [path, text] of ALL) {
    if (path === SELF) continue;
    for (const c of citationsOf(text)) {
      count++;
      if (!sections.has(c.doc)) {
        const doc = ALL.get(c.doc);
        sections.set(c.doc, doc === undefined ? new Set() : sectionsOf(doc));
      }
      if (!sections.get(c.doc)!.has(c.section)) {
        missing.push(`${path}:${c.line}: ${c.doc} §${c.section}`);
      }
    }
  }
  assert.deepEqual(missing, [], "no such section");
  // The code cites the docs well over a hundred times: a parser that finds none is broken.
  assert.ok(count > 100, `only ${count} citations found`);
});

Deno.test("citationsOf() reads every section of a list, in each written form", () => {
  const text = "a (docs/protocol.md §3.3, §4.4)\nb `docs/web.md` §7 and §8\n" +
    "c [docs/cluster.md](cluster.md) §3.1; d docs/protocol.md, section 5";
  assert.deepEqual(citationsOf(text), [
    { doc: "docs/protocol.md", section: "3.3", line: 1 },
    { doc: "docs/protocol.md", section: "4.4", line: 1 },
    { doc: "docs/web.md", section: "7", line: 2 },
    { doc: "docs/web.md", section: "8", line: 2 },
    { doc: "docs/cluster.md", section: "3.1", line: 3 },
  ]);
  assert.deepEqual(
    sectionsOf("# Title\n## 5. Limits\n### 5.3 Line size\n```\n## 9. Not a heading\n```\n"),
    new Set(["5", "5.3"]),
  );
});
