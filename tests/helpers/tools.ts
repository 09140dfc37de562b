// The system programs tests start and the library files they load, with the Debian package of
// each. A test needing a missing one is reported as ignored, with the package to install, on a
// developer's machine; under CI=true (.ci/run installs them all) it runs, and fails.

/** Each program a test may start, and the Debian package that installs it. */
export const PACKAGES = {
  java: "default-jdk-headless",
  javac: "default-jdk-headless",
  python3: "python3",
  openssl: "openssl",
  prometheus: "prometheus",
  promtool: "prometheus",
  script: "bsdutils",
  "docker-compose": "docker-compose",
  "systemd-analyze": "systemd",
  chromium: "chromium",
  "nats-server": "nats-server",
  haproxy: "haproxy",
} as const;

/** A program a test may start. */
export type Tool = keyof typeof PACKAGES;

/** Each library file a test may load, where its Debian package installs it. */
export const LIBRARIES = {
  "gson.jar": { path: "/usr/share/java/gson.jar", package: "libgoogle-gson-java" },
} as const;

/** A library file a test may load. */
export type Library = keyof typeof LIBRARIES;

const found = new Map<Tool, string | undefined>();
const told = new Set<string>();

/** The full path of a program on PATH, or undefined. */
export function which(tool: Tool): string | undefined {
  if (!found.has(tool)) found.set(tool, search(tool));
  return found.get(tool);
}

function search(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && (info.mode ?? 0) & 0o111) return `${dir}/${name}`;
    } catch { /* not in this directory */ }
  }
  return undefined;
}

/** True when the library file is where its package installs it. */
function installed(library: Library): boolean {
  try {
    return Deno.statSync(LIBRARIES[library].path).isFile;
  } catch {
    return false;
  }
}

function isLibrary(name: Tool | Library): name is Library {
  return Object.hasOwn(LIBRARIES, name);
}

/**
 * Test options for a test that starts `tools` (or loads library files): ignored when one is
 * missing (saying which package to install), except under `CI=true`, where the test runs and
 * fails.
 *
 * @example
 * ```ts
 * Deno.test("promtool accepts the rules", needs("promtool"), async () => {});
 * Deno.test("a Java client runs with Gson", needs("javac", "java", "gson.jar"), async () => {});
 * ```
 */
export function needs(...tools: (Tool | Library)[]): { ignore: boolean } {
  const missing = tools.filter((t) => isLibrary(t) ? !installed(t) : which(t) === undefined);
  if (missing.length === 0 || Deno.env.get("CI") === "true") return { ignore: false };
  const packages = [
    ...new Set(missing.map((t) => isLibrary(t) ? LIBRARIES[t].package : PACKAGES[t])),
  ].join(" ");
  const hint = `${missing.join(", ")} not found: tests needing it are ignored ` +
    `(Debian: apt-get install ${packages})`;
  if (!told.has(hint)) {
    told.add(hint);
    console.error(`ignored: ${hint}`);
  }
  return { ignore: true };
}
