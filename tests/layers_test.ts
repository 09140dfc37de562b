// The architecture of STYLE.md, checked on the real import graph of src/.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

interface Import {
  target: string;
  typeOnly: boolean;
}

async function modules(): Promise<Map<string, { text: string; imports: Import[] }>> {
  const out = new Map<string, { text: string; imports: Import[] }>();
  async function walk(dir: string): Promise<void> {
    for await (const e of Deno.readDir(SRC + dir)) {
      const rel = dir + e.name;
      if (e.isDirectory) await walk(rel + "/");
      else if (rel.endsWith(".ts") && !rel.endsWith("_test.ts")) {
        const text = await Deno.readTextFile(SRC + rel);
        const imports: Import[] = [];
        for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)) {
          const spec = m[2];
          const target = spec.startsWith(".")
            ? new URL(spec, `file:///${rel}`).pathname.slice(1)
            : spec;
          imports.push({ target, typeOnly: m[1] !== undefined });
        }
        for (const m of text.matchAll(/new URL\("(\.[^"]+\.ts)", import\.meta\.url\)/g)) {
          imports.push({
            target: new URL(m[1], `file:///${rel}`).pathname.slice(1),
            typeOnly: false,
          });
        }
        out.set(rel, { text, imports });
      }
    }
  }
  await walk("");
  return out;
}

// main → server → transport, http → hub → session → protocol → errors (STYLE.md).
const CHAIN = ["main.ts", "server.ts", "transport/", "hub/", "session/", "protocol/", "errors.ts"];
const rank = (path: string) => CHAIN.findIndex((p) => path === p || path.startsWith(p));

Deno.test("src/ imports only go down the layer chain (types excepted)", async () => {
  const graph = await modules();
  // The parser really sees the graph: a known value import and a known type import.
  const session = graph.get("session/session.ts")!.imports;
  assert.ok(session.some((i) => i.target === "protocol/schema.ts" && !i.typeOnly));
  assert.ok(session.some((i) => i.target === "hub/hub.ts" && i.typeOnly));
  for (const [path, { imports }] of graph) {
    for (const imp of imports) {
      if (imp.typeOnly || !imp.target.endsWith(".ts")) continue;
      const from = rank(path);
      const to = rank(imp.target);
      if (from < 0 || to < 0) continue;
      assert.ok(from <= to, `${path} imports ${imp.target}, which is above it`);
    }
  }
});

Deno.test("protocol/ is pure: only errors.ts, zod and itself, no Deno APIs", async () => {
  for (const [path, { text, imports }] of await modules()) {
    if (!path.startsWith("protocol/")) continue;
    for (const imp of imports) {
      assert.ok(
        imp.target === "zod" || imp.target === "errors.ts" || imp.target.startsWith("protocol/"),
        `${path} imports ${imp.target}`,
      );
    }
    assert.doesNotMatch(text, /\bDeno\./, `${path} uses Deno`);
  }
});

Deno.test("session/ sees store, hasher, hub and clock as types only", async () => {
  for (const [path, { imports }] of await modules()) {
    if (!path.startsWith("session/")) continue;
    for (const imp of imports) {
      const seam = ["store/", "hub/", "auth/password", "clock.ts", "transport/", "server.ts"]
        .some((p) => imp.target.startsWith(p));
      assert.ok(!seam || imp.typeOnly, `${path} imports ${imp.target} as a value`);
    }
  }
});

Deno.test("only transport/ and http.ts open sockets; only server.ts picks implementations", async () => {
  for (const [path, { text, imports }] of await modules()) {
    if (!path.startsWith("transport/") && path !== "http.ts") {
      assert.doesNotMatch(text, /Deno\.(listen|listenTls|connect|serve)\(/, path);
    }
    if (path !== "server.ts") {
      for (const imp of imports) {
        if (imp.typeOnly) continue;
        assert.ok(!imp.target.startsWith("store/kv_"), `${path} picks the KV store`);
      }
    }
  }
});

Deno.test("src/ has no import cycles and no barrel files", async () => {
  const graph = await modules();
  for (const path of graph.keys()) {
    assert.ok(!/(^|\/)(mod|index)\.ts$/.test(path), `${path} is a barrel`);
  }
  const state = new Map<string, "visiting" | "done">();
  const visit = (path: string, trail: string[]): void => {
    if (state.get(path) === "done") return;
    assert.notEqual(state.get(path), "visiting", `cycle: ${[...trail, path].join(" → ")}`);
    state.set(path, "visiting");
    for (const imp of graph.get(path)?.imports ?? []) {
      if (!imp.typeOnly && graph.has(imp.target)) visit(imp.target, [...trail, path]);
    }
    state.set(path, "done");
  };
  for (const path of graph.keys()) visit(path, []);
});
