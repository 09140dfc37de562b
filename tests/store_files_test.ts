// A store's files are for their owner's eyes only: the folder made for it is 0700 and every
// store file 0600 whatever the umask, whichever command made the store; a store others can read
// is reported at start-up with the command that fixes it. Modes are read on disk.
import assert from "node:assert/strict";
import { launch, runClasscord, runCommand } from "./helpers/process.ts";
import { writeOldMessages } from "./helpers/store_files.ts";
import { TestClient } from "./helpers/test_server.ts";

const TIMEOUT_MS = 60_000;
const SERVE = ["--host=127.0.0.1", "--port=0", "--metrics-port=0"];
const EXPOSED = /Other users of this machine can read the store/;

/**
 * Starts a server on `db`, waits until it answers a client (its signal listeners are set by
 * then), stops it with SIGTERM and returns what it printed.
 */
async function startAndStop(db: string): Promise<{ code: number; out: string; err: string }> {
  const server = await launch([...SERVE, `--db=${db}`]);
  try {
    await using c = await TestClient.connect(server.port);
    assert.equal((await c.request({ type: "users" })).type, "users");
  } finally {
    server.child.kill("SIGTERM");
  }
  return await server.exit();
}

/** The permission bits of `path`, as `ls` shows them in octal. */
async function mode(path: string): Promise<string> {
  return ((await Deno.stat(path)).mode! & 0o777).toString(8);
}

/** The modes of the store's files that exist now, by suffix ("" for the KV file itself). */
async function storeModes(db: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const suffix of ["", "-wal", "-shm", ".lock"]) {
    try {
      out[suffix] = await mode(db + suffix);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return out;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_files_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const umask of ["022", "000"]) {
  Deno.test(`a server's new store is 0600 in a 0700 folder under umask ${umask}`, async () => {
    await withTempDir(async (dir) => {
      const db = `${dir}/data/classcord.kv`;
      const server = await launch([...SERVE, `--db=${db}`], {}, { umask });
      try {
        // A stored message: the KV file has its -wal and -shm beside it while the server runs.
        await using alice = await TestClient.connect(server.port);
        await alice.request({ type: "register", username: "alice", password: "pw" });
        await alice.login("alice", "pw");
        assert.equal((await alice.request({ type: "message", content: "hi", id: 1 })).type, "ack");
        assert.equal(await mode(`${dir}/data`), "700");
        assert.deepEqual(await storeModes(db), {
          "": "600",
          "-wal": "600",
          "-shm": "600",
          ".lock": "600",
        });
      } finally {
        server.child.kill("SIGTERM");
      }
      const { code, out, err } = await server.exit();
      assert.equal(code, 0);
      assert.doesNotMatch(out + err, EXPOSED);
    });
  });
}

Deno.test("stores made by user add --create, restore and import are 0600 in 0700 folders, under umask 000", async () => {
  await withTempDir(async (dir) => {
    const run = (args: string[], stdin?: string) =>
      runClasscord(args, { stdin, umask: "000", timeoutMs: TIMEOUT_MS });
    const created = `${dir}/created/classcord.kv`;
    const added = await run(["user", "add", "--create", "prof", "--db", created], "pw\n");
    assert.equal(added.code, 0, added.err);
    const backup = `${dir}/b.ndjson`;
    const saved = await run(["backup", "--db", created, "--out", backup]);
    assert.equal(saved.code, 0, saved.err);
    const restored = `${dir}/restored/classcord.kv`;
    const loaded = await run(["restore", "--in", backup, "--db", restored]);
    assert.equal(loaded.code, 0, loaded.err);
    // The old server's messages file, one row.
    const old = `${dir}/old.db`;
    writeOldMessages(old);
    const imported = `${dir}/imported/classcord.kv`;
    const copied = await run(["import", "--messages", old, "--db", imported]);
    assert.equal(copied.code, 0, copied.err);
    for (const db of [created, restored, imported]) {
      assert.equal(await mode(db.slice(0, db.lastIndexOf("/"))), "700", db);
      const modes = await storeModes(db);
      assert.equal(modes[""], "600", db);
      assert.equal(modes[".lock"], "600", db);
      for (const [suffix, m] of Object.entries(modes)) assert.equal(m, "600", db + suffix);
    }
  });
});

Deno.test("a store others can read is reported at start-up with the command that fixes it", async () => {
  await withTempDir(async (dir) => {
    const folder = `${dir}/data`;
    const db = `${folder}/classcord.kv`;
    const added = await runClasscord(["user", "add", "--create", "prof", "--db", db], {
      stdin: "pw\n",
      timeoutMs: TIMEOUT_MS,
    });
    assert.equal(added.code, 0, added.err);
    // As a store made before its files were private: world-readable.
    await Deno.chmod(folder, 0o755);
    await Deno.chmod(db, 0o644);
    await Deno.chmod(`${db}.lock`, 0o644);
    const { code, err } = await startAndStop(db);
    assert.equal(code, 0);
    // A warning: on stderr, as LogTape's console sink writes them.
    const lines = err.split("\n").filter((l) => EXPOSED.test(l));
    assert.equal(lines.length, 1, err);
    assert.match(lines[0], / \[WRN\] classcord·store: /);
    for (const path of [`${folder} (0755)`, `${db} (0644)`, `${db}.lock (0644)`]) {
      assert.ok(lines[0].includes(path), `${path} in ${lines[0]}`);
    }
    const command = lines[0].match(/fix it with: (.*)$/)?.[1];
    assert.equal(command, `chmod 700 ${folder} && chmod 600 ${db}*`);
    // The command as the line gives it, run by a shell: the next start is quiet.
    const fixed = await runCommand("sh", ["-c", command!]);
    assert.equal(fixed.code, 0, fixed.err);
    assert.equal(await mode(folder), "700");
    assert.equal(await mode(db), "600");
    // The report comes before the server waits for a signal: the shutdown line shows it ran.
    const after = await startAndStop(db);
    assert.equal(after.code, 0);
    assert.match(after.out, /shutting down/);
    assert.doesNotMatch(after.out + after.err, EXPOSED);
  });
});
