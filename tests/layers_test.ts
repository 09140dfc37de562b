// The layer rules of docs/architecture.md, checked on the real import graph of src/ and scripts/.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

interface Import {
  target: string;
  typeOnly: boolean;
  /** Named by `new URL(..., import.meta.url)`: a worker, or a program a script starts. */
  byUrl?: boolean;
}

interface Module {
  text: string;
  imports: Import[];
}

/**
 * Every module (.ts, .tsx; tests too when `withTests`) under `dir`, by path from the repository
 * root, with its imports.
 */
async function modules(dir: string, withTests = false): Promise<Map<string, Module>> {
  const out = new Map<string, Module>();
  async function walk(rel: string): Promise<void> {
    for await (const e of Deno.readDir(ROOT + rel)) {
      const path = rel + e.name;
      if (e.isDirectory) await walk(path + "/");
      else if (/\.tsx?$/.test(path) && (withTests || !/_test\.tsx?$/.test(path))) {
        const text = await Deno.readTextFile(ROOT + path);
        const imports: Import[] = [];
        for (const m of text.matchAll(/^import\s+([^;]*?)\s+from\s+"([^"]+)";/gms)) {
          const [, clause, spec] = m;
          const target = spec.startsWith(".")
            ? new URL(spec, `file:///${path}`).pathname.slice(1)
            : spec;
          imports.push({ target, typeOnly: typesOnly(clause) });
        }
        for (const m of text.matchAll(/^import\s+"([^"]+)";/gm)) {
          const target = m[1].startsWith(".")
            ? new URL(m[1], `file:///${path}`).pathname.slice(1)
            : m[1];
          imports.push({ target, typeOnly: false });
        }
        for (const m of text.matchAll(/new URL\("(\.[^"]+\.ts)", import\.meta\.url\)/g)) {
          imports.push({
            target: new URL(m[1], `file:///${path}`).pathname.slice(1),
            typeOnly: false,
            byUrl: true,
          });
        }
        out.set(path, { text, imports });
      }
    }
  }
  await walk(dir);
  return out;
}

/** Whether an import clause brings types only: `type X`, or `{ type A, type B }`. */
function typesOnly(clause: string): boolean {
  if (clause.startsWith("type ")) return true;
  const named = clause.match(/^\{([^}]*)\}$/)?.[1];
  return named !== undefined &&
    named.split(",").every((n) => n.trim() === "" || n.trim().startsWith("type "));
}

// docs/architecture.md: main → server → transport, http → session → hub → protocol → errors, with
// the modules the guide's layout adds, each on its floor. A module may import (as a value) only
// from its own floor or below; types cross freely (`import type`).
const FLOORS: string[][] = [
  ["src/main.ts"],
  ["src/commands/"],
  ["src/server.ts"],
  ["src/config.ts", "src/log.ts", "src/admin.ts", "src/backend.ts"],
  ["src/transport/", "src/http.ts", "src/metrics.ts", "src/cluster/"],
  ["src/session/"],
  ["src/hub/"],
  ["src/store/"],
  ["src/auth/"],
  ["src/protocol/"],
  ["src/address_set.ts", "src/events.ts", "src/clock.ts", "src/bytes.ts", "src/errors.ts"],
];

function floor(path: string): number {
  return FLOORS.findIndex((f) =>
    f.some((p) => path === p || (p.endsWith("/") && path.startsWith(p)))
  );
}

// Read once, by the first test that asks (not while the file loads: the op sanitizer).
let src: Promise<Map<string, Module>> | undefined;
let scripts: Promise<Map<string, Module>> | undefined;
const SRC = () => src ??= modules("src/");
const SCRIPTS = () => scripts ??= modules("scripts/");

Deno.test("every module of src/ has a floor", async () => {
  for (const path of (await SRC()).keys()) {
    assert.ok(floor(path) >= 0, `${path} is on no floor of tests/layers_test.ts`);
  }
});

Deno.test("src/ imports only go down the floors (types excepted)", async () => {
  const graph = await SRC();
  // The parser really sees the graph: a known value import and a known type import.
  const session = graph.get("src/session/dispatcher.ts")!.imports;
  assert.ok(session.some((i) => i.target === "src/protocol/schema.ts" && !i.typeOnly));
  assert.ok(session.some((i) => i.target === "src/session/account.ts" && i.typeOnly));
  for (const [path, { imports }] of graph) {
    for (const imp of imports) {
      if (imp.typeOnly || !imp.target.startsWith("src/")) continue;
      assert.ok(
        floor(path) <= floor(imp.target),
        `${path} imports ${imp.target}, which is above it`,
      );
    }
  }
});

Deno.test("protocol/ is pure: only errors.ts, bytes.ts, zod and itself, no Deno APIs", async () => {
  for (const [path, { text, imports }] of await SRC()) {
    if (!path.startsWith("src/protocol/")) continue;
    for (const imp of imports) {
      assert.ok(
        ["zod", "src/errors.ts", "src/bytes.ts"].includes(imp.target) ||
          imp.target.startsWith("src/protocol/"),
        `${path} imports ${imp.target}`,
      );
    }
    assert.doesNotMatch(text, /\bDeno\./, `${path} uses Deno`);
  }
});

Deno.test("session/ sees the store, hasher, bus, clock and transports as types only", async () => {
  for (const [path, { imports }] of await SRC()) {
    if (!path.startsWith("src/session/")) continue;
    for (const imp of imports) {
      const seam = ["store/", "hub/", "auth/password", "clock.ts", "transport/", "server.ts"]
        .some((p) => imp.target.startsWith(`src/${p}`));
      assert.ok(!seam || imp.typeOnly, `${path} imports ${imp.target} as a value`);
    }
  }
});

// docs/architecture.md, "Seams": session code asks the store for the part it uses (AccountStore,
// MessageStore), never for an implementation, whose extra methods it could then lean on.
Deno.test("session/ sees store/ only through the seam, store.ts, and the export formats", async () => {
  const graph = await SRC();
  // The parser sees the seam: moderation takes the accounts part as a type.
  const moderation = graph.get("src/session/moderation.ts")!.imports;
  assert.ok(moderation.some((i) => i.target === "src/store/store.ts" && i.typeOnly));
  for (const [path, { imports }] of graph) {
    if (!path.startsWith("src/session/")) continue;
    for (const imp of imports) {
      if (!imp.target.startsWith("src/store/")) continue;
      assert.ok(
        ["src/store/store.ts", "src/store/export.ts"].includes(imp.target),
        `${path} imports ${imp.target}`,
      );
    }
  }
});

Deno.test("observability is a seam: protocol, session and hub emit events, never touch metrics", async () => {
  for (const [path, { imports }] of await SRC()) {
    if (!/^src\/(protocol|session|hub|transport|store)\//.test(path)) continue;
    for (const imp of imports) {
      assert.ok(
        imp.target !== "src/metrics.ts" && imp.target !== "prom-client",
        `${path} imports ${imp.target}`,
      );
    }
  }
  // Importing the metrics module registers nothing: only the server asks for process metrics.
  const metrics = (await SRC()).get("src/metrics.ts")!.text;
  assert.doesNotMatch(
    metrics.replace(/export function processMetrics[\s\S]*?\n}\n/, ""),
    /collectDefaultMetrics\(/,
  );
});

Deno.test("only transport/, http.ts and the cluster's link open sockets; only server.ts and a backend pick implementations", async () => {
  for (const [path, { text, imports }] of await SRC()) {
    // The user command's side of the admin socket is a client, as a chat client would be.
    const client = path === "src/commands/admin_client.ts";
    if (!path.startsWith("src/transport/") && path !== "src/http.ts" && !client) {
      assert.doesNotMatch(text, /Deno\.(listen|listenTls|connect|serve|upgradeWebSocket)\(/, path);
    }
    // Only the cluster's link opens NATS connections.
    if (path !== "src/cluster/link.ts") {
      assert.ok(!imports.some((i) => i.target === "@nats-io/transport-node"), path);
    }
    // The server's composition root, one node's backend (a cluster node's is cluster/node.ts),
    // and each command's own (a store, a hasher).
    if (["src/server.ts", "src/backend.ts"].includes(path) || path.startsWith("src/commands/")) {
      continue;
    }
    // A cluster node's bus keeps its own node's sessions in an in-process Hub.
    const clusterHub = path === "src/cluster/bus.ts";
    for (const imp of imports) {
      if (imp.typeOnly) continue;
      const implementation = ["src/store/kv_store.ts", "src/hub/local_log.ts", "src/hub/hub.ts"]
        .includes(imp.target) || imp.target === "src/auth/password.ts";
      const sameFolder = imp.target.split("/").slice(0, -1).join("/") ===
        path.split("/").slice(0, -1).join("/");
      const allowed = sameFolder || (clusterHub && imp.target === "src/hub/hub.ts");
      assert.ok(!implementation || allowed, `${path} picks the implementation ${imp.target}`);
    }
  }
});

// docs/architecture.md, "Seams": one message path in both modes. The hub reaches storage and the
// cluster only through the message-log seam (hub/message_log.ts), and the served line of a chat
// message is formatted in the hub alone (commands/import.ts writes old messages as they were).
Deno.test("the hub sees storage and the cluster only through the message-log seam; only it formats chat lines", async () => {
  const graph = await SRC();
  for (const [path, { text, imports }] of graph) {
    if (path.startsWith("src/hub/")) {
      for (const imp of imports) {
        assert.ok(!imp.target.startsWith("src/cluster/"), `${path} imports ${imp.target}`);
        const storage = imp.target.startsWith("src/store/") && imp.target !== "src/store/store.ts";
        assert.ok(!storage || imp.typeOnly, `${path} imports ${imp.target} as a value`);
      }
    }
    const formats = /\bforwardedMessage\(/.test(text);
    const allowed = ["src/hub/hub.ts", "src/protocol/replies.ts", "src/commands/import.ts"];
    assert.ok(!formats || allowed.includes(path), `${path} formats chat lines itself`);
  }
  // The parser sees the seam: the local log writes to the store through its interface.
  const local = graph.get("src/hub/local_log.ts")!.imports;
  assert.ok(local.some((i) => i.target === "src/store/store.ts" && i.typeOnly));
});

// docs/architecture.md, the fan-out engine: the outbox is built by each connection, whatever
// carries it; the hub queues lines through the bus's `Output` and knows no transport at all.
Deno.test("the outbox is the transports': only transport/ imports it, and the hub no transport", async () => {
  const graph = await SRC();
  // The parser sees the connections build it through the shared base.
  assert.ok(
    graph.get("src/transport/line_conn.ts")!.imports
      .some((i) => i.target === "src/transport/outbox.ts" && !i.typeOnly),
  );
  for (const [path, { text, imports }] of graph) {
    if (path.startsWith("src/transport/")) continue;
    for (const imp of imports) {
      assert.ok(!/^src\/transport\/outbox/.test(imp.target), `${path} imports ${imp.target}`);
      const hubToTransport = path.startsWith("src/hub/") && imp.target.startsWith("src/transport/");
      assert.ok(!hubToTransport, `${path} imports ${imp.target}`);
    }
    assert.doesNotMatch(text, /new Outbox\(/, `${path} builds an outbox`);
  }
});

Deno.test("raw Deno KV only in store/", async () => {
  for (const [path, { text }] of [...await SRC(), ...await SCRIPTS()]) {
    if (path.startsWith("src/store/")) continue;
    assert.doesNotMatch(
      text,
      /Deno\.openKv\(|\.atomic\(\)|\bstore\.kv\b/,
      `${path} uses KV itself`,
    );
  }
});

// docs/architecture.md: commands use config, store and auth only (not session or hub internals);
// serve is the one that starts the server.
const FOR_COMMANDS = ["src/config.ts", "src/errors.ts", "src/bytes.ts", "src/clock.ts"];
const FOR_COMMANDS_FOLDERS = ["src/store/", "src/auth/", "src/protocol/", "src/commands/"];

Deno.test("commands use config, store, auth and pure parts only; serve alone starts the server", async () => {
  for (const [path, { imports }] of await SRC()) {
    if (!path.startsWith("src/commands/")) continue;
    for (const imp of imports) {
      if (!imp.target.startsWith("src/")) continue;
      const allowed = FOR_COMMANDS.includes(imp.target) ||
        FOR_COMMANDS_FOLDERS.some((p) => imp.target.startsWith(p)) ||
        (path === "src/commands/serve.ts" && ["src/server.ts", "src/log.ts"].includes(imp.target));
      assert.ok(allowed, `${path} imports ${imp.target}`);
    }
  }
});

Deno.test("scripts/ use what commands use, never session, the bus or transports", async () => {
  const graph = await SCRIPTS();
  assert.ok(graph.size > 0);
  for (const [path, { imports }] of graph) {
    for (const imp of imports) {
      if (!imp.target.startsWith("src/")) continue;
      const allowed = FOR_COMMANDS.includes(imp.target) ||
        FOR_COMMANDS_FOLDERS.some((p) => imp.target.startsWith(p)) ||
        // The benchmarks start the server as a program, as an operator would; the store's one
        // measures the write path of history, the local log's group commit, on its own.
        (path.startsWith("scripts/bench/") && imp.byUrl && imp.target === "src/main.ts") ||
        (path === "scripts/bench/store.ts" && imp.target === "src/hub/local_log.ts");
      assert.ok(allowed, `${path} imports ${imp.target}`);
    }
  }
});

// What tests and benchmarks both use (free ports, a NATS cluster) lives in testing/, so that
// neither reaches into the other: a benchmark is no test helper, and a test helper no benchmark.
Deno.test("tests import nothing from scripts/, and the programs of scripts/ nothing from tests/", async () => {
  const tests = await modules("tests/", true);
  // The parser really sees the tests' imports, helpers and test files alike.
  assert.ok(
    tests.get("tests/cluster_test.ts")!.imports.some((i) => i.target === "testing/nats_cluster.ts"),
  );
  assert.ok(
    tests.get("tests/helpers/test_server.ts")!.imports.some((i) => i.target === "testing/ports.ts"),
  );
  for (const [path, { imports }] of tests) {
    for (const imp of imports) {
      assert.ok(!imp.target.startsWith("scripts/"), `${path} imports ${imp.target}`);
    }
  }
  for (const [path, { imports }] of await SCRIPTS()) {
    for (const imp of imports) {
      assert.ok(!imp.target.startsWith("tests/"), `${path} imports ${imp.target}`);
    }
  }
});

Deno.test("testing/ stands on its own: Deno and node: only, no src/, tests/ or scripts/", async () => {
  const testing = await modules("testing/", true);
  assert.ok(testing.has("testing/ports.ts"));
  for (const [path, { imports }] of testing) {
    for (const imp of imports) {
      assert.ok(
        imp.target.startsWith("testing/") || imp.target.startsWith("node:"),
        `${path} imports ${imp.target}`,
      );
    }
  }
});

Deno.test("src/ and scripts/ have no import cycles and no barrel files", async () => {
  const graph = new Map([...await SRC(), ...await SCRIPTS()]);
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

Deno.test("the web app's test doubles stay out of its code: web/src/ never imports web/test/", async () => {
  const web = await modules("web/src/", true);
  // The parser sees the unit tests' imports of the fakes.
  assert.ok(
    web.get("web/src/core/chat_model_test.ts")!.imports.some((i) =>
      i.target === "web/test/fakes.ts"
    ),
  );
  for (const [path, { imports }] of web) {
    if (/_test\.tsx?$/.test(path)) continue;
    for (const imp of imports) {
      assert.ok(!imp.target.startsWith("web/test/"), `${path} imports ${imp.target}`);
    }
  }
});

// What the web app shares with the server: the rules a page checks before sending (channel and
// user names) and the error type they throw, and the inspector's hints it words, all pure. Anything else would pull server code,
// Deno APIs or npm packages into the browser bundle.
const SHARED_WITH_WEB = [
  "src/protocol/channel.ts",
  "src/auth/names.ts",
  "src/errors.ts",
  "src/protocol/texts.ts",
  "src/protocol/hints.ts",
];

Deno.test("web/ takes from src/ only the pure name and channel rules, and nothing they drag in", async () => {
  const web = await modules("web/src/");
  const graph = await SRC();
  const reached = new Set<string>();
  const todo = [...web.values()].flatMap((m) => m.imports.map((i) => i.target))
    .filter((t) => t.startsWith("src/"));
  assert.ok(todo.includes("src/protocol/channel.ts"), "the parser sees web/'s imports");
  while (todo.length > 0) {
    const target = todo.pop()!;
    if (reached.has(target)) continue;
    reached.add(target);
    assert.ok(SHARED_WITH_WEB.includes(target), `web/ reaches ${target}`);
    const { text, imports } = graph.get(target)!;
    assert.ok(!/\bDeno\./.test(text), `${target} uses Deno APIs`);
    for (const imp of imports) {
      assert.ok(imp.target.startsWith("src/"), `${target} imports ${imp.target}`);
      if (!imp.typeOnly) todo.push(imp.target);
    }
  }
  for (const [path, { imports }] of web) {
    for (const imp of imports) {
      if (imp.target.startsWith("src/") || imp.target.startsWith("web/")) continue;
      assert.ok(/^preact(\/|$)/.test(imp.target), `${path} imports ${imp.target}`);
    }
  }
});
