// Deployment files, checked without a Docker engine or a running systemd: compose.yaml through
// docker-compose's own validation, the systemd unit through systemd-analyze, and the Dockerfile,
// .dockerignore and .env.example by their structure.
import assert from "node:assert/strict";
import { parseConfig } from "../src/config.ts";
import { ROOT } from "../scripts/compile.ts";
import { needs, PACKAGES, type Tool, which } from "./helpers/tools.ts";

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
  build?: { context: string };
  image?: string;
  restart?: string;
  ports?: { published: number | string; target: number | string }[];
  volumes?: (string | { type: string; source: string; target: string; read_only?: boolean })[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/**
 * `docker-compose config` of compose.yaml with only these variables (and an empty env file, so a
 * developer's .env plays no part), and its output as JSON when it succeeded. docker-compose (v1,
 * Debian's package) is Python and prints YAML; its own interpreter, which has PyYAML, converts.
 */
async function composeConfig(
  env: Record<string, string>,
): Promise<Output & { config?: Compose }> {
  const compose = tool("docker-compose");
  const tmp = await Deno.makeTempDir({ prefix: "classcord_compose_" });
  try {
    await Deno.writeTextFile(`${tmp}/empty.env`, "");
    const out = await exec(compose, [
      "--project-directory",
      ROOT,
      "--env-file",
      `${tmp}/empty.env`,
      "-f",
      `${ROOT}/compose.yaml`,
      "config",
    ], { env: { HOME: tmp, ...env } });
    if (out.code !== 0) return out;
    const shebang = (await Deno.readTextFile(compose)).split("\n")[0];
    assert.match(shebang, /^#!\S*python/, `${compose} is not docker-compose v1 (Python)`);
    const python = shebang.slice(2).trim().split(/\s+/);
    const json = await exec(python[0], [
      ...python.slice(1),
      "-c",
      "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
    ], { stdin: out.stdout });
    assert.equal(json.code, 0, json.stderr);
    return { ...out, config: JSON.parse(json.stdout) };
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
    assert.deepEqual(Object.keys(services).sort(), ["classcord", "grafana", "prometheus"]);
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
  assert.deepEqual(args("ENV"), ["CLASSCORD_DB=/data/classcord.kv"]);
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
  // Longer than the 10 s write deadline a clean shutdown may wait for (PROTOCOL B.7).
  const stop = one("TimeoutStopSec").match(/^(\d+)s?$/);
  assert.ok(stop && Number(stop[1]) > 10, "TimeoutStopSec");
  assert.ok(
    !service.get("Environment")!.some((e) => /^CLASSCORD_(PORT|WEB_PORT|METRICS_PORT)=/.test(e)),
    "the default ports, as the firewall steps of the README",
  );
});
