// monitoring/ against the real tools and a real server: promtool checks the Prometheus config and
// runs the alert unit tests, the dashboard and the alerts name only metrics a live server exports,
// and a real Prometheus scrapes a test server, answers every dashboard query and evaluates every
// alert rule.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ERROR_CODES } from "../src/errors.ts";
import { startTestServer, type TestServer } from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";
import { needs } from "./helpers/tools.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MONITORING = fileURLToPath(new URL("../monitoring/", import.meta.url));
const ALERTS = MONITORING + "alerts.yml";
const DASHBOARD = MONITORING + "grafana/dashboards/classcord.json";
const DATASOURCES = MONITORING + "grafana/provisioning/datasources/prometheus.yml";
const DASHBOARD_PROVIDER = MONITORING + "grafana/provisioning/dashboards/classcord.yml";
/** Where compose.yaml mounts monitoring/grafana/dashboards (README "Monitoring"). */
const DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards";
/** A promtool run, or Prometheus' shutdown, is killed past this. */
const TOOL_TIMEOUT_MS = 30_000;
/** How long Prometheus may take to start, scrape and evaluate what a step expects. */
const PROMETHEUS_DEADLINE_MS = 30_000;
/** Deadline of one request to Prometheus' HTTP API. */
const REQUEST_TIMEOUT_MS = 5_000;
/** Pause between two polls of Prometheus. */
const POLL_MS = 200;

// --- Tools -------------------------------------------------------------------------------------

function notInstalled(tool: string): Error {
  return new Error(
    `"${tool}" is not on PATH: the monitoring tests run Prometheus' prometheus and promtool ` +
      `(Debian: apt-get install prometheus)`,
  );
}

/** Spawns `tool`; a missing binary fails the test with a message that says what to install. */
function spawn(tool: string, args: string[], options: Deno.CommandOptions = {}): Deno.ChildProcess {
  try {
    return new Deno.Command(tool, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...options,
    })
      .spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw notInstalled(tool);
    throw err;
  }
}

/** Runs promtool with a deadline; returns its exit code and its stdout and stderr together. */
async function promtool(args: string[], cwd = ROOT): Promise<{ code: number; out: string }> {
  const child = spawn("promtool", args, { cwd });
  const timer = setTimeout(() => child.kill("SIGKILL"), TOOL_TIMEOUT_MS);
  try {
    const { code, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    return { code, out: decoder.decode(stdout) + decoder.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** GETs a URL on 127.0.0.1 with a deadline; returns the status and the body. */
async function get(url: string): Promise<{ status: number; body: string }> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
  try {
    const res = await fetch(url, { signal: ctrl.signal });
    return { status: res.status, body: await res.text() };
  } finally {
    clearTimeout(timer);
  }
}

// --- Loose readers of the monitoring files -----------------------------------------------------

/** Names of the alerts of a rules file. */
function alertNames(yaml: string): string[] {
  return [...yaml.matchAll(/^\s*- alert:\s*(\w+)\s*$/gm)].map((m) => m[1]);
}

/** The `expr` of every rule of a rules file: inline, or a block scalar (`|`, `>`) below it. */
function ruleExprs(yaml: string): string[] {
  const lines = yaml.split("\n");
  const exprs: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].match(/^(\s*)(?:- )?expr:\s*(.*)$/);
    if (!m) continue;
    if (!/^[|>]/.test(m[2])) {
      exprs.push(m[2].replace(/^(["'])(.*)\1$/, "$2"));
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length) {
      const next = lines[i + 1];
      if (next.trim() !== "" && next.search(/\S/) <= m[1].length) break;
      block.push(next);
      i++;
    }
    exprs.push(block.join("\n").trim());
  }
  return exprs;
}

/** The metric names a PromQL expression selects, read loosely: strings are left out. */
function metricNames(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  return [...new Set(code.match(/\b(?:classcord_\w+|process_\w+|nodejs_\w+|up)\b/g) ?? [])];
}

interface Matcher {
  name: string;
  label: string;
  value: string;
}

/** The `label="value"` matchers of an expression's selectors (not !=, =~ or !~). */
function equalityMatchers(expr: string): Matcher[] {
  const out: Matcher[] = [];
  for (const sel of expr.matchAll(/\b([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)) {
    for (const m of sel[2].matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      if (m[2] === "=") out.push({ name: sel[1], label: m[1], value: m[3] });
    }
  }
  return out;
}

interface Target {
  expr?: string;
  legendFormat?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string } };
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating?: { list: Variable[] };
  annotations?: { list: { builtIn?: number; datasource?: { type?: string; uid?: string } }[] };
}

interface Variable {
  name: string;
  type: string;
  /** A datasource variable's plugin id; a query variable's query. */
  query?: unknown;
  definition?: string;
  datasource?: { type?: string; uid?: string };
  current?: { text?: unknown; value?: unknown };
  multi?: boolean;
  includeAll?: boolean;
}

async function readDashboard(): Promise<Dashboard> {
  return JSON.parse(await Deno.readTextFile(DASHBOARD));
}

/** Every PromQL expression of the dashboard: panel targets and variable queries. */
function dashboardExprs(dash: Dashboard): string[] {
  return [
    ...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? "")),
    ...(dash.templating?.list ?? []).map((v) => v.definition ?? ""),
  ].filter((e) => e !== "");
}

/** The data source provisioned for Grafana: its name, uid and type. */
async function provisionedDataSource(): Promise<{ name: string; uid: string; type: string }> {
  const yaml = await Deno.readTextFile(DATASOURCES);
  const field = (key: string): string => {
    const m = yaml.match(new RegExp(`^\\s*(?:- )?${key}:\\s*["']?([\\w -]+?)["']?\\s*$`, "m"));
    assert.ok(m, `No ${key} in ${DATASOURCES}`);
    return m[1];
  };
  return { name: field("name"), uid: field("uid"), type: field("type") };
}

/** Every `datasource` reference of a dashboard, wherever it is nested, with its JSON path. */
function dataSourceRefs(node: unknown, path = "$"): { path: string; ref: unknown }[] {
  if (Array.isArray(node)) return node.flatMap((n, i) => dataSourceRefs(n, `${path}[${i}]`));
  if (node === null || typeof node !== "object") return [];
  return Object.entries(node).flatMap(([key, value]) => [
    ...(key === "datasource" ? [{ path: `${path}.${key}`, ref: value }] : []),
    ...dataSourceRefs(value, `${path}.${key}`),
  ]);
}

// --- A live server ------------------------------------------------------------------------------

/** One sample of the Prometheus text format. */
interface Sample {
  name: string;
  labels: Map<string, string>;
}

/** Reads a /metrics text: metric families with their types, and the samples. */
function exposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const type = line.match(/^# TYPE (\S+) (\w+)$/);
    if (type) types.set(type[1], type[2]);
    const sample = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/);
    if (!sample) continue;
    const labels = new Map<string, string>();
    for (const m of (sample[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels.set(m[1], m[2]);
    }
    samples.push({ name: sample[1], labels });
  }
  return { types, samples };
}

/**
 * Chat traffic that makes every classcord_* series appear: registrations, logins (one failed),
 * messages of each kind, an unknown request, an oversized line and a closed connection. Alice and
 * Bob stay connected until the returned handle is disposed.
 */
async function traffic(srv: TestServer): Promise<AsyncDisposable> {
  const alice = await srv.connect();
  const bob = await srv.connect();
  const closeAll = () => {
    alice.close();
    bob.close();
  };
  try {
    await using guest = await srv.connect();
    await alice.loginAs("alice");
    await bob.loginAs("bob");
    assert.equal((await alice.json()).state, "online"); // bob's status
    await bob.request({ type: "login", username: "bob", password: "wrong" });
    await bob.request({ type: "register", username: "bob", password: "x" });
    await guest.send({ type: "message", content: "hi", from: "visitor" });
    for (const c of [alice, bob]) {
      assert.equal((await c.json()).state, "online"); // the visitor's status
      assert.equal((await c.json()).type, "message");
    }
    await alice.send({ type: "message", content: "hello class" });
    assert.equal((await bob.json()).type, "message");
    assert.equal((await guest.json()).type, "message");
    await bob.send({ type: "hello", version: 2 });
    await bob.json();
    await bob.send({ type: "message", channel: "#sisr", content: "alone here" });
    await alice.request({ type: "message", subtype: "private", to: "bob", content: "psst", id: 1 });
    assert.equal((await bob.json()).type, "message");
    assert.equal((await alice.request({ type: "fly" })).code, "unknown_type");
    await alice.write(`{"type":"message","content":"${"x".repeat(70_000)}"}\n`);
    assert.equal((await alice.json()).code, "too_large");
    guest.close();
    for (const c of [alice, bob]) {
      assert.equal((await c.json()).state, "offline"); // the server saw the close
      await c.expectNothingPending();
    }
  } catch (err) {
    closeAll();
    throw err;
  }
  return { [Symbol.asyncDispose]: () => Promise.resolve(closeAll()) };
}

/** What {@link traffic} leaves in the counters, as Prometheus should report it. */
const AFTER_TRAFFIC: Record<string, number> = {
  'up{job="classcord"}': 1,
  'classcord_messages_total{kind="global"}': 2,
  'classcord_messages_total{kind="channel"}': 1,
  'classcord_messages_total{kind="private"}': 1,
  "classcord_deliveries_total": 5, // 2 for the visitor's, 2 for Alice's, 1 private
  'classcord_logins_total{result="ok"}': 2,
  'classcord_logins_total{result="failed"}': 1,
  'classcord_registrations_total{result="ok"}': 2,
  'classcord_registrations_total{result="exists"}': 1,
  'classcord_errors_total{code="unknown_type"}': 1,
  'classcord_limit_hits_total{limit="line_size"}': 1,
  "sum(classcord_connections_open)": 2,
  'classcord_sessions{kind="user"}': 2,
  'classcord_connections_closed_total{reason="client_closed"}': 1,
  // Latency is sampled (at most one fan-out timed per 10 ms): at least one was timed.
  "classcord_message_latency_seconds_count > bool 0": 1,
};

// --- Prometheus ---------------------------------------------------------------------------------

interface QueryResponse {
  status: "success" | "error";
  error?: string;
  data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

interface RulesResponse {
  status: "success" | "error";
  data?: {
    groups: {
      rules: {
        name: string;
        type: string;
        health: string;
        state?: string;
        lastError?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
      }[];
    }[];
  };
}

/** Prometheus rejected a query: the expression is wrong, waiting will not help. */
class QueryError extends Error {
  override name = "QueryError";
}

/** A Prometheus subprocess scraping 127.0.0.1:`target` every second with monitoring/alerts.yml. */
async function startPrometheus(target: number) {
  const dir = await Deno.makeTempDir({ prefix: "classcord_prometheus_" });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "rule_files:",
      `  - ${JSON.stringify(ALERTS)}`,
      "scrape_configs:",
      "  - job_name: classcord",
      "    static_configs:",
      `      - targets: ["127.0.0.1:${target}"]`,
      "",
    ].join("\n"),
  );
  let child: Deno.ChildProcess;
  try {
    child = spawn("prometheus", [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
    ], { stdout: "null" });
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
  let log = "";
  const logged = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log += chunk;
  })();
  let exited = false;
  const status = child.status.finally(() => exited = true);
  const base = `http://127.0.0.1:${port}`;

  const api = async <T>(path: string): Promise<T> => JSON.parse((await get(base + path)).body);

  return {
    /** Runs an instant query; rejects when Prometheus rejects the expression. */
    async query(expr: string): Promise<NonNullable<QueryResponse["data"]>["result"]> {
      const res = await api<QueryResponse>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (res.status !== "success") throw new QueryError(`Query ${expr} failed: ${res.error}`);
      return res.data!.result;
    },
    async rules(): Promise<NonNullable<RulesResponse["data"]>["groups"][number]["rules"]> {
      const res = await api<RulesResponse>("/api/v1/rules");
      return res.data!.groups.flatMap((g) => g.rules);
    },
    /**
     * Calls `check` until it returns undefined, polling every {@link POLL_MS}; `check` returns
     * (or throws) what is still missing, which the failure reports at the deadline. A query that
     * Prometheus rejects fails at once.
     */
    async until(what: string, check: () => Promise<string | undefined>): Promise<void> {
      const deadline = Date.now() + PROMETHEUS_DEADLINE_MS;
      for (;;) {
        let missing: string | undefined;
        try {
          missing = await check();
        } catch (err) {
          if (err instanceof QueryError) throw err;
          missing = (err as Error).message; // not listening yet
        }
        if (missing === undefined) return;
        if (exited) throw new Error(`Prometheus exited while waiting for ${what}:\n${log}`);
        if (Date.now() > deadline) {
          throw new Error(`Timed out waiting for ${what}: ${missing}\n${log.slice(-2000)}`);
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
    async [Symbol.asyncDispose](): Promise<void> {
      if (!exited) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), TOOL_TIMEOUT_MS);
      try {
        await status;
        await logged;
      } finally {
        clearTimeout(timer);
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

// --- Tests --------------------------------------------------------------------------------------

Deno.test(
  "promtool check config accepts prometheus.yml and loads alerts.yml beside it",
  needs("promtool"),
  async () => {
    const alerts = alertNames(await Deno.readTextFile(ALERTS)).length;
    // From the repository, and from elsewhere as in the container (cwd /prometheus): rule_files
    // resolve against the config file's folder, /etc/prometheus/ where compose mounts monitoring/.
    const elsewhere = await Deno.makeTempDir({ prefix: "classcord_promtool_" });
    try {
      for (
        const [cwd, path] of [[ROOT, "monitoring/prometheus.yml"], [
          elsewhere,
          MONITORING + "prometheus.yml",
        ]]
      ) {
        const { code, out } = await promtool(["check", "config", path], cwd);
        assert.equal(code, 0, out);
        assert.match(out, /SUCCESS: 1 rule files found/);
        assert.match(out, new RegExp(`alerts\\.yml\\s+SUCCESS: ${alerts} rules found`), out);
      }
    } finally {
      await Deno.remove(elsewhere, { recursive: true });
    }
    const config = await Deno.readTextFile(MONITORING + "prometheus.yml");
    assert.match(config, /job_name: classcord\b/, "the alerts and the dashboard select this job");
    assert.match(config, /targets: \["classcord:9091"\]/);
    assert.match(config, /scrape_interval: 15s/);
  },
);

Deno.test("promtool check rules accepts alerts.yml", needs("promtool"), async () => {
  const { code, out } = await promtool(["check", "rules", "monitoring/alerts.yml"]);
  assert.equal(code, 0, out);
  assert.match(out, /SUCCESS: \d+ rules found/);
});

Deno.test(
  "promtool test rules: each alert fires when it should and stays silent otherwise",
  needs("promtool"),
  async () => {
    const { code, out } = await promtool(["test", "rules", "monitoring/alerts_test.yml"]);
    assert.equal(code, 0, out);
    assert.match(out, /SUCCESS/);
    // Every alert has a case where it fires and one where it must not.
    const tests = await Deno.readTextFile(MONITORING + "alerts_test.yml");
    const cases = [...tests.matchAll(/alertname: (\w+)\s+exp_alerts:( \[\])?/g)];
    for (const name of alertNames(await Deno.readTextFile(ALERTS))) {
      const mine = cases.filter((m) => m[1] === name);
      assert.ok(mine.some((m) => m[2] === undefined), `No test where ${name} fires`);
      assert.ok(mine.some((m) => m[2] !== undefined), `No test where ${name} stays silent`);
    }
  },
);

Deno.test("the dashboard and the alerts query only metrics a live server exports", async () => {
  await using srv = await startTestServer({ metricsPort: freePort() });
  await using _clients = await traffic(srv);
  const res = await get(`http://127.0.0.1:${srv.server.metricsPort}/metrics`);
  assert.equal(res.status, 200);
  const { types, samples } = exposition(res.body);
  const dashboard = dashboardExprs(await readDashboard());
  const alerts = ruleExprs(await Deno.readTextFile(ALERTS));
  assert.equal(alerts.length, alertNames(await Deno.readTextFile(ALERTS)).length, "one expr each");

  /** The exported family a name belongs to: itself, or a histogram's _bucket, _sum or _count. */
  const family = (name: string): string | undefined => {
    if (types.has(name)) return name;
    const base = name.replace(/_(bucket|sum|count)$/, "");
    return types.get(base) === "histogram" || types.get(base) === "summary" ? base : undefined;
  };
  const charted = new Set<string>();
  for (const [source, exprs] of [["dashboard", dashboard], ["alerts.yml", alerts]] as const) {
    for (const expr of exprs) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${source}: no metric in ${expr}`);
      for (const name of names) {
        if (name === "up") continue; // made by Prometheus for each scrape: the real scrape test
        const f = family(name);
        assert.ok(f, `${source}: ${name} is not exported by /metrics (in ${expr})`);
        const sampleName = types.get(f) === "histogram" && f === name ? `${f}_bucket` : name;
        assert.ok(samples.some((s) => s.name === sampleName), `${source}: no ${sampleName} sample`);
        if (source === "dashboard") charted.add(f);
      }
      for (const { name, label, value } of equalityMatchers(expr)) {
        // job and instance are Prometheus' target labels; $variables are Grafana's.
        if (name === "up" || label === "job" || label === "instance" || value.includes("$")) {
          continue;
        }
        if (label === "code") {
          assert.ok(
            (ERROR_CODES as readonly string[]).includes(value),
            `${source}: error code "${value}" is not in ERROR_CODES (src/errors.ts)`,
          );
          continue;
        }
        assert.ok(
          samples.some((s) => s.name === name && s.labels.get(label) === value),
          `${source}: no ${name}{${label}="${value}"} in /metrics (in ${expr})`,
        );
      }
    }
  }
  // And the reverse: every classcord_* metric has a panel.
  const missing = [...types.keys()].filter((f) => f.startsWith("classcord_") && !charted.has(f));
  assert.deepEqual(missing, [], "metrics without a panel in monitoring/grafana/dashboards");
});

Deno.test("the dashboard is valid, each panel queries the data-source variable (default: the provisioned data source) with legends and a unit", async () => {
  const provisioned = await provisionedDataSource();
  assert.equal(provisioned.type, "prometheus", `${DATASOURCES} type`);
  const dash = await readDashboard();
  assert.equal(dash.uid, "classcord");
  assert.ok(dash.title);
  assert.ok(dash.schemaVersion >= 36, "a dashboard of Grafana 9 or later");

  // One data-source variable, as in Grafana's own exported dashboards: imported into any Grafana
  // (Dashboards → Import), it lists that Grafana's Prometheus data sources. Its default is the
  // provisioned data source, by uid and by name (Grafana matches the value, then the text).
  const variables = dash.templating?.list ?? [];
  const dsVars = variables.filter((v) => v.type === "datasource");
  assert.equal(dsVars.length, 1, "one variable of type datasource");
  const [dsVar] = dsVars;
  assert.equal(dsVar.query, "prometheus", `$${dsVar.name} lists Prometheus data sources`);
  assert.ok(!dsVar.multi && !dsVar.includeAll, `$${dsVar.name} selects a single data source`);
  assert.equal(dsVar.current?.value, provisioned.uid, `$${dsVar.name} default uid`);
  assert.equal(dsVar.current?.text, provisioned.name, `$${dsVar.name} default name`);
  const ref = { type: "prometheus", uid: `\${${dsVar.name}}` };

  // Every data source reference goes through the variable: no hard-coded uid, and no ${DS_...}
  // import input, which file provisioning would not resolve. The one exception is the built-in
  // "Annotations & Alerts" of Grafana itself.
  const builtIn = { type: "grafana", uid: "-- Grafana --" };
  const annotations = dash.annotations?.list ?? [];
  assert.deepEqual(annotations.filter((a) => a.builtIn).map((a) => a.datasource), [builtIn]);
  const builtInPaths = annotations.flatMap((a, i) =>
    a.builtIn ? [`$.annotations.list[${i}].datasource`] : []
  );
  for (const { path, ref: got } of dataSourceRefs(dash)) {
    if (!builtInPaths.includes(path)) assert.deepEqual(got, ref, `${path}: not $${dsVar.name}`);
  }

  const ids = new Set<number>();
  const panels = dash.panels.filter((p) => p.type !== "row");
  assert.ok(panels.length >= 20, `${panels.length} panels`);
  for (const p of dash.panels) {
    assert.ok(!ids.has(p.id), `Panel id ${p.id} is used twice`);
    ids.add(p.id);
    assert.ok(p.gridPos && p.gridPos.x + p.gridPos.w <= 24, `Panel "${p.title}" lies off the grid`);
    if (p.type === "row") assert.equal(p.targets, undefined, `Row "${p.title}" has queries`);
  }
  for (const p of panels) {
    assert.ok(p.title, `Panel ${p.id} has no title`);
    assert.deepEqual(p.datasource, ref, `Panel "${p.title}" data source`);
    assert.ok(p.fieldConfig?.defaults?.unit, `Panel "${p.title}" has no unit`);
    const targets = p.targets ?? [];
    assert.ok(targets.length > 0, `Panel "${p.title}" has no query`);
    assert.equal(new Set(targets.map((t) => t.refId)).size, targets.length, `"${p.title}" refIds`);
    for (const t of targets) {
      assert.ok(t.expr?.trim(), `Panel "${p.title}" has a target without expr`);
      assert.deepEqual(t.datasource, ref, `Panel "${p.title}" target data source`);
      assert.ok(t.legendFormat, `Panel "${p.title}" target ${t.refId} has no legend`);
    }
  }
  // The other variables query through it too, so it comes first.
  assert.equal(variables[0], dsVar, `$${dsVar.name} is not the first variable`);
  for (const v of variables.slice(1)) assert.deepEqual(v.datasource, ref, `$${v.name} data source`);

  const provider = await Deno.readTextFile(DASHBOARD_PROVIDER);
  assert.match(provider, new RegExp(`^\\s*path: ${DASHBOARDS_MOUNT}\\s*$`, "m"));
  assert.match(await Deno.readTextFile(DATASOURCES), /url: http:\/\/prometheus:9090/);
});

Deno.test(
  "a real Prometheus scrapes the server, answers every dashboard query and evaluates every alert",
  needs("prometheus"),
  async () => {
    await using srv = await startTestServer({ metricsPort: freePort() });
    await using prom = await startPrometheus(srv.server.metricsPort);
    // A first scrape before the traffic, so that rates and increases see it.
    await prom.until("the first scrape", async () => {
      const [up] = await prom.query('up{job="classcord"}');
      return up?.value[1] === "1" ? undefined : `up is ${up?.value[1]}`;
    });
    await using _clients = await traffic(srv);

    await prom.until("the counters after the traffic", async () => {
      const wrong = [];
      for (const [expr, want] of Object.entries(AFTER_TRAFFIC)) {
        const got = (await prom.query(expr)).map((r) => Number(r.value[1]));
        if (got.length !== 1 || got[0] !== want) wrong.push(`${expr} = [${got}], want ${want}`);
      }
      return wrong.length ? wrong.join("; ") : undefined;
    });
    const p99 = "histogram_quantile(0.99, sum by (le) " +
      '(increase(classcord_message_latency_seconds_bucket{job="classcord"}[1m])))';
    const [latency] = await prom.query(p99);
    const seconds = Number(latency?.value[1]);
    assert.ok(seconds > 0 && seconds <= 2.5, `message latency p99 ${seconds}`);

    // Every dashboard query, as Grafana sends it (all instances, a 1 min rate window), answers.
    const exprs = dashboardExprs(await readDashboard())
      .filter((e) => !e.startsWith("label_values("))
      .map((e) => e.replaceAll("$__rate_interval", "1m").replaceAll("$instance", ".*"));
    await prom.until("an answer to every dashboard query", async () => {
      const empty = [];
      for (const expr of exprs) if ((await prom.query(expr)).length === 0) empty.push(expr);
      return empty.length ? `no series for ${empty.join(" | ")}` : undefined;
    });

    // Every alert rule is loaded, evaluates without error, is labelled and annotated, and none
    // fires on this healthy traffic.
    const names = alertNames(await Deno.readTextFile(ALERTS));
    await prom.until("an evaluation of every alert rule", async () => {
      const rules = await prom.rules();
      const loaded = rules.map((r) => r.name);
      if (names.some((n) => !loaded.includes(n))) return `rules loaded: ${loaded}`;
      const unknown = rules.filter((r) => r.health === "unknown").map((r) => r.name);
      return unknown.length ? `not evaluated yet: ${unknown}` : undefined;
    });
    for (const rule of await prom.rules()) {
      assert.equal(rule.type, "alerting", rule.name);
      assert.equal(rule.health, "ok", `${rule.name}: ${rule.lastError}`);
      assert.ok(
        ["critical", "warning"].includes(rule.labels?.severity ?? ""),
        `${rule.name} severity`,
      );
      assert.ok(rule.annotations?.summary, `${rule.name} has no summary`);
      assert.ok(rule.annotations?.description, `${rule.name} has no description`);
      assert.notEqual(rule.state, "firing", `${rule.name} fires on healthy traffic`);
    }
  },
);
