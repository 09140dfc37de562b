// The server as a real subprocess, for tests of flags, signals and crashes.
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));
// The permissions of `deno task start`.
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** `deno run src/main.ts <args>` with the start task's permissions and piped output. */
export function command(args: string[], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", CONFIG, ...PERMISSIONS, MAIN, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Starts the real program and waits for its listening log line; returns the bound port. */
export async function launch(args: string[], env: Record<string, string> = {}) {
  const child = command(args, env).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let port: number | undefined;
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Server exited before listening:\n${out}`);
    out += value;
    // Text ("127.0.0.1":port) or JSON lines (\"127.0.0.1\":port).
    const m = out.match(/Listening on \\?"127\.0\.0\.1\\?":(\d+)/);
    if (m) port = Number(m[1]);
  }
  clearTimeout(deadline);
  return {
    child,
    port,
    /** Waits for the exit code, reading the rest of the output. */
    async exit(): Promise<{ code: number; out: string; err: string }> {
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const err = await new Response(child.stderr).text();
      const { code } = await child.status;
      clearTimeout(timer);
      return { code, out, err };
    },
  };
}
