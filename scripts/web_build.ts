// The web app's build (`deno task web:build`, docs/web.md §2.3): web/src/main.tsx bundled into
// dist/web/, split at its dynamic imports (the teacher console and the inspector load when first
// shown: docs/web.md §10), the entry's script and stylesheet named by a hash of their content, and
// web/index.html written with them. deno bundle's own HTML entry puts the split chunks in folders
// climbing out of dist/web (seen with 2.9.6), where the web listener, which serves dist/web's
// files only, would not find them: hence this script.
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const OUT = `${ROOT}dist/web`;
/** The entry's tag in web/index.html, replaced by the built files'. */
const ENTRY_TAG = '<script type="module" src="./src/main.tsx"></script>';

/** Builds the web app into `out` (dist/web/ by default), replacing what was there. */
export async function buildWeb(out: string = OUT): Promise<string[]> {
  await Deno.remove(out, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--minify",
      "--code-splitting",
      "--outdir",
      out,
      `${ROOT}web/src/main.tsx`,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `Cannot bundle "web/src/main.tsx": deno bundle exited with ${code}\n${
        new TextDecoder().decode(stderr)
      }`,
    );
  }
  // Every other file already has a hash in its name (chunk-*.js, console_view-*.js...).
  const script = await hashed(out, "main.js", "index", "js");
  const style = await hashed(out, "main.css", "index", "css");
  const html = await Deno.readTextFile(`${ROOT}web/index.html`);
  if (!html.includes(ENTRY_TAG)) throw new Error(`Cannot find "${ENTRY_TAG}" in "web/index.html"`);
  await Deno.writeTextFile(
    `${out}/index.html`,
    html.replace(
      ENTRY_TAG,
      `<script src="./${script}" type="module" crossorigin></script>` +
        `<link rel="stylesheet" crossorigin href="./${style}">`,
    ),
  );
  const files: string[] = [];
  for await (const entry of Deno.readDir(out)) {
    if (!entry.isFile) throw new Error(`Cannot serve "${entry.name}" in "${out}": not a file`);
    files.push(entry.name);
  }
  return files.sort();
}

/** Renames `out/name` to `<prefix>-<hash>.<ext>`, the hash from its content; returns the name. */
async function hashed(out: string, name: string, prefix: string, ext: string): Promise<string> {
  const bytes = await Deno.readFile(`${out}/${name}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  // 8 characters of base 32, as the bundler names the chunks.
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let hash = "";
  for (let i = 0; i < 8; i++) hash += alphabet[digest[i] % 32];
  const target = `${prefix}-${hash}.${ext}`;
  await Deno.rename(`${out}/${name}`, `${out}/${target}`);
  return target;
}

/** Builds again after each change under web/ or src/ (the page imports a few rules of src/). */
async function watch(): Promise<void> {
  let soon: ReturnType<typeof setTimeout> | undefined;
  const build = () =>
    buildWeb().then(
      () => console.log(`Built dist/web/ at ${new Date().toLocaleTimeString()}`),
      (err) => console.error((err as Error).message),
    );
  await build();
  for await (const _ of Deno.watchFs([`${ROOT}web`, `${ROOT}src`])) {
    clearTimeout(soon);
    soon = setTimeout(build, 200); // an editor's save is several events
  }
}

if (import.meta.main) {
  if (Deno.args.includes("--watch")) await watch();
  try {
    await buildWeb();
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(1);
  }
}
