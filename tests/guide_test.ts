// docs/fr/protocole.md, the French guide for students who write clients, cannot rot: its two
// clients (each after a `<!-- fichier: ... -->` comment) are extracted and run as processes against
// a real server, as a student runs them; its example lines parse, the requests among them pass the
// server's own parser and the replies have the shape of the server's lines; it explains every
// error code of docs/protocol.md §8; and every link names a file and a heading that exist. Without
// python3, javac, java or Gson the client tests are ignored, except under CI=true (see
// helpers/tools.ts), where .ci/run installs them.
import assert from "node:assert/strict";
import { parseRequest, readEnvelope } from "../src/protocol/schema.ts";
import {
  ClientProcess,
  JAVA_CP1252,
  JAVA_ENV,
  javac,
  PYTHON_ENV,
} from "./helpers/legacy_clients.ts";
import { startTestServer, type TestClient, type TestServer } from "./helpers/test_server.ts";
import { LIBRARIES, needs } from "./helpers/tools.ts";

const DOCS = new URL("../docs/", import.meta.url);
const GUIDE = await Deno.readTextFile(new URL("fr/protocole.md", DOCS));
/** docs/protocol.md, the normative text the guide links to. */
const SPEC = await Deno.readTextFile(new URL("protocol.md", DOCS));
const GSON = LIBRARIES["gson.jar"].path;

/** The files the guide gives, by the name of their `<!-- fichier: NAME -->` comment. */
function filesOf(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  const FILE = /<!-- fichier: (\S+) -->\n+```\w+\n([\s\S]*?)\n```/g;
  for (const m of markdown.matchAll(FILE)) out.set(m[1], m[2] + "\n");
  return out;
}

/** An example line of a `text` block: `→` a request a client sends, `←` a line it receives. */
interface Example {
  line: number;
  sent: boolean;
  json: string;
}

/** Every `→`/`←` line of the guide's `text` blocks, with or without a speaker before the arrow. */
function examplesOf(markdown: string): Example[] {
  const out: Example[] = [];
  let block: string | undefined;
  markdown.split("\n").forEach((raw, i) => {
    const text = raw.trim();
    if (text.startsWith("```")) {
      block = block === undefined ? text.slice(3) : undefined;
      return;
    }
    const m = block === "text" && /^(?:\S+\s+)?([→←]) (.*)$/.exec(text);
    if (m) out.push({ line: i + 1, sent: m[1] === "→", json: m[2] });
  });
  return out;
}

/** The Markdown headings outside code blocks, without their `#`s. */
function headingsOf(markdown: string): string[] {
  let fenced = false;
  return markdown.split("\n").flatMap((line) => {
    if (line.trim().startsWith("```")) fenced = !fenced;
    const m = !fenced && /^#{1,6} (.+)$/.exec(line);
    return m ? [m[1]] : [];
  });
}

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replaceAll(" ", "-");
}

/** Every link target of a Markdown text, outside code blocks. */
function linksOf(markdown: string): string[] {
  let fenced = false;
  return markdown.split("\n").flatMap((line) => {
    if (line.trim().startsWith("```")) fenced = !fenced;
    return fenced ? [] : [...line.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
  });
}

/** The codes of the table of docs/protocol.md §8 (before its subsections), in its order. */
function errorCodesOfProtocol(): string[] {
  const section = SPEC.split("\n## 8. Errors\n")[1].split(/\n##+ /)[0];
  const rows = [...section.matchAll(/^\| `(\w+)` +\|/gm)].map((m) => m[1]);
  return rows.filter((code) => code !== "code"); // the header row
}

/** The codes the guide's section 3 explains, each as a bold `**\`code\`**` item. */
function errorCodesOfGuide(): string[] {
  const section = GUIDE.split("\n## 3. ")[1].split("\n## ")[0];
  return [...section.matchAll(/^- \*\*`(\w+)`\*\*/gm)].map((m) => m[1]);
}

Deno.test("the guide gives its Java and Python clients as files", () => {
  assert.deepEqual([...filesOf(GUIDE).keys()], ["ClientChat.java", "client_chat.py"]);
});

Deno.test("the guide's example requests pass the server's parser, its replies are server lines", () => {
  const examples = examplesOf(GUIDE);
  // Every part of section 2 has examples: a reader that finds only a few is broken.
  assert.ok(examples.length > 40, `only ${examples.length} example lines found`);
  const codes = new Set(errorCodesOfProtocol());
  for (const { line, sent, json } of examples) {
    const where = `docs/fr/protocole.md:${line}: ${json}`;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(json);
    } catch (err) {
      assert.fail(`${where}: not JSON (${(err as Error).message})`);
    }
    assert.equal(typeof value.type, "string", `${where}: no type`);
    if (sent) {
      try {
        parseRequest(readEnvelope(json));
      } catch (err) {
        assert.fail(`${where}: the server refuses it (${(err as Error).message})`);
      }
    } else {
      // docs/protocol.md §1: the server writes ASCII only, every other character as \uXXXX.
      assert.match(json, /^[\x20-\x7e]*$/, `${where}: not ASCII, so not what the server sends`);
      if (value.type === "error") {
        assert.ok(codes.has(String(value.code)), `${where}: no such code in docs/protocol.md §8`);
        assert.equal(value.error, value.message, `${where}: "error" repeats "message"`);
      }
    }
  }
});

Deno.test("the guide explains every error code of docs/protocol.md §8", () => {
  const codes = errorCodesOfProtocol();
  assert.ok(codes.length >= 15, `only ${codes.length} codes read from docs/protocol.md §8`);
  assert.deepEqual(errorCodesOfGuide(), codes);
});

Deno.test("every link of the guide names a file and a heading that exist", async () => {
  const anchors = new Map<string, Set<string>>();
  const anchorsOf = async (file: URL) => {
    if (!anchors.has(file.href)) {
      const text = await Deno.readTextFile(file);
      anchors.set(file.href, new Set(headingsOf(text).map(anchorOf)));
    }
    return anchors.get(file.href)!;
  };
  // The anchors are computed as GitHub does: docs/protocol.md's own links all resolve with them.
  const protocolAnchors = await anchorsOf(new URL("protocol.md", DOCS));
  const own = linksOf(SPEC).filter((l) => l.startsWith("#"));
  assert.ok(own.length > 50, `only ${own.length} links read in docs/protocol.md`);
  for (const link of own) assert.ok(protocolAnchors.has(link.slice(1)), `protocol.md ${link}`);

  const links = linksOf(GUIDE);
  assert.ok(links.length > 50, `only ${links.length} links read in the guide`);
  const broken: string[] = [];
  for (const link of links) {
    const [path, anchor] = link.split("#");
    const file = new URL(path === "" ? "protocole.md" : path, new URL("fr/", DOCS));
    try {
      if (anchor !== undefined && !(await anchorsOf(file)).has(anchor)) broken.push(link);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      broken.push(link);
    }
  }
  assert.deepEqual(broken, []);
});

/** The guide's files written to a fresh temp folder; `await using` removes it. */
async function writeClients(): Promise<AsyncDisposable & { dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "classcord_guide_" });
  for (const [name, source] of filesOf(GUIDE)) await Deno.writeTextFile(`${dir}/${name}`, source);
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** Starts the guide's Python client, as a student does: `python3 client_chat.py host port ...`. */
function pythonClient(dir: string, port: number, name: string, password: string): ClientProcess {
  return new ClientProcess(`${name} (Python)`, "python3", {
    args: [`${dir}/client_chat.py`, "127.0.0.1", String(port), name, password],
    stdin: "piped",
    env: PYTHON_ENV,
  });
}

/** Compiles the guide's Java client in `dir` against Gson, as its comment says. */
function compileJava(dir: string): Promise<void> {
  return javac(["-cp", GSON, "-d", dir, `${dir}/ClientChat.java`]);
}

/**
 * Starts the guide's Java client as on a French Windows box with Java 17: windows-1252 is the
 * platform charset, so the keyboard is read in it (see {@link cp1252}) and only the client's
 * explicit UTF-8 gets an emoji to the server. Its console is UTF-8 so the test reads it whatever
 * the JDK; LC_ALL lets it decode the UTF-8 arguments.
 */
function javaClient(dir: string, port: number, name: string, password: string): ClientProcess {
  return new ClientProcess(`${name} (Java, windows-1252)`, "java", {
    args: [
      ...JAVA_CP1252,
      "-cp",
      `${GSON}:${dir}`,
      "ClientChat",
      "127.0.0.1",
      String(port),
      name,
      password,
    ],
    stdin: "piped",
    env: JAVA_ENV,
  });
}

/** Text typed at a windows-1252 console (Latin-1 letters only: accents, no emoji). */
function cp1252(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => {
    const code = c.codePointAt(0)!;
    if (code > 0xff || (code >= 0x80 && code < 0xa0)) throw new Error(`"${c}" is not typed here`);
    return code;
  });
}

/** Resolves once the client printed exactly `line`, failing at the deadline. */
async function printed(client: ClientProcess, line: string): Promise<void> {
  await client.waitFor(line);
  assert.ok(
    client.lines().includes(line),
    `${client.name} printed no line "${line}"\n${client.report()}`,
  );
}

/** The next line `hugo` receives, with the server's own timestamp and seq left out. */
async function next(hugo: TestClient): Promise<Record<string, unknown>> {
  const { timestamp: _timestamp, seq: _seq, ...line } = await hugo.json();
  return line;
}

/** Hugo, a classmate on a raw connection, logged in before the client starts. */
async function classmate(srv: TestServer): Promise<TestClient> {
  const hugo = await srv.connect();
  await hugo.loginAs("hugo", "pomme-verte");
  return hugo;
}

/**
 * What the guide says each client does: it creates the account, logs in, sends what is typed to
 * the class, shows global and private messages apart and errors by their text, never sends a
 * `/` command, and quits on `/quitter`.
 */
async function chat(
  srv: TestServer,
  start: (name: string) => ClientProcess,
  name: string,
  type: (text: string) => string | Uint8Array,
  greeting: string,
): Promise<void> {
  await using hugo = await classmate(srv);
  await using client = start(name);
  await printed(client, `Connecté en tant que ${name} (/mp nom texte, /quitter)`);
  assert.deepEqual(await hugo.json(), { type: "status", user: name, state: "online" });

  await client.type(type(`${greeting}\n`));
  assert.deepEqual(await next(hugo), {
    type: "message",
    subtype: "global",
    content: greeting,
    from: name,
  });

  await hugo.send({ type: "message", subtype: "global", content: "Salut, ça va ? 😀" });
  await hugo.send({
    type: "private",
    to: name.toLowerCase(),
    content: "Tu as fini le TP réseau ?",
  });
  await printed(client, "[général] hugo : Salut, ça va ? 😀");
  await printed(client, "[privé] hugo : Tu as fini le TP réseau ?");

  await client.type(type("/mp personne Coucou\n"));
  await printed(client, 'Erreur : User "personne" does not exist');

  // A password typed in the chat box stays on the student's machine: the next line the class
  // receives is the next message.
  await client.type(type("/login hugo pomme-verte\n"));
  await printed(client, "Commande inconnue : /login");
  await client.type(type("À demain !\n"));
  assert.deepEqual(await next(hugo), {
    type: "message",
    subtype: "global",
    content: "À demain !",
    from: name,
  });

  await client.type(type("/quitter\n"));
  assert.equal(await client.exitCode(), 0, client.report());
  assert.deepEqual(await hugo.json(), { type: "status", user: name, state: "offline" });
  assert.equal(client.lines().at(-1), "Connexion fermée", client.report());
  assert.ok(!client.lines().some((l) => l.includes("{")), `raw JSON shown\n${client.report()}`);
}

/**
 * A wrong password is refused with the server's own text; the right one logs in to the account
 * that already exists; the server stopping ends the client with its last line shown.
 */
async function loginAndShutdown(
  srv: TestServer,
  start: (name: string, password: string) => ClientProcess,
  name: string,
): Promise<void> {
  await using hugo = await classmate(srv);
  {
    await using c = await srv.connect();
    assert.equal(
      (await c.request({ type: "register", username: name, password: "été" })).status,
      "ok",
    );
  }
  {
    await using refused = start(name, "mauvais");
    assert.equal(await refused.exitCode(), 1, refused.report());
    assert.deepEqual(refused.lines(), ["Erreur : Login failed."]);
  }
  await using client = start(name, "été");
  await printed(client, `Connecté en tant que ${name} (/mp nom texte, /quitter)`);
  assert.deepEqual(await hugo.json(), { type: "status", user: name, state: "online" });
  await srv.server.shutdown();
  assert.equal(await client.exitCode(), 0, client.report());
  assert.deepEqual(client.lines().slice(-2), [
    "Erreur : Server is shutting down",
    "Connexion fermée",
  ]);
}

Deno.test(
  "the guide's Python client chats, tells private from global, shows error texts and quits",
  needs("python3"),
  async () => {
    await using srv = await startTestServer();
    await using files = await writeClients();
    const start = (name: string) => pythonClient(files.dir, srv.port, name, "tournesol");
    await chat(srv, start, "Léa", (text) => text, "Bonjour à tous ! 😀");
  },
);

Deno.test(
  "the guide's Python client shows a refused login, logs in to an account, and a server stopping",
  needs("python3"),
  async () => {
    await using srv = await startTestServer();
    await using files = await writeClients();
    const start = (name: string, password: string) =>
      pythonClient(files.dir, srv.port, name, password);
    await loginAndShutdown(srv, start, "Inès");
  },
);

Deno.test(
  "the guide's Java client chats in UTF-8 on a windows-1252 machine, tells private from global, shows error texts and quits",
  needs("javac", "java", "gson.jar"),
  async () => {
    await using srv = await startTestServer();
    await using files = await writeClients();
    await compileJava(files.dir);
    // An emoji in the name only reaches the server through the client's explicit UTF-8.
    const start = (name: string) => javaClient(files.dir, srv.port, name, "tournesol");
    await chat(srv, start, "Maëlys 🎧", cp1252, "Bonjour à tous, ça va ?");
  },
);

Deno.test(
  "the guide's Java client shows a refused login, logs in to an account, and a server stopping",
  needs("javac", "java", "gson.jar"),
  async () => {
    await using srv = await startTestServer();
    await using files = await writeClients();
    await compileJava(files.dir);
    const start = (name: string, password: string) =>
      javaClient(files.dir, srv.port, name, password);
    await loginAndShutdown(srv, start, "Élodie");
  },
);
