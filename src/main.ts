// The one entry point of the binary: `classcord [command] [options]`, `serve` by default, each
// command with its exit codes (0 done, 1 failed, 2 bad arguments).
import { backupCommand, restoreCommand } from "./commands/backup.ts";
import { run } from "./commands/cli.ts";
import { exportCommand } from "./commands/export.ts";
import { healthcheck } from "./commands/healthcheck.ts";
import { importCommand } from "./commands/import.ts";
import { beforeBackup, beforeRestore } from "./commands/node_store.ts";
import { serve } from "./commands/serve.ts";
import { stopCommand } from "./commands/stop.ts";
import { userCommand } from "./commands/user.ts";
import { helpText } from "./config.ts";
import { VERSION } from "./server.ts";

/** Every command, with the line `--help` shows for it. */
const COMMANDS: Record<string, { summary: string; run: (args: string[]) => Promise<number> }> = {
  serve: { summary: "run the chat server (the default)", run: serve },
  user: {
    summary: "add, delete, promote accounts, set passwords, list them; list and lift bans",
    run: userCommand,
  },
  export: { summary: "write channel messages as JSON or CSV", run: exportCommand },
  import: { summary: "copy accounts and messages from the old Python server", run: importCommand },
  backup: {
    summary: "write a consistent backup of the whole store",
    // A cluster node's store: said to hold the history only.
    run: async (args) => (await beforeBackup(args), await backupCommand(args)),
  },
  restore: {
    summary: "fill an empty (or --force) store from a backup",
    // Never into a cluster node's store.
    run: async (args) => (await beforeRestore(args), await restoreCommand(args)),
  },
  stop: { summary: "stop the server that holds the store (SIGTERM, then wait)", run: stopCommand },
  healthcheck: { summary: "exit 0 when the running server answers /healthz", run: healthcheck },
  version: { summary: "print the version", run: version },
};

function version(): Promise<number> {
  console.log(`classcord ${VERSION}`);
  return Promise.resolve(0);
}

function help(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 4;
  return [
    `ClassCord ${VERSION}: a chat server for classrooms (JSON lines over TCP).`,
    "",
    "Usage: classcord [command] [options]",
    "",
    "Commands (classcord <command> --help for each one's options):",
    ...names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n].summary}`),
    "",
    helpText(),
  ].join("\n");
}

/** Whether the server's options ask for the version: `--version` or `-V`, before any `--`. */
function asksVersion(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--version" || a === "-V");
}

/** Runs the command `args` name (serve when they start with an option) and exits with its code. */
async function main(args: string[]): Promise<never> {
  const [first, ...rest] = args;
  if (first === "--version" || first === "-V") return await run("classcord", version);
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(help());
    Deno.exit(0);
  }
  // The options alone mean serve, as before commands existed; --healthcheck is the old
  // container check, still written so in compose files.
  if (first === undefined || first.startsWith("-")) {
    // Anywhere among the server's options, as --help: `deno task start --db x --version`.
    if (asksVersion(args)) return await run("classcord", version);
    if (args.includes("--healthcheck")) {
      return await run("classcord", () => healthcheck(args.filter((a) => a !== "--healthcheck")));
    }
    return await run("classcord", () => serve(args));
  }
  const command = COMMANDS[first];
  if (!Object.hasOwn(COMMANDS, first)) {
    console.error(`classcord: Unknown command "${first}" (see classcord --help)`);
    Deno.exit(2);
  }
  if (first === "serve" && (rest.includes("--help") || rest.includes("-h"))) {
    console.log(help());
    Deno.exit(0);
  }
  if (first === "serve" && asksVersion(rest)) return await run("classcord", version);
  return await run(first === "serve" ? "classcord" : first, () => command.run(rest));
}

if (import.meta.main) await main(Deno.args);
