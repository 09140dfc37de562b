// The release build (scripts/compile.ts): what it embeds is enough to run the server away from
// the source tree. Proven with `deno run` on a copy of exactly those files, never with a compiled
// binary (building one needs denort, which CI cannot download).
import assert from "node:assert/strict";
import { relative } from "node:path";
import {
  type Arch,
  chooseArches,
  compileArgs,
  downloadFailure,
  ROOT,
  SERVER_ENV,
  SERVER_V8_FLAGS,
  TARGETS,
} from "./compile.ts";
import { UsageError } from "../src/commands/cli.ts";
import { TestClient } from "../tests/helpers/test_server.ts";
import { freePort } from "../testing/ports.ts";

const HOST_ARCH = Deno.build.arch as Arch;
// Flags of deno compile that have no meaning for deno run, each with its value.
const COMPILE_ONLY = ["--target", "--output", "--include"];

/** The value of each occurrence of `flag` in `args`. */
function valuesOf(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => a === flag ? [args[i + 1]] : []);
}

/** The permission flags of the `start` task of deno.json. */
async function startTaskPermissions(): Promise<string[]> {
  return (await startTaskWords()).filter((w) => w.startsWith("--allow-"));
}

/** The words of `deno task start`'s command. */
async function startTaskWords(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const start = config.tasks.start as string | { command: string };
  const command = typeof start === "string" ? start : start.command;
  return command.split(/\s+/);
}

/** `deno <args>`, failing with deno's stderr when it fails. */
async function deno(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `deno ${args.join(" ")} failed:\n${err}`);
  return new TextDecoder().decode(stdout);
}

interface InfoModule {
  specifier: string;
  local?: string;
  dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
}

/**
 * The local files deno compile embeds for these arguments: the modules reached by code imports
 * (type-only imports are erased) from the entry and from each --include, then the config file
 * and its lock file. With `typeImports`, also the modules only types come from: what building
 * needs, since deno compile type-checks.
 */
async function embeddedFiles(args: string[], typeImports = false): Promise<string[]> {
  const config = valuesOf(args, "--config")[0];
  const roots = [args.at(-1)!, ...valuesOf(args, "--include")];
  const files = new Set<string>([config]);
  const lock = config.replace(/deno\.jsonc?$/, "deno.lock");
  if (await Deno.stat(lock).then(() => true, () => false)) files.add(lock);
  // The lock file covers the workspace, so its members' configs come with it (web/deno.json).
  const root = config.slice(0, config.lastIndexOf("/"));
  const members: string[] = JSON.parse(await Deno.readTextFile(config)).workspace ?? [];
  for (const member of members) files.add(`${root}/${member}/deno.json`);
  for (const root of roots) {
    if ((await Deno.stat(root)).isDirectory) {
      // An included directory is embedded whole (the built web app).
      for (const file of await filesUnder(root)) files.add(file);
      continue;
    }
    const info = JSON.parse(await deno(["info", "--json", "--config", config, root]));
    const modules = new Map<string, InfoModule>(
      (info.modules as InfoModule[]).map((m) => [m.specifier, m]),
    );
    const todo = [...info.roots as string[]];
    const seen = new Set<string>();
    while (todo.length > 0) {
      const specifier = todo.pop()!;
      if (seen.has(specifier)) continue;
      seen.add(specifier);
      const module = modules.get(specifier);
      if (!module) continue; // npm: and node: modules come from the package cache
      if (module.local && specifier.startsWith("file:")) files.add(module.local);
      for (const dep of module.dependencies ?? []) {
        if (dep.code) todo.push(dep.code.specifier);
        if (dep.type && typeImports) todo.push(dep.type.specifier);
      }
    }
  }
  return [...files].sort();
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await filesUnder(path));
    else files.push(path);
  }
  return files;
}

/** Copies `files` (paths under the repository) to the same relative paths under `dest`. */
async function copyFiles(files: string[], dest: string): Promise<void> {
  for (const file of files) {
    const rel = relative(ROOT, file);
    assert.ok(!rel.startsWith(".."), `${file} is outside the repository`);
    const target = `${dest}/${rel}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(file, target);
  }
}

/** The variables a subprocess needs to find deno's caches, and nothing of CLASSCORD_*. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

Deno.test("compileArgs() bakes in exactly the start task's permissions, the entry and the worker", async () => {
  const permissions = await startTaskPermissions();
  assert.ok(permissions.length > 0, "the start task has permissions");
  for (const arch of Object.keys(TARGETS) as Arch[]) {
    const args = compileArgs(arch);
    assert.equal(args[0], "compile");
    assert.deepEqual(
      args.filter((a) => a.startsWith("--allow-") || a === "-A").sort(),
      [...permissions].sort(),
    );
    assert.ok(!args.some((a) => a.startsWith("--no-check")), "compile type-checks");
    assert.deepEqual(valuesOf(args, "--target"), [TARGETS[arch]]);
    assert.deepEqual(valuesOf(args, "--output"), [`${ROOT}/dist/classcord-${arch}`]);
    assert.deepEqual(valuesOf(args, "--config"), [`${ROOT}/deno.json`]);
    assert.ok(valuesOf(args, "--include").includes(`${ROOT}/src/auth/password_worker.ts`));
    assert.ok(valuesOf(args, "--include").includes(`${ROOT}/dist/web`), "the web app");
    assert.equal(args.at(-1), `${ROOT}/src/main.ts`, "the start task's entry point");
    for (const path of [...valuesOf(args, "--include"), args.at(-1)!]) {
      assert.ok(path.startsWith("/"), `${path} does not depend on the working directory`);
      assert.ok(await Deno.stat(path), `${path} exists`);
    }
  }
});

Deno.test("the binary and deno task start run the server with the same V8 flags", async () => {
  const flags = (await startTaskWords()).filter((w) => w.startsWith("--v8-flags="));
  assert.deepEqual(flags, [`--v8-flags=${SERVER_V8_FLAGS}`]);
  for (const arch of Object.keys(TARGETS) as Arch[]) {
    assert.deepEqual(compileArgs(arch).filter((a) => a.startsWith("--v8-flags=")), flags);
  }
});

Deno.test("deno task start, the Docker image and the systemd unit set the server's environment", async () => {
  const expected = Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`).sort();
  // `NAME=value deno run ...`: the words before the program.
  const words = await startTaskWords();
  assert.deepEqual(words.slice(0, words.indexOf("deno")).sort(), expected, "deno task start");
  const docker = await Deno.readTextFile(`${ROOT}/Dockerfile`);
  const image = [...docker.matchAll(/^ENV (\w+=\S+)$/gm)].map((m) => m[1]);
  for (const e of expected) assert.ok(image.includes(e), `Dockerfile: ENV ${e}`);
  const unit = await Deno.readTextFile(`${ROOT}/deploy/classcord.service`);
  const service = [...unit.matchAll(/^Environment=(\S+)$/gm)].map((m) => m[1]);
  for (const e of expected) assert.ok(service.includes(e), `classcord.service: Environment=${e}`);
});

Deno.test("the server and every command run from a copy of only what compile embeds, elsewhere", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "classcord_compile_" });
  try {
    assert.ok(!tmp.startsWith(ROOT + "/"), "the copy is outside the repository");
    const copy = `${tmp}/app`;
    const cwd = `${tmp}/cwd`;
    await Deno.mkdir(cwd);
    const files = await embeddedFiles(compileArgs(HOST_ARCH));
    assert.ok(files.includes(`${ROOT}/src/auth/password_worker.ts`), "the worker is embedded");
    assert.ok(!files.some((f) => f.includes("/tests/") || f.includes("/scripts/")));
    await copyFiles(files, copy);

    // The same entry point, permissions and config as the binary, pointed at the copy.
    const args = compileArgs(HOST_ARCH, { root: copy });
    const runFlags = args.slice(1, -1).filter((a, i, all) =>
      !COMPILE_ONLY.includes(a) && !COMPILE_ONLY.includes(all[i - 1])
    );
    assert.ok(files.includes(`${ROOT}/dist/web/index.html`), "the web app is embedded");
    const metricsPort = freePort();
    const webPort = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...runFlags,
        args.at(-1)!,
        "--host=127.0.0.1",
        "--port=0",
        `--metrics-port=${metricsPort}`,
        `--web-port=${webPort}`,
        `--db=${tmp}/x.kv`,
      ],
      cwd,
      clearEnv: true,
      env: baseEnv(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const stderr = new Response(child.stderr).text();
    let out = "";
    let port: number | undefined;
    try {
      while (port === undefined) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`Server exited before listening:\n${out}\n${await stderr}`);
        out += value;
        const m = out.match(/Listening on 127\.0\.0\.1:(\d+)/);
        if (m) port = Number(m[1]);
      }

      // register and login hash and verify in the password Worker.
      await using alice = await TestClient.connect(port);
      assert.equal((await alice.loginAs("alice", "pw-1")).status, "ok");
      assert.deepEqual(await alice.request({ type: "users" }), { type: "users", users: ["alice"] });
      alice.close();

      const res = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      await res.body?.cancel();
      assert.equal(res.status, 200);

      // The web app is served from the embedded copy: the page and the script it names.
      const page = await fetch(`http://127.0.0.1:${webPort}/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      const script = html.match(/src="(?:\.?\/)?(index-[A-Z0-9]+\.js)"/)?.[1];
      assert.ok(script, `a hashed script in:\n${html}`);
      const js = await fetch(`http://127.0.0.1:${webPort}/${script}`);
      assert.equal(js.status, 200);
      assert.match(js.headers.get("content-type") ?? "", /javascript/);
      assert.ok((await js.text()).length > 1000);

      // Every command runs from the same copy: nothing one needs is left out of the binary.
      const classcord = async (cli: string[], stdin?: string) => {
        const run = new Deno.Command(Deno.execPath(), {
          args: ["run", ...runFlags, args.at(-1)!, ...cli],
          cwd,
          clearEnv: true,
          env: baseEnv(),
          stdin: stdin === undefined ? "null" : "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        if (stdin !== undefined) {
          const writer = run.stdin.getWriter();
          await writer.write(new TextEncoder().encode(stdin));
          await writer.close();
        }
        const { code, stdout, stderr } = await run.output();
        const text = new TextDecoder();
        const result = { code, out: text.decode(stdout), err: text.decode(stderr) };
        assert.equal(code, 0, `classcord ${cli.join(" ")}: ${result.err}`);
        return result;
      };
      const db = `--db=${tmp}/x.kv`;
      assert.match((await classcord(["version"])).out, /^classcord \d+\.\d+\.\d+\n$/);
      assert.match((await classcord(["--version"])).out, /^classcord /);
      await classcord(["healthcheck", `--metrics-port=${metricsPort}`]);
      // Through the running server's admin socket, hashed in the command's own worker.
      assert.match(
        (await classcord(["user", "add", "prof", "--admin", db], "pw-2\n")).out,
        /Added/,
      );
      assert.match((await classcord(["user", "list", db])).out, /^alice\t.*\nprof\t.*\tadmin\n$/);
      assert.match((await classcord(["export", "--out", "-", db])).out, /^\[/);
      assert.match((await classcord(["backup", "--out", `${tmp}/b.ndjson`, db])).out, /entries/);
      for (
        const command of ["import", "restore", "serve", "user", "export", "backup", "healthcheck"]
      ) {
        assert.match((await classcord([command, "--help"])).out, /Usage|Options/, command);
      }

      child.kill("SIGTERM");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const { code } = await child.status;
      assert.equal(code, 0, `exit code, stderr:\n${await stderr}`);
      assert.match(out, /shutting down/);
      // The server stopped: restore writes a new store itself.
      await classcord(["restore", "--in", `${tmp}/b.ndjson`, `--db=${tmp}/y.kv`]);
      assert.match((await classcord(["user", "list", `--db=${tmp}/y.kv`])).out, /^alice\t/);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(cwd)), [], "nothing written to cwd");
    } finally {
      clearTimeout(killer);
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await reader.cancel().catch(() => {});
      await stderr;
      await child.status;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/**
 * A stand-in for a denort of this Deno on the ELF machine `machine`: what the compile task reads
 * of one (the ELF header, the start-up code's error message, the user agent), and nothing else.
 */
function denortStandIn(machine: number, version = Deno.version.deno): Uint8Array {
  // An ELF header: magic, then e_machine (little-endian) at byte 18.
  const head = new Uint8Array(64);
  head.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  head[18] = machine & 0xff;
  head[19] = machine >> 8;
  const file = new Uint8Array(3 << 20);
  file.set(head);
  // The first mark straddles the end of the first MiB, as the task reads the file in chunks.
  const marks = `Could not find standalone binary section.\0Deno/${version}\0`;
  file.set(new TextEncoder().encode(marks), (1 << 20) - 10);
  return file;
}

Deno.test("DENORT_BIN picks the architecture, and a mismatch is refused before compiling", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "classcord_denort_" });
  try {
    const elf = (machine: number) => denortStandIn(machine);
    await Deno.writeFile(`${tmp}/arm`, elf(183));
    await Deno.writeFile(`${tmp}/x86`, elf(62));
    // An executable without the start-up code (as the deno CLI), and a denort of 2.8.0.
    await Deno.writeFile(`${tmp}/cli`, elf(62).subarray(0, 64));
    await Deno.writeFile(`${tmp}/old`, denortStandIn(62, "2.8.0"));
    await Deno.writeFile(
      `${tmp}/zip`,
      new Uint8Array([0x50, 0x4b, 3, 4, ...new Array(30).fill(0)]),
    );
    assert.deepEqual(await chooseArches(undefined, undefined), ["x86_64", "aarch64"]);
    assert.deepEqual(await chooseArches("all", undefined), ["x86_64", "aarch64"]);
    assert.deepEqual(await chooseArches("aarch64", undefined), ["aarch64"]);
    assert.deepEqual(await chooseArches(undefined, `${tmp}/arm`), ["aarch64"]);
    assert.deepEqual(await chooseArches("x86_64", `${tmp}/x86`), ["x86_64"]);
    await assert.rejects(chooseArches("x86_64", `${tmp}/arm`), UsageError);
    await assert.rejects(chooseArches("all", `${tmp}/x86`), /one x86_64 runtime/);
    await assert.rejects(chooseArches(undefined, `${tmp}/zip`), /zip archive/);
    // Not a denort: an Error (exit 1), not a usage error.
    const notDenort = (why: RegExp) => (err: Error) =>
      !(err instanceof UsageError) &&
      err.message.startsWith(`DENORT_BIN "${tmp}/`) &&
      err.message.includes(`is not a Deno runtime (denort) of Deno ${Deno.version.deno}: `) &&
      why.test(err.message);
    await assert.rejects(chooseArches(undefined, `${tmp}/cli`), notDenort(/no denort start-up/));
    await assert.rejects(chooseArches("x86_64", `${tmp}/old`), notDenort(/another Deno version/));
    await assert.rejects(chooseArches(undefined, `${tmp}/zip`), notDenort(/unzip it/));
    await assert.rejects(chooseArches(undefined, `${tmp}/missing`), /no such file/);
    await assert.rejects(chooseArches("riscv64", undefined), /Invalid --target "riscv64"/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("downloadFailure() turns deno's multi-line download error into one line", () => {
  const stderr = [
    "Check main.ts",
    "Download https://dl.deno.land/release/v2.9.6/denort-aarch64-unknown-linux-gnu.zip",
    "error: Writing deno compile executable to temporary file 'x.tmp'",
    "",
    "Caused by:",
    "    0: Setting up base binary.",
    "    1: error sending request for url (https://dl.deno.land/...): client error (Connect)",
    "    2: dns error",
    "    3: failed to lookup address information: Name or service not known",
    "",
    "Stack backtrace:",
    "   0: <unknown>",
  ].join("\n");
  const line = downloadFailure(stderr, "aarch64")!;
  assert.doesNotMatch(line, /\n/);
  assert.match(line, /denort\) for aarch64-unknown-linux-gnu from dl\.deno\.land/);
  assert.match(line, /\(failed to lookup address information: Name or service not known\)/);
  assert.match(line, /set DENORT_BIN/);
  assert.equal(downloadFailure("error: TS2322 [ERROR]: Type 'string'...", "x86_64"), undefined);
  const afterDownload = "Download https://dl.deno.land/release/v2.9.6/denort-x.zip\n" +
    "error: Writing deno compile executable\n\nCaused by:\n    0: Permission denied (os error 13)";
  assert.equal(downloadFailure(afterDownload, "x86_64"), undefined, "the download worked");
});

/**
 * The compile task, ready to run offline on a copy (under `tmp`/app) of what it needs, so dist/
 * is written there, not in the repository: `run(args, env)` runs it with the task's permissions.
 */
async function offlineCompileTask(tmp: string) {
  const script = `${ROOT}/scripts/compile.ts`;
  const config = `${ROOT}/deno.json`;
  const files = new Set(await embeddedFiles(compileArgs("aarch64"), true));
  for (const f of await embeddedFiles(["compile", "--config", config, script])) files.add(f);
  // The task builds the web app first, from its sources, with its build script.
  for (const f of await filesUnder(`${ROOT}/web`)) files.add(f);
  files.add(`${ROOT}/scripts/web_build.ts`);
  await copyFiles([...files], `${tmp}/app`);
  // A DENO_DIR of its own, so no cached denort can make the download unnecessary; the npm
  // packages come from the real cache. Offline: every request goes to a proxy on a closed port.
  const denoDir = `${tmp}/deno_dir`;
  await Deno.mkdir(denoDir);
  const npmCache = JSON.parse(await deno(["info", "--json"])).npmCache as string;
  await Deno.symlink(npmCache, `${denoDir}/npm`);
  // deno bundle's esbuild binary is cached beside denort, in dl/: only esbuild is brought in.
  const dl = `${npmCache.replace(/\/npm$/, "")}/dl`;
  await Deno.mkdir(`${denoDir}/dl`);
  for await (const entry of Deno.readDir(dl)) {
    if (entry.name.startsWith("esbuild-")) {
      await Deno.symlink(`${dl}/${entry.name}`, `${denoDir}/dl/${entry.name}`);
    }
  }
  const proxy = `http://127.0.0.1:${freePort()}`;
  const offline = { ...baseEnv(), DENO_DIR: denoDir, HTTPS_PROXY: proxy, HTTP_PROXY: proxy };
  const task = JSON.parse(await Deno.readTextFile(config)).tasks.compile as string;
  const taskFlags = task.split(/\s+/).filter((w) => w.startsWith("--allow-"));
  return {
    /** The copy's dist/, where the task writes. */
    dist: `${tmp}/app/dist`,
    async run(args: string[], env: Record<string, string> = {}) {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...taskFlags, `${tmp}/app/scripts/compile.ts`, ...args],
        cwd: tmp,
        clearEnv: true,
        env: { ...offline, ...env },
        stdin: "null",
        signal: AbortSignal.timeout(300_000),
      }).output();
      const decoder = new TextDecoder();
      return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
    },
  };
}

Deno.test("deno task compile offline and without DENORT_BIN fails with one line", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "classcord_offline_" });
  try {
    const task = await offlineCompileTask(tmp);
    const { code, out, err } = await task.run(["--target", "aarch64"]);
    const lines = err.trim().split("\n");
    assert.equal(code, 1);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], /^compile: Cannot download the Deno runtime \(denort\) for aarch64/);
    assert.match(lines[0], /set DENORT_BIN/);
    assert.equal(out, "");
    // Only the web app was built; no binary, not even a partial one.
    const dist = await Array.fromAsync(Deno.readDir(task.dist), (e) => e.name);
    assert.deepEqual(dist, ["web"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("deno task compile with a DENORT_BIN that is not a denort says so in one line and leaves nothing", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "classcord_not_denort_" });
  try {
    const task = await offlineCompileTask(tmp);
    const cases: [string, string, RegExp][] = [
      [`${tmp}/notes.txt`, "not a denort\n", /: it is not a Linux x86_64 or aarch64 executable$/],
      // The CLI of npm's deno package: an executable of the right version, but not a denort.
      [Deno.execPath(), "", /: it has no denort start-up code \(the deno command itself is not/],
    ];
    await Deno.writeTextFile(cases[0][0], cases[0][1]);
    for (const [denort, , why] of cases) {
      const { code, out, err } = await task.run([], { DENORT_BIN: denort });
      assert.equal(code, 1, err);
      assert.equal(
        err.split("\n").length,
        2,
        `one line, then the end of the output:\n${err}`,
      );
      const line = err.trimEnd();
      assert.ok(
        line.startsWith(
          `compile: DENORT_BIN "${denort}" is not a Deno runtime (denort) of Deno ` +
            `${Deno.version.deno}: `,
        ),
        line,
      );
      assert.match(line, why);
      assert.equal(out, "");
      // Refused before anything was built: dist/ holds what the copy brought, nothing more.
      assert.deepEqual(await Array.fromAsync(Deno.readDir(task.dist), (e) => e.name), ["web"]);
    }
    // A file with a denort's marks that is none: deno compile itself fails (it overflows its
    // stack on such a file), and what it left in dist/ is removed.
    const standIn = `${tmp}/stand-in`;
    await Deno.writeFile(standIn, denortStandIn(HOST_ARCH === "aarch64" ? 183 : 62));
    const { code, err } = await task.run([], { DENORT_BIN: standIn });
    assert.equal(code, 1, err);
    assert.match(err.trimEnd().split("\n").at(-1)!, /^compile: deno compile for .* failed/);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(task.dist), (e) => e.name), ["web"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
