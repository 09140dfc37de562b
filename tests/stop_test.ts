// `deno task stop`: the operator stops the server that holds a store from any terminal, as the
// README says, over a real server process; refusals are one line with exit code 1.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { StoreLock } from "../src/store/lock.ts";
import { type CommandResult, launch, runClasscord, runCommand } from "./helpers/process.ts";
import { TestClient } from "./helpers/test_server.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const TIMEOUT_MS = 60_000;
const SERVE = ["--host=127.0.0.1", "--port=0", "--metrics-port=0"];

/** `deno task stop <args>`, the README's command line, run from the project's root. */
function denoTaskStop(args: string[]): Promise<CommandResult> {
  return runCommand(Deno.execPath(), ["task", "--quiet", "stop", ...args], {
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    timeoutMs: TIMEOUT_MS,
  });
}

/** A refusal: exit 1 and one line on stderr matching `pattern`. */
function assertRefused(result: CommandResult, pattern: RegExp): void {
  assert.equal(result.code, 1, result.err);
  const lines = result.err.trimEnd().split("\n");
  assert.equal(lines.length, 1, result.err);
  assert.match(lines[0], pattern);
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_stop_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno task stop ends the server holding the store and returns once the store is free", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/data/classcord.kv`;
    const server = await launch([...SERVE, `--db=${db}`]);
    let stopped: CommandResult;
    try {
      await using alice = await TestClient.connect(server.port);
      await alice.request({ type: "register", username: "alice", password: "pw" });
      await alice.login("alice", "pw");
      stopped = await denoTaskStop(["--db", db]);
      // The store is free the moment stop has said so: a restore or an import may follow.
      assert.equal(await StoreLock.holder(db), undefined, "the lock is free");
      // A clean shutdown: the identified session got its last line.
      const last = await alice.closed();
      assert.deepEqual(last.map((l) => JSON.parse(l).code), ["shutting_down"]);
    } finally {
      try {
        server.child.kill("SIGKILL"); // only if stop failed: the server is gone otherwise
      } catch {
        // already exited
      }
    }
    assert.equal(stopped.code, 0, stopped.err);
    assert.equal(stopped.out, `Stopped the server (pid ${server.child.pid}) of "${db}"\n`);
    const { code, out } = await server.exit();
    assert.equal(code, 0, "the server's own exit code after SIGTERM");
    assert.match(out, /Received "SIGTERM", shutting down/);
  });
});

Deno.test("stop exits 1 with one line when no server holds the store", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/classcord.kv`;
    const missing = await denoTaskStop(["--db", db]);
    assertRefused(missing, new RegExp(`^stop: No server holds the store "${db}"$`));
    // A store whose server has stopped: its lock file stays, free.
    const server = await launch([...SERVE, `--db=${db}`]);
    await using c = await TestClient.connect(server.port);
    assert.equal((await c.request({ type: "users" })).type, "users");
    server.child.kill("SIGTERM");
    assert.equal((await server.exit()).code, 0);
    const stale = await denoTaskStop(["--db", db]);
    assertRefused(stale, new RegExp(`^stop: No server holds the store "${db}"$`));
  });
});

Deno.test("stop leaves alone a store held by another tool than the server", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/classcord.kv`;
    // This test process holds it, as an import would: it must not be signalled.
    using _lock = await StoreLock.acquire(db, "classcord import");
    const refused = await denoTaskStop(["--db", db]);
    assertRefused(
      refused,
      new RegExp(
        `^stop: Store "${db}" is held by classcord import \\(pid ${Deno.pid}\\), ` +
          "not by a server: let it finish$",
      ),
    );
  });
});

Deno.test("stop gives up after --timeout when the server does not exit, and says so", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/classcord.kv`;
    // A holder that names itself a server and ignores SIGTERM: a server stuck in its shutdown.
    const lock = fileURLToPath(new URL("../src/store/lock.ts", import.meta.url));
    const script = `
      const { StoreLock } = await import(${JSON.stringify(lock)});
      await StoreLock.acquire(${JSON.stringify(db)}, "classcord serve");
      Deno.addSignalListener("SIGTERM", () => console.log("SIGTERM ignored"));
      console.log("holding");
      setInterval(() => {}, 1000);
    `;
    const stuck = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", script],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = stuck.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let out = "";
      while (!out.includes("holding")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`the holder exited: ${out}`);
        out += value;
      }
      // Without --allow-run (the other tasks' permissions), the operator is told what works.
      const unable = await runClasscord(["stop", "--db", db], { timeoutMs: TIMEOUT_MS });
      assertRefused(
        unable,
        new RegExp(
          `^stop: Cannot stop the server \\(pid ${stuck.pid}\\) of "${db}": this program may ` +
            `not send signals \\(Deno's --allow-run\\); run kill -TERM ${stuck.pid}$`,
        ),
      );
      const gaveUp = await denoTaskStop(["--db", db, "--timeout", "0.5"]);
      assertRefused(
        gaveUp,
        new RegExp(
          `^stop: The server \\(pid ${stuck.pid}\\) of "${db}" did not stop within 0.5 seconds$`,
        ),
      );
      while (!out.includes("SIGTERM ignored")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`the holder exited: ${out}`);
        out += value;
      }
    } finally {
      stuck.kill("SIGKILL");
      await stuck.status;
      await lines.cancel();
    }
  });
});

Deno.test("stop refuses a bad --timeout with exit code 2", async () => {
  for (const value of ["0", "-1", "soon"]) {
    const bad = await runClasscord(["stop", "--db", "/nonexistent/x.kv", `--timeout=${value}`]);
    assert.equal(bad.code, 2, bad.err);
    assert.match(bad.err, new RegExp(`^stop: Invalid --timeout "${value}"`));
  }
});
