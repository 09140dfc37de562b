// Deployment files, checked without a Docker engine or a running systemd: compose.yaml through
// docker-compose's own validation, the cluster profile's configs through haproxy (-c, and a run on
// loopback), nats-server -t and promtool, the systemd unit through systemd-analyze, and the
// Dockerfile, .dockerignore and .env.example by their structure; the time zone they set, and a
// server started with it stamping messages in that zone.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { AddressSet } from "../src/address_set.ts";
import { parseConfig } from "../src/config.ts";
import { launch } from "./helpers/process.ts";
import { TestClient } from "./helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";
import { needs, PACKAGES, type Tool, which } from "./helpers/tools.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

const decoder = new TextDecoder();

/** The ports the server listens on when nothing is configured (12345, 8080 and 9091). */
function defaultPorts(): { chat: number; web: number; metrics: number } {
  const { port, webPort, metricsPort } = parseConfig([], {});
  return { chat: port, web: webPort, metrics: metricsPort };
}

/** `name`'s path; the test is ignored without it (see tests/helpers/tools.ts). */
function tool(name: Tool): string {
  const path = which(name);
  assert.ok(path, `${name} is not installed (Debian: apt-get install -y ${PACKAGES[name]})`);
  return path;
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<Output> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd ?? ROOT,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

// ---------------------------------------------------------------------------------------------
// compose.yaml

interface ComposeService {
  profiles?: string[];
  build?: { context: string };
  image?: string;
  command?: string[];
  restart?: string;
  ports?: { published: number | string; target: number | string }[];
  volumes?: (string | { type: string; source: string; target: string; read_only?: boolean })[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  networks?: Record<string, { ipv4_address?: string; aliases?: string[] } | null>;
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } }>;
}

/** The Python of docker-compose (v1, Debian's package), which has PyYAML. */
async function composePython(): Promise<string[]> {
  const compose = tool("docker-compose");
  const shebang = (await Deno.readTextFile(compose)).split("\n")[0];
  assert.match(shebang, /^#!\S*python/, `${compose} is not docker-compose v1 (Python)`);
  return shebang.slice(2).trim().split(/\s+/);
}

/** YAML text as the JSON value PyYAML reads from it (no YAML library among the dependencies). */
async function yamlValue(text: string): Promise<unknown> {
  const python = await composePython();
  const json = await exec(python[0], [
    ...python.slice(1),
    "-c",
    "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
  ], { stdin: text });
  assert.equal(json.code, 0, json.stderr);
  return JSON.parse(json.stdout);
}

/**
 * `docker-compose config` of compose.yaml with only these variables (and an empty env file, so a
 * developer's .env plays no part, or `envFile`), and its output as JSON when it succeeded.
 * docker-compose (v1, Debian's package) is Python and prints YAML; its own interpreter, which has
 * PyYAML, converts. v1 prints every service whatever the active profiles (with its `profiles`), so
 * the profiles' effect is checked from that field; `profiles` are passed as `--profile` flags.
 */
async function composeConfig(
  env: Record<string, string>,
  profiles: string[] = [],
  envFile?: string,
): Promise<Output & { config?: Compose }> {
  const compose = tool("docker-compose");
  const tmp = await Deno.makeTempDir({ prefix: "classcord_compose_" });
  try {
    await Deno.writeTextFile(`${tmp}/empty.env`, "");
    const out = await exec(compose, [
      "--project-directory",
      ROOT,
      "--env-file",
      envFile ?? `${tmp}/empty.env`,
      "-f",
      `${ROOT}/compose.yaml`,
      ...profiles.flatMap((p) => ["--profile", p]),
      "config",
    ], { env: { HOME: tmp, ...env } });
    if (out.code !== 0) return out;
    return { ...out, config: await yamlValue(out.stdout) as Compose };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The volumes of a service as `source:target:mode` strings, whichever syntax was printed. */
function mounts(service: ComposeService): string[] {
  return (service.volumes ?? []).map((v) =>
    typeof v === "string" ? v : `${v.source}:${v.target}:${v.read_only ? "ro" : "rw"}`
  );
}

function published(service: ComposeService): number[] {
  return (service.ports ?? []).map((p) => Number(p.published)).sort((a, b) => a - b);
}

Deno.test(
  "compose.yaml is valid for docker-compose and wires the three services",
  needs("docker-compose"),
  async () => {
    const marker = "test-only-not-a-password";
    const out = await composeConfig({ GRAFANA_ADMIN_PASSWORD: marker });
    assert.equal(out.code, 0, out.stderr);
    const { services, volumes } = out.config!;
    // What `docker compose up` starts: the services without a profile.
    const always = Object.keys(services).filter((name) => !services[name].profiles);
    assert.deepEqual(always.sort(), ["classcord", "grafana", "prometheus"]);
    const { chat, web, metrics } = defaultPorts();

    const app = services.classcord;
    assert.equal(app.build?.context, ROOT);
    assert.equal(app.restart, "unless-stopped");
    // The chat and the web app: /metrics stays inside the compose network, for Prometheus.
    assert.deepEqual(published(app), [chat, web].sort((a, b) => a - b));
    for (const p of app.ports!) assert.equal(Number(p.published), Number(p.target));
    assert.equal(app.environment?.CLASSCORD_METRICS_HOST, "0.0.0.0");
    assert.ok(metrics > 0);
    assert.ok(mounts(app).includes("classcord-data:/data:rw"), mounts(app).join(", "));
    assert.deepEqual(app.healthcheck?.test, ["CMD", "/classcord", "healthcheck"]);

    const prom = services.prometheus;
    assert.match(prom.image ?? "", /^prom\/prometheus:v\d+\.\d+\.\d+$/, "pinned Prometheus");
    assert.ok(prom.restart);
    assert.deepEqual(published(prom), [], "Prometheus is not published");
    for (const file of ["prometheus.yml", "alerts.yml"]) {
      assert.ok(
        mounts(prom).includes(`${ROOT}/monitoring/${file}:/etc/prometheus/${file}:ro`),
        mounts(prom).join(", "),
      );
    }
    assert.ok(mounts(prom).includes("prometheus-data:/prometheus:rw"));

    const grafana = services.grafana;
    assert.match(grafana.image ?? "", /^grafana\/grafana:\d+\.\d+\.\d+$/, "pinned Grafana");
    assert.ok(grafana.restart);
    assert.deepEqual(published(grafana), [3000]);
    for (
      const m of [
        `${ROOT}/monitoring/grafana/provisioning:/etc/grafana/provisioning:ro`,
        `${ROOT}/monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro`,
        "grafana-data:/var/lib/grafana:rw",
      ]
    ) assert.ok(mounts(grafana).includes(m), `${m} in ${mounts(grafana).join(", ")}`);
    assert.equal(grafana.environment?.GF_SECURITY_ADMIN_PASSWORD, marker, "from the environment");

    // State only in named volumes, each declared.
    for (const [name, service] of Object.entries(services)) {
      for (const m of mounts(service)) {
        const source = m.split(":")[0];
        if (source.startsWith("/")) {
          assert.ok(m.endsWith(":ro"), `${name}: bind mount ${m} is read-only configuration`);
        } else assert.ok(volumes && source in volumes, `${name}: volume ${source} is declared`);
      }
    }
  },
);

Deno.test(
  "compose.yaml refuses to start without GRAFANA_ADMIN_PASSWORD, and holds no password",
  needs("docker-compose"),
  async () => {
    const out = await composeConfig({});
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /GRAFANA_ADMIN_PASSWORD/);
    assert.match(out.stderr, /\.env/, "the error says where to set it");

    const text = await Deno.readTextFile(`${ROOT}/compose.yaml`);
    for (const line of text.split("\n")) {
      const m = line.match(
        /^\s*-?\s*"?([A-Za-z0-9_.]*(PASSWORD|SECRET|TOKEN)[A-Za-z0-9_]*)"?\s*[:=]\s*(.*)$/i,
      );
      if (!m) continue;
      assert.match(
        m[3],
        /^\$\{[A-Z0-9_]+:\?[^}]*\}\s*$/,
        `${m[1]} comes from .env: ${line.trim()}`,
      );
    }
    const example = await Deno.readTextFile(`${ROOT}/.env.example`);
    assert.match(example, /^GRAFANA_ADMIN_PASSWORD=$/m, ".env.example documents it, empty");
  },
);

// ---------------------------------------------------------------------------------------------
// Time zone: message timestamps are the server's local time (docs/protocol.md, "What a forwarded
// message looks like"), and a container or a VM left in UTC would stamp the class's messages
// one or two hours off.

/** The zone of the deployment examples, the zone of a French class. */
const PARIS = "Europe/Paris";

/** Whether ICU (inside V8, so inside the server) knows this zone: a misspelt TZ silently is UTC. */
function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The services that run the ClassCord image: the single node and the cluster's nodes. */
function classcordServices(services: Record<string, ComposeService>): string[] {
  return Object.keys(services).filter((n) => services[n].image === services.classcord.image)
    .sort();
}

Deno.test(
  "compose.yaml gives every ClassCord service the TZ of .env, Europe/Paris as .env.example and by default",
  needs("docker-compose"),
  async () => {
    const example = await Deno.readTextFile(`${ROOT}/.env.example`);
    const line = example.match(/^TZ=(.*)$/m);
    assert.ok(line, ".env.example has a TZ= line");
    assert.equal(line[1], PARIS);
    assert.ok(isTimeZone(line[1]), `${line[1]} is a zone the server knows`);

    const password = { GRAFANA_ADMIN_PASSWORD: "test-only-not-a-password" };
    const zones = async (env: Record<string, string>, envFile?: string) => {
      const out = await composeConfig({ ...password, ...env }, ["cluster"], envFile);
      assert.equal(out.code, 0, out.stderr);
      const { services } = out.config!;
      const names = classcordServices(services);
      assert.ok(names.length >= 3, `the single node and the cluster's nodes: ${names}`);
      return new Set(names.map((n) => services[n].environment?.TZ));
    };
    // `cp .env.example .env`: the file's zone (the password, empty in the file, from the shell).
    assert.deepEqual(await zones({}, `${ROOT}/.env.example`), new Set([PARIS]));
    // An .env written before TZ existed, or with TZ empty.
    assert.deepEqual(await zones({}), new Set([PARIS]));
    assert.deepEqual(await zones({ TZ: "" }), new Set([PARIS]));
    // Another class's zone reaches every node.
    assert.deepEqual(await zones({ TZ: "America/Cayenne" }), new Set(["America/Cayenne"]));
  },
);

/** `ms` on the wall clock of `timeZone`, in the server's timestamp format, computed by ICU. */
function wallClock(ms: number, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }).formatToParts(ms).map((p) => [p.type, p.value]),
  );
  const { year, month, day, hour, minute, second } = parts;
  return `${year}-${month}-${day}T${hour}:${minute}:${second}.${
    String(ms % 1000).padStart(3, "0")
  }`;
}

Deno.test("a server started with TZ=Europe/Paris stamps a message in Paris time", async () => {
  // Paris is off UTC all year: a server stamping UTC cannot pass.
  assert.notEqual(wallClock(Date.now(), PARIS), wallClock(Date.now(), "UTC"));
  const server = await launch(
    ["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--db", ":memory:"],
    { TZ: PARIS },
  );
  try {
    await using alice = await TestClient.connect(server.port);
    await alice.loginAs("alice");
    const before = Date.now();
    await alice.send({ type: "message", content: "Bonjour", id: 1 });
    const ack = await alice.json();
    const after = Date.now();
    assert.equal(ack.type, "ack", JSON.stringify(ack));
    const stamp = String(ack.timestamp);
    assert.match(stamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
    // Same fixed-width format: text order is time order.
    const [low, high] = [wallClock(before, PARIS), wallClock(after, PARIS)];
    assert.ok(low <= stamp && stamp <= high, `${stamp} between ${low} and ${high} (Paris)`);
  } finally {
    server.child.kill("SIGTERM");
    const { code } = await server.exit();
    assert.equal(code, 0);
  }
});

// ---------------------------------------------------------------------------------------------
// compose.yaml's cluster profile and deploy/cluster/

const CLUSTER = `${ROOT}/deploy/cluster`;

/** The services `docker compose up <targets>` starts: the targets and their dependencies. */
function startedWith(services: Record<string, ComposeService>, targets: string[]): Set<string> {
  const started = new Set<string>();
  const visit = (name: string) => {
    assert.ok(services[name], `${name} is a service`);
    if (started.has(name)) return;
    started.add(name);
    for (const dep of Object.keys(services[name].depends_on ?? {})) visit(dep);
  };
  targets.forEach(visit);
  return started;
}

/** Host ports published by more than one of `names`. */
function clashes(services: Record<string, ComposeService>, names: Iterable<string>): number[] {
  const all = [...names].flatMap((n) => published(services[n]));
  return all.filter((port, i) => all.indexOf(port) !== i);
}

/**
 * The settings of a nats-server config, by dotted path (`cluster.routes`), each as its values:
 * the subset of the syntax deploy/cluster/ uses (blocks, `key: value`, one-per-line lists).
 * Whether nats-server accepts the file is its own test (`nats-server -t`).
 */
function natsSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const path: string[] = [];
  let list: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    if (list !== undefined) {
      if (line === "]") list = undefined;
      else out.get(list)!.push(line);
      continue;
    }
    const block = line.match(/^(\w+)\s*[:=]?\s*\{$/);
    if (block) {
      path.push(block[1]);
      continue;
    }
    if (line === "}") {
      path.pop();
      continue;
    }
    const setting = line.match(/^(\w+)\s*[:=]\s*(.+)$/);
    assert.ok(setting, `a NATS setting: ${line}`);
    const key = [...path, setting[1]].join(".");
    if (setting[2] === "[") {
      list = key;
      out.set(key, []);
    } else out.set(key, [setting[2]]);
  }
  return out;
}

/** The one value of a NATS setting. */
function natsSetting(settings: Map<string, string[]>, key: string): string {
  const values = settings.get(key);
  assert.equal(values?.length, 1, `${key} is set once`);
  return values[0];
}

/** The port of a `host:port` listen address. */
function portOf(address: string): number {
  const port = Number(address.match(/:(\d+)$/)?.[1]);
  assert.ok(port > 0, `a port in ${address}`);
  return port;
}

/** haproxy.cfg's sections (`frontend chat`, `defaults`...) and their lines, comments dropped. */
function haproxySections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/(^|\s)#.*$/, "").trimEnd();
    if (line.trim() === "") continue;
    if (!/^\s/.test(line)) {
      current = [];
      sections.set(line.trim().replace(/\s+/g, " "), current);
    } else current!.push(line.trim().replace(/\s+/g, " "));
  }
  return sections;
}

/** The backend the frontend bound to `port` sends to, and that backend's lines. */
function backendFor(sections: Map<string, string[]>, port: number): [string, string[]] {
  const frontend = [...sections].find(([name, lines]) =>
    name.startsWith("frontend ") && lines.includes(`bind :${port}`)
  );
  assert.ok(frontend, `a frontend binds :${port}`);
  const name = frontend[1].find((l) => l.startsWith("default_backend "))?.split(" ")[1];
  const backend = sections.get(`backend ${name}`);
  assert.ok(backend, `backend ${name} of the frontend on :${port}`);
  return [name!, backend];
}

Deno.test(
  "compose.yaml cluster profile: three routed NATS, nodes on all of them behind a fixed HAProxy",
  needs("docker-compose"),
  async () => {
    const env = { GRAFANA_ADMIN_PASSWORD: "test-only-not-a-password" };
    // docker-compose v1 (1.29) takes --profile and COMPOSE_PROFILES; its `config` prints every
    // service either way, so both must validate the same file the same way.
    const flag = await composeConfig(env, ["cluster"]);
    assert.equal(flag.code, 0, flag.stderr);
    const variable = await composeConfig({ ...env, COMPOSE_PROFILES: "cluster" });
    assert.equal(variable.code, 0, variable.stderr);
    assert.deepEqual(variable.config, flag.config);
    const { services, volumes, networks } = flag.config!;
    const { chat, web, metrics } = defaultPorts();
    const tls = parseConfig([], {}).tlsPort;
    const text = await Deno.readTextFile(`${ROOT}/compose.yaml`);

    // Every service is the single node's (no profile) or the cluster's, never both.
    const always = Object.keys(services).filter((n) => !services[n].profiles);
    const cluster = Object.keys(services).filter((n) => services[n].profiles);
    for (const n of cluster) assert.deepEqual(services[n].profiles, ["cluster"], n);
    const declared = (source: string) => volumes !== undefined && source in volumes;

    // The command of the header starts the whole cluster and nothing of the single node (which
    // has no profile, so it would start with any plain `up`); each setup's host ports are its own.
    const command = text.match(/^#\s+docker compose --profile cluster up -d (?:--build )?(.+)$/m);
    assert.ok(command, "compose.yaml's header says how to start the cluster");
    const started = startedWith(services, command[1].trim().split(/\s+/));
    assert.deepEqual([...started].sort(), [...cluster].sort(), "the command starts the cluster");
    assert.deepEqual(clashes(services, started), []);
    assert.deepEqual(clashes(services, always), []);

    // Three NATS servers, JetStream on a volume each, each routed to all three.
    const nats = cluster.filter((n) => services[n].image?.startsWith("nats:"));
    assert.equal(nats.length, 3, "three NATS servers (R3 streams, a quorum of 2)");
    const settings = new Map<string, Map<string, string[]>>();
    for (const n of nats) {
      const svc = services[n];
      // 2.9 or 2.10, the versions whose options the configs may use (Debian has 2.9.10).
      assert.match(svc.image!, /^nats:2\.(9|10)\.\d+(-alpine[\d.]*)?$/, `${n}: pinned NATS`);
      assert.ok(svc.restart, n);
      assert.deepEqual(published(svc), [], `${n} is reached on the compose network only`);
      const conf = mounts(svc).find((m) => m.startsWith(`${CLUSTER}/`));
      assert.ok(conf && conf.endsWith(":ro"), `${n}: a read-only config from deploy/cluster/`);
      const [source, target] = conf.split(":");
      assert.deepEqual(svc.command?.slice(-2), ["--config", target], `${n} runs ${target}`);
      settings.set(n, natsSettings(await Deno.readTextFile(source)));
    }
    const clientPort = (n: string) => portOf(natsSetting(settings.get(n)!, "listen"));
    const routePort = (n: string) => portOf(natsSetting(settings.get(n)!, "cluster.listen"));
    const stores = new Set<string>();
    for (const [n, conf] of settings) {
      assert.equal(natsSetting(conf, "server_name"), n, "server_name is the service's name");
      assert.equal(
        natsSetting(conf, "cluster.name"),
        natsSetting(settings.get(nats[0])!, "cluster.name"),
      );
      const routes = (conf.get("cluster.routes") ?? []).map((url) => {
        const route = url.match(/^nats-route:\/\/([\w-]+):(\d+)$/);
        assert.ok(route, `${n}: route ${url}`);
        return `${route[1]}:${route[2]}`;
      });
      assert.deepEqual(
        routes.sort(),
        nats.map((m) => `${m}:${routePort(m)}`).sort(),
        `${n} routes`,
      );
      const storeDir = natsSetting(conf, "jetstream.store_dir");
      const store = mounts(services[n]).find((m) => m.split(":")[1] === storeDir);
      assert.ok(store && store.endsWith(":rw"), `${n}: ${storeDir} is a writable volume`);
      const volume = store.split(":")[0];
      assert.ok(declared(volume) && !stores.has(volume), `${n}: its own named volume ${volume}`);
      stores.add(volume);
      const health = portOf(natsSetting(conf, "http"));
      assert.ok(
        services[n].healthcheck?.test.some((a) => a.endsWith(`:${health}/healthz`)),
        `${n}: health check on its monitoring port ${health}`,
      );
    }

    // HAProxy: pinned, its config mounted, a fixed address inside the cluster network's subnet,
    // the single node's host ports (TLS published once the nodes have a certificate).
    const [lb, ...more] = cluster.filter((n) => services[n].image?.startsWith("haproxy:"));
    assert.ok(lb && more.length === 0, "one HAProxy");
    const haproxy = services[lb];
    assert.match(haproxy.image!, /^haproxy:2\.6\.\d+$/, "pinned HAProxy 2.6");
    assert.ok(
      mounts(haproxy).includes(`${CLUSTER}/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro`),
      mounts(haproxy).join(", "),
    );
    assert.deepEqual(published(haproxy), published(services.classcord));
    for (const p of haproxy.ports!) assert.equal(Number(p.published), Number(p.target));
    assert.match(text, new RegExp(`^\\s*# - "${tls}:${tls}" # TLS`, "m"), "how to publish TLS");
    const [network, attachment] = Object.entries(haproxy.networks ?? {})
      .find(([, a]) => a?.ipv4_address) ?? [];
    const address = attachment?.ipv4_address;
    assert.ok(network && address, "HAProxy has a fixed address");
    const subnet = networks?.[network]?.ipam?.config?.[0]?.subnet;
    assert.ok(subnet, `network ${network} has a fixed subnet`);
    assert.ok(AddressSet.parse(subnet).has(address), `${address} in ${subnet}`);
    assert.ok(!/\.[01]$/.test(address), `${address} is neither the network nor Docker's gateway`);

    // The nodes: the single node's image, all three NATS URLs, their own names and volumes, and
    // a PROXY header accepted from HAProxy's address only (read by the server's own parser).
    const nodes = cluster.filter((n) => services[n].image === services.classcord.image);
    assert.ok(nodes.length >= 2, "two nodes or more");
    const names = new Set<string>();
    const natsUrls = nats.map((n) => `nats://${n}:${clientPort(n)}`).sort();
    for (const n of nodes) {
      const svc = services[n];
      assert.equal(svc.build?.context, ROOT, `${n} is built from the Dockerfile`);
      assert.ok(svc.restart, n);
      assert.deepEqual(published(svc), [], `${n}: clients come through HAProxy`);
      assert.deepEqual(svc.healthcheck?.test, services.classcord.healthcheck?.test);
      const config = parseConfig([], svc.environment ?? {});
      assert.deepEqual([...config.nats].sort(), natsUrls, `${n}: every NATS server`);
      assert.ok(config.nodeName !== "" && !names.has(config.nodeName), `${n}: its own name`);
      names.add(config.nodeName);
      assert.ok(config.proxyFrom.has(address), `${n}: PROXY from ${address}`);
      assert.match(config.proxyFrom.source, new RegExp(`^${address}(/32)?$`), "and nobody else");
      assert.equal(config.metricsHost, "0.0.0.0", `${n}: /metrics for Prometheus`);
      assert.ok(network in (svc.networks ?? {}), `${n} is on HAProxy's network`);
      const data = mounts(svc).find((m) => m.split(":")[1] === "/data");
      const volume = data?.split(":")[0] ?? "";
      assert.ok(declared(volume) && !stores.has(volume), `${n}: its own volume for /data`);
      assert.notEqual(volume, "classcord-data", `${n} leaves the single node's store alone`);
      stores.add(volume);
      for (const m of nats) assert.equal(svc.depends_on?.[m]?.condition, "service_healthy");
    }

    // haproxy.cfg: TCP, readiness from /readyz on the metrics port, every node in every backend;
    // PROXY v2 on chat and TLS; the web port in HTTP mode with X-Forwarded-For (sticky by source
    // for the WebSocket).
    const cfg = haproxySections(await Deno.readTextFile(`${CLUSTER}/haproxy.cfg`));
    const defaults = cfg.get("defaults") ?? [];
    for (const line of ["mode tcp", "option redispatch", "retries 2", "option clitcpka"]) {
      assert.ok(defaults.includes(line), `defaults: ${line}`);
    }
    const server = defaults.find((l) => l.startsWith("default-server ")) ?? "";
    for (
      const part of [
        `check port ${metrics} `,
        "inter 1s fall 2 rise 2",
        "on-marked-down shutdown-sessions",
        "init-addr last,libc,none",
      ]
    ) assert.ok(`${server} `.includes(part), `default-server: ${part}`);
    for (
      const [port, balance, proxy] of [[chat, "leastconn", true], [tls, "leastconn", true], [
        web,
        "source",
        false,
      ]] as const
    ) {
      const [name, lines] = backendFor(cfg, port);
      assert.ok(lines.includes(`balance ${balance}`), `backend ${name}: balance ${balance}`);
      if (!proxy) {
        // The nodes read the browser's address from X-Forwarded-For (from --proxy-from only).
        assert.ok(lines.includes("mode http"), `backend ${name}: mode http`);
        const front = [...cfg].find(([k, l]) =>
          k.startsWith("frontend ") && l.includes(`default_backend ${name}`)
        )?.[1] ?? [];
        assert.ok(front.includes("option forwardfor"), `frontend of ${name}: option forwardfor`);
      }
      assert.ok(lines.includes("option httpchk GET /readyz"), `backend ${name}: /readyz`);
      const servers = lines.filter((l) => l.startsWith("server "));
      assert.deepEqual(
        servers.map((l) => l.split(" ")[2]).sort(),
        nodes.map((n) => `${n}:${port}`).sort(),
        `backend ${name}: every node`,
      );
      for (const l of servers) {
        assert.equal(
          l.includes("send-proxy-v2"),
          proxy,
          `${l}: PROXY v2 ${proxy ? "sent" : "not sent"}`,
        );
        assert.ok(!/send-proxy(\s|$)/.test(l), `${l}: v2 only`);
      }
    }

    // Prometheus scrapes every node, with the alert rules; Grafana finds it by its usual name.
    const [prom] = cluster.filter((n) => services[n].image?.startsWith("prom/prometheus:"));
    assert.ok(prom, "a Prometheus in the cluster profile");
    assert.equal(services[prom].image, services.prometheus.image);
    for (
      const m of [
        `${ROOT}/monitoring/prometheus-cluster.yml:/etc/prometheus/prometheus.yml:ro`,
        `${ROOT}/monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro`,
      ]
    ) assert.ok(mounts(services[prom]).includes(m), `${m} in ${mounts(services[prom])}`);
    const scrape = await yamlValue(
      await Deno.readTextFile(`${ROOT}/monitoring/prometheus-cluster.yml`),
    ) as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    const job = scrape.scrape_configs.find((j) => j.job_name === "classcord");
    assert.deepEqual(
      job?.static_configs.flatMap((c) => c.targets).sort(),
      nodes.map((n) => `${n}:${metrics}`).sort(),
      "job classcord scrapes every node",
    );
    const datasources = await yamlValue(
      await Deno.readTextFile(`${ROOT}/monitoring/grafana/provisioning/datasources/prometheus.yml`),
    ) as { datasources: { url: string }[] };
    const host = new URL(datasources.datasources[0].url).hostname;
    const [grafana] = cluster.filter((n) => services[n].image?.startsWith("grafana/grafana:"));
    assert.ok(grafana, "a Grafana in the cluster profile");
    const reachable = Object.entries(services[prom].networks ?? {}).some(([net, a]) =>
      net in (services[grafana].networks ?? {}) && (a?.aliases ?? []).includes(host)
    );
    assert.ok(reachable, `Grafana reaches ${prom} as "${host}"`);

    // State only in named volumes (declared), configuration read-only.
    for (const n of cluster) {
      for (const m of mounts(services[n])) {
        const source = m.split(":")[0];
        if (source.startsWith("/")) assert.ok(m.endsWith(":ro"), `${n}: ${m} is read-only`);
        else assert.ok(declared(source), `${n}: volume ${source} is declared`);
      }
    }
  },
);

Deno.test(
  "haproxy -c accepts deploy/cluster/haproxy.cfg, warning only of node names Docker resolves",
  needs("haproxy"),
  async () => {
    // Outside the compose network the node names do not resolve: init-addr none starts those
    // servers without an address (a warning each), which Docker's DNS then provides.
    const out = await exec(tool("haproxy"), ["-c", "-f", `${CLUSTER}/haproxy.cfg`]);
    assert.equal(out.code, 0, out.stderr + out.stdout);
    const output = (out.stderr + out.stdout).split("\n");
    assert.deepEqual(output.filter((l) => l.includes("[ALERT]")), []);
    const warnings = output.filter((l) => l.includes("[WARNING]"));
    for (const w of warnings) {
      assert.match(w, /could not resolve address 'classcord-\d+', disabling server\.$/, w);
    }
  },
);

/** `promise`, or an error naming `what` after `ms` (every wait on a socket has a deadline). */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  promise.catch(() => {}); // settled by the cleanup when the deadline won
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Connections a listener accepted, handed out in order. */
class Accepted<T> {
  #ready: T[] = [];
  #waiting: ((value: T) => void)[] = [];
  push(value: T): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(value);
    else this.#ready.push(value);
  }
  next(what: string): Promise<T> {
    const ready = this.#ready.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return within(10_000, what, new Promise<T>((resolve) => this.#waiting.push(resolve)));
  }
}

/** The first `n` bytes a connection receives (fewer if it closes first). */
async function readBytes(conn: Deno.Conn, n: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const read = await within(10_000, what, conn.read(out.subarray(got)));
    if (read === null) break;
    got += read;
  }
  return out.subarray(0, got);
}

/** The PROXY protocol v2 signature (proxy-protocol.txt, 2.2). */
const PROXY_V2 = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

Deno.test(
  "haproxy.cfg, run on loopback: PROXY v2 on chat and TLS, X-Forwarded-For on web, a node out on /readyz",
  needs("haproxy"),
  async () => {
    const { chat, web, metrics } = defaultPorts();
    const tls = parseConfig([], {}).tlsPort;
    const roles = [chat, tls, web];

    // Two fake nodes on their own loopback addresses (127.0.0.2 and .3): a listener per role and
    // a /readyz on one shared port, as the config checks every node on the same port.
    const listeners: Deno.TcpListener[] = [];
    const conns: Deno.Conn[] = [];
    const loops: Promise<void>[] = [];
    const accepted = new Map<number, Accepted<{ node: number; conn: Deno.Conn }>>(
      roles.map((r) => [r, new Accepted()]),
    );
    const nodes = [1, 2].map((n) => ({
      host: `127.0.0.${n + 1}`,
      healthy: true,
      ports: new Map<number, number>(),
    }));
    for (const [i, node] of nodes.entries()) {
      for (const role of roles) {
        const listener = Deno.listen({ hostname: node.host, port: 0 });
        listeners.push(listener);
        node.ports.set(role, listener.addr.port);
        loops.push((async () => {
          for await (const conn of listener) {
            conns.push(conn);
            accepted.get(role)!.push({ node: i, conn });
          }
        })());
      }
    }
    let checked: () => void;
    const firstCheck = new Promise<void>((resolve) => checked = resolve);
    const probe = Deno.listen({ hostname: nodes[0].host, port: 0 });
    probe.close();
    const health = probe.addr.port;
    const servers = nodes.map((node) =>
      Deno.serve({ hostname: node.host, port: health, onListen: () => {} }, (req) => {
        checked();
        const ok = node.healthy && new URL(req.url).pathname === "/readyz";
        return new Response(ok ? "ok" : "down", { status: ok ? 200 : 503 });
      })
    );

    // The config with loopback addresses and free ports in place of Docker's names and ports.
    const frontends = new Map<number, number>();
    let text = await Deno.readTextFile(`${CLUSTER}/haproxy.cfg`);
    text = text.replace(/^(\s*bind ):(\d+)$/gm, (_, bind, port) => {
      frontends.set(Number(port), freePort());
      return `${bind}127.0.0.1:${frontends.get(Number(port))}`;
    });
    text = text.replace(/\bclasscord-(\d+):(\d+)\b/g, (_, n, port) => {
      const node = nodes[Number(n) - 1];
      return `${node.host}:${node.ports.get(Number(port))}`;
    });
    assert.ok(text.includes(` check port ${metrics} `));
    text = text.replace(` check port ${metrics} `, ` check port ${health} `);
    for (const role of roles) assert.ok(frontends.has(role), `a frontend on ${role}`);

    const tmp = await Deno.makeTempDir({ prefix: "classcord_haproxy_" });
    const clients: Deno.Conn[] = [];
    let haproxy: Deno.ChildProcess | undefined;
    try {
      await Deno.writeTextFile(`${tmp}/haproxy.cfg`, text);
      haproxy = new Deno.Command(tool("haproxy"), {
        args: ["-db", "-f", `${tmp}/haproxy.cfg`],
        clearEnv: true,
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // HAProxy binds its frontends before its first health check.
      await within(10_000, "HAProxy's first health check", firstCheck);
      const dial = async (role: number) => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: frontends.get(role)! });
        clients.push(conn);
        return conn;
      };

      // Chat and TLS: a PROXY v2 header naming the client, then the client's bytes.
      for (const role of [chat, tls]) {
        const client = await dial(role);
        await client.write(new TextEncoder().encode("{}\n"));
        const { conn } = await accepted.get(role)!.next(`a connection on ${role}`);
        const head = await readBytes(conn, 16, "the PROXY header");
        assert.deepEqual([...head.subarray(0, 12)], PROXY_V2, `PROXY v2 on ${role}`);
        assert.equal(head[12], 0x21, "version 2, PROXY command");
        assert.equal(head[13], 0x11, "TCP over IPv4");
        const length = (head[14] << 8) | head[15];
        const addresses = await readBytes(conn, length, "the addresses");
        assert.deepEqual([...addresses.subarray(0, 4)], [127, 0, 0, 1], "the client's address");
        const port = (addresses[8] << 8) | addresses[9];
        assert.equal(port, (client.localAddr as Deno.NetAddr).port, "the client's port");
        assert.equal(decoder.decode(await readBytes(conn, 3, "the client's line")), "{}\n");
      }

      // Web: the browser's request, with its address appended to X-Forwarded-For.
      const browser = await dial(web);
      await browser.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      const { conn: page } = await accepted.get(web)!.next(`a connection on ${web}`);
      let request = "";
      while (!request.includes("\r\n\r\n")) {
        request += decoder.decode(await readBytes(page, 1, "the request"));
      }
      assert.match(request, /^GET \/ HTTP\/1\.1\r\n/);
      assert.match(request, /\r\nx-forwarded-for: 127\.0\.0\.1\r\n/i, request);

      // A node whose /readyz turns red is taken out and its sessions closed; the next
      // connection goes to the other node.
      const student = await dial(chat);
      const { node: first } = await accepted.get(chat)!.next("the student's connection");
      nodes[first].healthy = false;
      const closed = await within(
        10_000,
        "the session's close",
        student.read(new Uint8Array(1)).catch(() => null),
      );
      assert.equal(closed, null, "closed by HAProxy (on-marked-down shutdown-sessions)");
      await dial(chat);
      const { node: second } = await accepted.get(chat)!.next("the next connection");
      assert.notEqual(second, first, "the next student lands on the healthy node");
    } finally {
      for (const c of [...clients, ...conns]) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      if (haproxy) {
        haproxy.kill("SIGTERM");
        await haproxy.output();
      }
      for (const l of listeners) l.close();
      await Promise.all(loops);
      await Promise.all(servers.map((s) => s.shutdown()));
      await Deno.remove(tmp, { recursive: true });
    }
  },
);

Deno.test(
  "nats-server -t accepts the three cluster configs, alike but for server_name",
  needs("nats-server"),
  async () => {
    const files = [...Deno.readDirSync(CLUSTER)].map((e) => e.name)
      .filter((n) => /^nats-\d+\.conf$/.test(n)).sort();
    assert.deepEqual(files, ["nats-1.conf", "nats-2.conf", "nats-3.conf"]);
    const shapes = new Set<string>();
    for (const file of files) {
      const out = await exec(tool("nats-server"), ["-t", "-c", `${CLUSTER}/${file}`]);
      assert.equal(out.code, 0, `${file}: ${out.stderr}${out.stdout}`);
      const settings = natsSettings(await Deno.readTextFile(`${CLUSTER}/${file}`));
      assert.deepEqual(settings.get("server_name"), [file.replace(/\.conf$/, "")]);
      settings.delete("server_name");
      shapes.add(JSON.stringify([...settings]));
    }
    assert.equal(shapes.size, 1, "the files differ only in server_name");
  },
);

Deno.test(
  "promtool accepts monitoring/prometheus-cluster.yml and loads alerts.yml beside it",
  needs("promtool"),
  async () => {
    const out = await exec(tool("promtool"), ["check", "config", "prometheus-cluster.yml"], {
      cwd: `${ROOT}/monitoring`,
    });
    assert.equal(out.code, 0, out.stderr + out.stdout);
    assert.match(out.stdout + out.stderr, /SUCCESS: 1 rule files found/);
  },
);

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions, continuation lines joined and comments dropped, with their stage. */
function dockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") && current === "") continue;
    if (line.startsWith("#")) continue; // comment inside a continued instruction
    current += (current ? " " : "") + line.replace(/\\$/, "").trim();
    if (line.endsWith("\\")) continue;
    if (current !== "") {
      const [, op, args] = current.match(/^(\S+)\s*(.*)$/)!;
      if (op.toUpperCase() === "FROM") stage++;
      out.push({ op: op.toUpperCase(), args, stage });
    }
    current = "";
  }
  return out;
}

Deno.test("Dockerfile: cached deps, compile task, small non-root runtime with a health check", async () => {
  const steps = dockerfile(await Deno.readTextFile(`${ROOT}/Dockerfile`));
  const froms = steps.filter((s) => s.op === "FROM");
  assert.ok(froms.length >= 2, "multi-stage");
  const last = froms.length - 1;
  const runtime = steps.filter((s) => s.stage === last);
  const builder = steps.filter((s) => s.stage === 0);

  // Builder: Deno of .ci/run, deno.json and deno.lock installed before the source is copied.
  const ciDeno = (await Deno.readTextFile(`${ROOT}/.ci/run`)).match(/DENO_VERSION=(\S+)/)![1];
  const versionArg = steps.find((s) => s.op === "ARG" && s.args.startsWith("DENO_VERSION="));
  assert.equal(versionArg?.args, `DENO_VERSION=${ciDeno}`, "the Deno version of .ci/run");
  assert.match(froms[0].args, /denoland\/deno:(bin-)?\$\{DENO_VERSION\} AS builder$/);
  const at = (pred: (s: Instruction) => boolean) => builder.findIndex(pred);
  const copyDeps = at((s) => s.op === "COPY" && /\bdeno\.json\b.*\bdeno\.lock\b/.test(s.args));
  const install = at((s) => s.op === "RUN" && /deno install --frozen/.test(s.args));
  const copySrc = at((s) => s.op === "COPY" && /^src\/? /.test(s.args));
  const copyWeb = at((s) => s.op === "COPY" && /^web\/? web/.test(s.args));
  const copyMembers = at((s) => s.op === "COPY" && /^web\/deno\.json /.test(s.args));
  const compile = at((s) => s.op === "RUN" && /deno task compile --target /.test(s.args));
  assert.ok(copyDeps >= 0 && copyDeps < install && install < copySrc && copySrc < compile);
  // The lock covers the workspace: its member's config before the install, its code before
  // the compile (which builds the web app and embeds it).
  assert.ok(copyMembers >= 0 && copyMembers < install, "web/deno.json before deno install");
  assert.ok(copyWeb > install && copyWeb < compile, "web/ before the compile");

  // Runtime: small base, one binary, the data volume, ports, health check, non-root user.
  assert.match(
    froms[last].args,
    /^(gcr\.io\/distroless\/cc-debian12:nonroot|debian:bookworm-slim)$/,
  );
  const copies = runtime.filter((s) => s.op === "COPY").map((s) => s.args);
  assert.ok(copies.includes("--from=builder /out/classcord /classcord"), copies.join("\n"));
  const args = (op: string) => runtime.filter((s) => s.op === op).map((s) => s.args);
  assert.deepEqual(args("VOLUME"), ["/data"]);
  // The store in the volume, and the allocator setting of every launcher (scripts/compile.ts,
  // SERVER_ENV, checked against the Dockerfile by scripts/compile_test.ts).
  assert.deepEqual(args("ENV"), [
    "CLASSCORD_DB=/data/classcord.kv",
    "MALLOC_MMAP_THRESHOLD_=131072",
  ]);
  const { chat, web, metrics } = defaultPorts();
  assert.deepEqual(args("EXPOSE"), [`${chat} ${web} ${metrics}`]);
  assert.equal(args("HEALTHCHECK").length, 1);
  assert.match(args("HEALTHCHECK")[0], /CMD \["\/classcord", "healthcheck"\]$/);
  assert.deepEqual(args("ENTRYPOINT"), ['["/classcord"]'], "exec form: PID 1 gets SIGTERM");
  const users = args("USER");
  assert.ok(users.length > 0, "a USER in the runtime stage");
  const user = users.at(-1)!.split(":")[0];
  assert.ok(!["root", "0"].includes(user), `runs as ${user}`);
  assert.ok(runtime.findIndex((s) => s.op === "USER") > 0);
});

Deno.test(".dockerignore keeps secrets, data and history out, and what the build copies in", async () => {
  const patterns = (await Deno.readTextFile(`${ROOT}/.dockerignore`)).split("\n")
    .map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  for (const p of [".env", "data/", "dist/", ".git/", "*.kv"]) assert.ok(patterns.includes(p), p);
  for (
    const needed of [
      "deno.json",
      "deno.lock",
      "src",
      "scripts",
      "src/main.ts",
      "web",
      "web/deno.json",
    ]
  ) {
    for (const p of patterns) {
      const re = new RegExp(
        "^" + p.replace(/\/$/, "").replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*\//g, "(.*/)?")
          .replace(/\*/g, "[^/]*") +
          "(/.*)?$",
      );
      assert.ok(!re.test(needed), `${p} excludes ${needed}, which the Dockerfile copies`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// deploy/classcord.service

/** The unit's settings: section → key → values in order (keys may repeat). */
function unitSettings(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = line.match(/^\[(.+)\]$/);
    if (section) {
      current = new Map();
      sections.set(section[1], current);
      continue;
    }
    const [, key, value] = line.match(/^([A-Za-z]+)=(.*)$/)!;
    current!.set(key, [...current!.get(key) ?? [], value]);
  }
  return sections;
}

const UNIT = `${ROOT}/deploy/classcord.service`;

/** The unit with ExecStart pointed at a stand-in executable, since the binary is not installed. */
async function unitCopy(dir: string): Promise<string> {
  const text = await Deno.readTextFile(UNIT);
  assert.match(text, /^ExecStart=\/usr\/local\/bin\/classcord$/m);
  await Deno.writeTextFile(`${dir}/classcord`, "#!/bin/sh\n", { mode: 0o755 });
  const copy = `${dir}/classcord.service`;
  await Deno.writeTextFile(
    copy,
    text.replace(/^ExecStart=\/usr\/local\/bin\/classcord$/m, `ExecStart=${dir}/classcord`),
  );
  return copy;
}

Deno.test(
  "classcord.service passes systemd-analyze verify without a warning, exposure OK",
  needs("systemd-analyze"),
  async () => {
    const analyze = tool("systemd-analyze");
    const tmp = await Deno.makeTempDir({ prefix: "classcord_unit_" });
    try {
      const unit = await unitCopy(tmp);
      // Unknown keys and bad values are warnings with exit code 0: any output is a failure.
      const verify = await exec(analyze, ["verify", "--man=no", unit]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.equal(verify.stderr + verify.stdout, "");
      // The class's zone in message timestamps, whatever the host's (a VM is often in UTC).
      const environment = unitSettings(await Deno.readTextFile(unit)).get("Service")!
        .get("Environment") ?? [];
      const zone = environment.filter((e) => e.startsWith("TZ=")).map((e) => e.slice(3));
      assert.deepEqual(zone, [PARIS], "Environment=TZ=Europe/Paris, once");
      assert.ok(isTimeZone(zone[0]), `${zone[0]} is a zone the server knows`);
      const security = await exec(analyze, ["security", "--offline=yes", "--no-pager", unit]);
      const level = security.stdout.match(/Overall exposure level for [^:]+: (\d+(?:\.\d+)?)/);
      assert.ok(level, security.stdout + security.stderr);
      // 0 is a perfect sandbox, 10 none; what is left open is the network (the server's job),
      // the JIT (MemoryDenyWriteExecute) and the other allowances commented in the unit.
      assert.ok(Number(level[1]) <= 2, `exposure ${level[1]}:\n${security.stdout}`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
);

Deno.test("classcord.service: dedicated user, state directory, hardening, no W^X ban", async () => {
  const text = await Deno.readTextFile(UNIT);
  const service = unitSettings(text).get("Service")!;
  const one = (key: string) => {
    const values = service.get(key);
    assert.ok(values, `${key}= is set`);
    return values.at(-1)!;
  };
  assert.equal(one("ExecStart"), "/usr/local/bin/classcord");
  // systemctl reload: SIGHUP reloads the TLS certificate and reopens the log file.
  assert.equal(one("ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(one("User"), "classcord");
  assert.ok(!service.has("DynamicUser"), "one choice of user");
  assert.equal(one("StateDirectory"), "classcord");
  assert.ok(service.get("Environment")!.includes("CLASSCORD_DB=/var/lib/classcord/classcord.kv"));
  const expected: Record<string, string> = {
    Restart: "on-failure",
    ProtectSystem: "strict",
    ProtectHome: "yes",
    NoNewPrivileges: "yes",
    PrivateTmp: "yes",
    PrivateDevices: "yes",
    ProtectKernelTunables: "yes",
    ProtectKernelModules: "yes",
    ProtectKernelLogs: "yes",
    RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
    CapabilityBoundingSet: "",
    SystemCallFilter: "@system-service",
    KillSignal: "SIGTERM",
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(one(key), value, key);
  // V8 writes machine code then executes it: MemoryDenyWriteExecute would stop the server.
  assert.ok(!service.has("MemoryDenyWriteExecute"));
  assert.match(text, /^# MemoryDenyWriteExecute= is deliberately not set: V8/m);
  // 1000+ connections, one descriptor each, plus the store's files.
  assert.ok(Number(one("LimitNOFILE")) >= 4096, "LimitNOFILE");
  // Longer than the 10 s write deadline a clean shutdown may wait for (docs/protocol.md §5.11).
  const stop = one("TimeoutStopSec").match(/^(\d+)s?$/);
  assert.ok(stop && Number(stop[1]) > 10, "TimeoutStopSec");
  assert.ok(
    !service.get("Environment")!.some((e) => /^CLASSCORD_(PORT|WEB_PORT|METRICS_PORT)=/.test(e)),
    "the default ports, as the firewall steps of the README",
  );
});
