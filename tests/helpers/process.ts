// The server as a real subprocess, for tests of flags, signals and crashes.
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));
// The permissions of `deno task start`.
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** How the program is run: `umask` (octal, "022") is set by a shell before it starts. */
export interface RunOptions {
  umask?: string;
}

/** `program args`, or the same through `sh` after `umask`. */
function withUmask(
  program: string,
  args: string[],
  umask: string | undefined,
): [string, string[]] {
  if (umask === undefined) return [program, args];
  return ["sh", ["-c", `umask ${umask} && exec "$0" "$@"`, program, ...args]];
}

/**
 * `deno run src/main.ts <args>` (the server) with the start task's permissions and piped
 * output; without the web listener unless `args` ask for it (it needs the built app, and its
 * default port 8080 would be shared by the tests).
 */
export function command(
  args: string[],
  env: Record<string, string> = {},
  options: RunOptions = {},
): Deno.Command {
  const web = args.some((a) => a.startsWith("--web-port")) ? [] : ["--web-port=0"];
  // --quiet: no "Download ..." line from Deno on a first run, whatever the test reads.
  const [program, programArgs] = withUmask(
    Deno.execPath(),
    ["run", "--quiet", "--config", CONFIG, ...PERMISSIONS, MAIN, ...args, ...web],
    options.umask,
  );
  return new Deno.Command(program, {
    args: programArgs,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Starts the real program and waits for its listening log line; returns the bound port. */
export async function launch(
  args: string[],
  env: Record<string, string> = {},
  options: RunOptions = {},
) {
  const child = command(args, env, options).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let port: number | undefined;
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) {
      clearTimeout(deadline);
      const err = await new Response(child.stderr).text();
      await child.status;
      throw new Error(`Server exited before listening:\n${out}${err}`);
    }
    out += value;
    // The same text in the text and JSON formats: the address is part of the message.
    const m = out.match(/Listening on (?:127\.0\.0\.1|\[::\]):(\d+)/);
    if (m) port = Number(m[1]);
  }
  clearTimeout(deadline);
  return {
    child,
    port,
    /** Waits (20 s at most) until the output since the start matches `pattern`. */
    async output(pattern: RegExp): Promise<void> {
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      try {
        while (!pattern.test(out)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`Server exited before ${pattern}:\n${out}`);
          out += value;
        }
      } finally {
        clearTimeout(timer);
      }
    },
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

/** Options of {@link runCommand}: its stdin, environment, deadline, directory and umask. */
export interface RunCommandOptions extends RunOptions {
  stdin?: string;
  env?: Record<string, string>;
  /** Only `env` reaches the command, nothing of this process's environment. */
  clearEnv?: boolean;
  timeoutMs?: number;
  cwd?: string;
}

/** What a finished command printed, and its exit code. */
export interface CommandResult {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs a command to its end with optional stdin, killed (and failing the test) after
 * `timeoutMs`.
 */
export async function runCommand(
  cmd: string,
  args: string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  const [program, programArgs] = withUmask(cmd, args, options.umask);
  const child = new Deno.Command(program, {
    args: programArgs,
    env: options.env,
    clearEnv: options.clearEnv,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      // The program may exit before reading everything (a refused name): a broken pipe is fine.
      await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    const { code, stdout, stderr } = await child.output();
    if (timedOut) throw new Error(`${cmd} ${args.join(" ")} killed after ${timeoutMs} ms`);
    const decoder = new TextDecoder();
    return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `classcord <args>` (a command and its options) as its task does, to its end. */
export function runClasscord(
  args: string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  return runCommand(
    Deno.execPath(),
    ["run", "--quiet", "--config", CONFIG, ...PERMISSIONS, MAIN, ...args],
    { ...options, env: { NO_COLOR: "1", ...options.env } },
  );
}
