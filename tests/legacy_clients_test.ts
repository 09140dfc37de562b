// PROTOCOL A against real legacy-style clients run as processes: Java clients on the I/O stack of the
// BTS SIO Swing clients (Socket, PrintWriter.println, BufferedReader, windows-1252 platform charset,
// one of them with Windows line ends) and a Python console client (UTF-8, splits timestamps on "T").
// Fixtures: tests/fixtures/java/LegacyClient.java, tests/fixtures/python_client.py; their "expect"
// commands order the scenario, every wait has a deadline. Without javac, java or python3 these
// tests are ignored, except under CI=true (see helpers/tools.ts), where .ci/run installs them.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startTestServer } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

const JAVA_SOURCE = fileURLToPath(new URL("./fixtures/java/LegacyClient.java", import.meta.url));
const PYTHON_CLIENT = fileURLToPath(new URL("./fixtures/python_client.py", import.meta.url));
/** javac takes a few seconds on a cold CI runner. */
const COMPILE_TIMEOUT_MS = 60_000;
/** A whole client run; each of its own waits has 10 s. */
const CLIENT_TIMEOUT_MS = 30_000;
/** Waiting for a line of a client's output. */
const OUTPUT_TIMEOUT_MS = 15_000;
const INSTALL_HINT =
  "install a JDK and Python 3 (Debian: apt-get install -y default-jdk-headless python3)";
/** The server's ISO-8601 timestamp, as the Python client splits it on "T". */
const DATE_TIME = String.raw`date=\d{4}-\d{2}-\d{2} heure=\d{2}:\d{2}:\d{2}`;

/** Spawns `cmd`, turning a missing program into a clear failure. */
function spawn(cmd: string, options: Deno.CommandOptions): Deno.ChildProcess {
  try {
    return new Deno.Command(cmd, { stdin: "null", stdout: "piped", stderr: "piped", ...options })
      .spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(`'${cmd}' is not on the PATH: ${INSTALL_HINT}`, { cause: err });
    }
    throw err;
  }
}

/** A client process whose output is read as it comes; `await using` kills it if it still runs. */
class ClientProcess implements AsyncDisposable {
  readonly name: string;
  readonly #child: Deno.ChildProcess;
  readonly #reading: Promise<void>;
  #stdout = "";
  #stderr = "";
  #exited = false;
  #outputEnded = false;
  #wake: (() => void)[] = [];

  constructor(name: string, cmd: string, options: Deno.CommandOptions) {
    this.name = name;
    this.#child = spawn(cmd, options);
    this.#child.status.then(() => {
      this.#exited = true;
    });
    this.#reading = Promise.all([
      this.#collect(this.#child.stdout, (text) => this.#stdout += text),
      this.#collect(this.#child.stderr, (text) => this.#stderr += text),
    ]).then(() => {
      this.#outputEnded = true;
      this.#notify();
    });
  }

  /** Resolves once stdout has a line containing `text`; rejects at the deadline or on exit. */
  async waitFor(text: string, timeoutMs = OUTPUT_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines().some((line) => line.includes(text))) {
      if (this.#outputEnded) {
        throw new Error(`${this.name} ended before "${text}"\n${this.report()}`);
      }
      if (!await this.#changed(deadline - Date.now())) {
        throw new Error(`${this.name}: no "${text}" within ${timeoutMs} ms\n${this.report()}`);
      }
    }
  }

  /** Waits for the exit (killing the process at the deadline) and returns the exit code. */
  async exitCode(timeoutMs = CLIENT_TIMEOUT_MS): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), timeoutMs)
    );
    try {
      const status = await Promise.race([this.#child.status, timeout]);
      if (status === "timeout") {
        this.#kill();
        throw new Error(`${this.name} still running after ${timeoutMs} ms\n${this.report()}`);
      }
      await this.#reading;
      return status.code;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stdout lines (Windows line ends included). */
  lines(): string[] {
    return this.#stdout.split(/\r?\n/).filter((line) => line !== "");
  }

  /** The lines the client received, as they were on the wire. */
  received(): string[] {
    return this.lines().filter((l) => l.startsWith("<< ")).map((l) => l.slice(3));
  }

  /** Everything the client printed, for assertion messages. */
  report(): string {
    return `--- ${this.name} stdout ---\n${this.#stdout}--- ${this.name} stderr ---\n${this.#stderr}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#kill();
    await this.#child.status;
    await this.#reading;
  }

  #kill(): void {
    if (this.#exited) return;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // it exited in the meantime
    }
  }

  async #collect(stream: ReadableStream<Uint8Array>, add: (text: string) => void): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      add(text);
      this.#notify();
    }
  }

  #notify(): void {
    for (const wake of this.#wake.splice(0)) wake();
  }

  /** True when output changed before the deadline. */
  #changed(timeoutMs: number): Promise<boolean> {
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#wake.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** The compiled Java client in a temp folder, removed on dispose. */
async function compileJavaClient(): Promise<AsyncDisposable & { classes: string }> {
  const classes = await Deno.makeTempDir({ prefix: "classcord_java_" });
  const remove = () => Deno.remove(classes, { recursive: true });
  try {
    await using javac = new ClientProcess("javac", "javac", {
      args: ["--release", "17", "-encoding", "UTF-8", "-d", classes, JAVA_SOURCE],
    });
    const code = await javac.exitCode(COMPILE_TIMEOUT_MS);
    if (code !== 0) throw new Error(`javac exited with ${code}\n${javac.report()}`);
  } catch (err) {
    await remove();
    throw err;
  }
  return { classes, [Symbol.asyncDispose]: remove };
}

/**
 * Runs the Java client as on a French Windows box: windows-1252 for the socket (the JVM's platform
 * charset), optionally CRLF line ends from println. Its console is UTF-8 so the test reads it
 * whatever the JDK (17 prints in file.encoding, 19+ in stdout.encoding); LC_ALL lets it decode the
 * UTF-8 arguments.
 */
function javaClient(
  name: string,
  classes: string,
  port: number,
  script: string[],
  { crlf = false, swapReader = false } = {},
): ClientProcess {
  return new ClientProcess(name, "java", {
    args: [
      "-Dfile.encoding=windows-1252",
      ...(swapReader ? ["-Dswap.reader=true"] : []),
      "-Dsun.stdout.encoding=UTF-8",
      "-Dstdout.encoding=UTF-8",
      "-Dsun.stderr.encoding=UTF-8",
      "-Dstderr.encoding=UTF-8",
      ...(crlf ? ["-Dline.separator=\r\n"] : []),
      "-cp",
      classes,
      "LegacyClient",
      "127.0.0.1",
      String(port),
      ...script,
    ],
    env: { LC_ALL: "C.UTF-8" },
  });
}

/** Runs the Python client; unbuffered so its lines are seen as they are printed. */
function pythonClient(name: string, port: number, script: string[]): ClientProcess {
  return new ClientProcess(name, "python3", {
    args: [PYTHON_CLIENT, "127.0.0.1", String(port), ...script],
    env: { LC_ALL: "C.UTF-8", PYTHONIOENCODING: "utf-8", PYTHONUNBUFFERED: "1" },
  });
}

/** Waits for every client (each has its deadline), then asserts they all exited with 0. */
async function assertExitCleanly(...clients: ClientProcess[]): Promise<void> {
  const failures = await Promise.all(clients.map(async (client) => {
    try {
      const code = await client.exitCode();
      return code === 0 ? [] : [`${client.name} exited with ${code}`];
    } catch (err) {
      return [(err as Error).message.split("\n")[0]];
    }
  }));
  if (failures.flat().length > 0) {
    assert.fail([...failures.flat(), ...clients.map((client) => client.report())].join("\n"));
  }
}

function assertPrinted(client: ClientProcess, expected: string | RegExp): void {
  const found = client.lines().some((line) =>
    typeof expected === "string" ? line === expected : expected.test(line)
  );
  assert.ok(found, `${client.name} never printed ${expected}\n${client.report()}`);
}

function assertNotPrinted(client: ClientProcess, text: string): void {
  const line = client.lines().find((l) => l.includes(text));
  assert.equal(line, undefined, `${client.name} printed "${text}"\n${client.report()}`);
}

const GREETING = "Bonjour à tous, qui veut un café ?";
const ANSWER = "Moi ! Un café crème et un œuf, s'il te plaît";
const WHISPER_TO_ELODIE = "Salut Élodie, ça va ? « déjà » 😀";
const WHISPER_TO_BOB = "Rendez-vous à la cafétéria : 2 € le café, Noël approche";
const GOODBYE = "Au revoir, à demain !";

Deno.test(
  "Java and Python legacy clients see each other online, chat, whisper and go offline",
  needs("javac", "java", "python3"),
  async () => {
    await using srv = await startTestServer();
    await using java = await compileJavaClient();

    await using elodie = javaClient("Élodie (Java)", java.classes, srv.port, [
      "register Élodie mot-de-passe",
      "login Élodie mot-de-passe",
      "expect STATUS bob online",
      "expect STATUS yanis online",
      `say ${GREETING}`,
      `expect MSG [global] bob: ${ANSWER}`,
      `expect PM yanis -> Élodie: ${WHISPER_TO_ELODIE}`,
      "expect STATUS bob away",
      "users",
      "expect USERS",
      `pm bob ${WHISPER_TO_BOB}`,
      "expect STATUS bob offline",
      `expect MSG [global] yanis: ${GOODBYE}`,
      "quit",
    ]);
    // Each client starts once the previous one is logged in, so every "online" has a known receiver.
    await elodie.waitFor("LOGIN OK Élodie");
    await using bob = javaClient("bob (Java, CRLF)", java.classes, srv.port, [
      "register bob azerty",
      "login bob azerty",
      "expect STATUS yanis online",
      `expect MSG [global] Élodie: ${GREETING}`,
      `say ${ANSWER}`,
      "status away",
      `expect PM Élodie -> bob: ${WHISPER_TO_BOB}`,
      "quit",
    ], { crlf: true });
    await bob.waitFor("LOGIN OK bob");
    await using yanis = pythonClient("yanis (Python)", srv.port, [
      "register yanis python3",
      "login yanis python3",
      `expect Élodie: ${GREETING}`,
      `expect bob: ${ANSWER}`,
      `pm Élodie ${WHISPER_TO_ELODIE}`,
      "expect STATUS bob away",
      "expect STATUS bob offline",
      "users",
      "expect USERS",
      `say ${GOODBYE}`,
      "quit",
    ]);

    await assertExitCleanly(elodie, bob, yanis);

    // The Java clients really wrote windows-1252, bob with Windows line ends.
    assertPrinted(elodie, "CLIENT charset=windows-1252 eol=LF");
    assertPrinted(bob, "CLIENT charset=windows-1252 eol=CRLF");
    // Register and login replies were the next line, then presence both ways.
    for (const [client, name] of [[elodie, "Élodie"], [bob, "bob"], [yanis, "yanis"]] as const) {
      assertPrinted(client, "REGISTER OK");
      assertPrinted(client, `LOGIN OK ${name}`);
    }
    assertPrinted(elodie, "STATUS bob online");
    assertPrinted(elodie, "STATUS yanis online");
    assertPrinted(bob, "STATUS yanis online");
    // Global chat both ways, accents decoded from the \uXXXX of pure-ASCII lines.
    assertPrinted(bob, `MSG [global] Élodie: ${GREETING}`);
    assertPrinted(elodie, `MSG [global] bob: ${ANSWER}`);
    assertPrinted(yanis, new RegExp(`^MSG ${DATE_TIME} Élodie: ${escapeRegExp(GREETING)}$`));
    assertPrinted(yanis, new RegExp(`^MSG ${DATE_TIME} bob: ${escapeRegExp(ANSWER)}$`));
    assertNotPrinted(elodie, "MSG [global] Élodie:"); // no echo
    assertNotPrinted(bob, "MSG [global] bob:");
    // Private messages, UTF-8 from Python to Java and windows-1252 from Java to Java, nobody else.
    assertPrinted(elodie, `PM yanis -> Élodie: ${WHISPER_TO_ELODIE}`);
    assertPrinted(bob, `PM Élodie -> bob: ${WHISPER_TO_BOB}`);
    assertNotPrinted(yanis, WHISPER_TO_BOB);
    assertNotPrinted(bob, WHISPER_TO_ELODIE);
    // windows-1252 decoded as such, not as Latin-1: "€" is 0x80 there, U+0080 in Latin-1.
    assert.ok(bob.received().some((l) => l.includes("2 \\u20ac le caf\\u00e9")), bob.report());
    // Status relayed, users listed as plain strings, offline when a client quits.
    assertPrinted(elodie, "STATUS bob away");
    assertPrinted(yanis, "STATUS bob away");
    assertPrinted(elodie, "STATUS bob offline");
    assertPrinted(elodie, `MSG [global] yanis: ${GOODBYE}`);
    assertPrinted(yanis, "STATUS bob offline");
    assert.deepEqual(usersLine(elodie), ["bob", "yanis", "Élodie"]);
    assert.deepEqual(usersLine(yanis), ["yanis", "Élodie"]);

    for (const client of [elodie, bob, yanis]) {
      for (const line of client.received()) {
        assert.match(line, /^[\x20-\x7e]*$/, `${client.name} received a non-ASCII line`);
        const msg = JSON.parse(line);
        if (msg.type !== "message") continue;
        // The server overwrote the client's own "YYYY-MM-DD HH:MM:SS" with its ISO timestamp.
        assert.match(msg.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$/);
        assert.equal(typeof msg.from, "string");
        assert.equal(typeof msg.content, "string");
      }
    }
  },
);

Deno.test(
  "a Java client reads the legacy error texts as the next line after register and login",
  needs("javac", "java"),
  async () => {
    await using srv = await startTestServer();
    await using java = await compileJavaClient();
    await using zoe = javaClient("Zoé (Java, CRLF)", java.classes, srv.port, [
      "register Zoé été2024",
      "register Zoé autre",
      "login Zoé mauvais",
      "login Zoé été2024",
      "users",
      "expect USERS Zoé",
      "quit",
    ], { crlf: true });
    await assertExitCleanly(zoe);
    assert.deepEqual(zoe.lines().filter((l) => /^(REGISTER|LOGIN) /.test(l)), [
      "REGISTER OK",
      "REGISTER FAILED: Username already exists.",
      "LOGIN FAILED: Login failed.",
      "LOGIN OK Zoé",
    ]);
    assert.ok(zoe.received().includes('{"type":"users","users":["Zo\\u00e9"]}'), zoe.report());
  },
);

Deno.test(
  "a Java client that opens its socket at the login window logs in after the student typed",
  needs("javac", "java"),
  async () => {
    // 1.5 s stands for the 10 minutes of the default: the student types, registers, reads the
    // screen, then logs in, 2 s after the socket was opened.
    await using srv = await startTestServer({ limits: { identifyTimeoutMs: 1500 } });
    await using java = await compileJavaClient();
    await using lea = javaClient("Léa (Java, waits at the login window)", java.classes, srv.port, [
      "pause 1000",
      "register Léa secret",
      "pause 1000",
      "login Léa secret",
      "users",
      "expect USERS Léa",
      "quit",
    ]);
    await assertExitCleanly(lea);
    assertPrinted(lea, "REGISTER OK");
    assertPrinted(lea, "LOGIN OK Léa");
  },
);

Deno.test(
  "a Java client that swaps readers after login shows the private messages that waited",
  needs("javac", "java"),
  async () => {
    await using srv = await startTestServer();
    await using java = await compileJavaClient();
    await using alice = await srv.connect();
    await alice.loginAs("alice");
    await alice.request({ type: "register", username: "Élodie", password: "pw" });
    const waiting = ["Tu as le cours de SLAM ?", "Réponds quand tu peux"];
    // One client shows only what its chat window reads; the other asks for users at once.
    for (const next of [[], ["users"]]) {
      for (const content of waiting) {
        await alice.send({
          type: "message",
          subtype: "private",
          to: "Élodie",
          content,
          id: content,
        });
        assert.equal((await alice.json()).type, "ack", "stored for Élodie, offline");
      }
      await using elodie = javaClient("Élodie (Java, new reader)", java.classes, srv.port, [
        "login Élodie pw",
        ...next,
        ...waiting.map((content) => `expect PM alice -> Élodie: ${content}`),
        "quit",
      ], { swapReader: true });
      await assertExitCleanly(elodie);
      assert.deepEqual(await alice.json(), { type: "status", user: "Élodie", state: "online" });
      assert.deepEqual(await alice.json(), { type: "status", user: "Élodie", state: "offline" });
    }
  },
);

/** The names of the client's `USERS` line, sorted. */
function usersLine(client: ClientProcess): string[] {
  const line = client.lines().find((l) => l.startsWith("USERS "));
  assert.ok(line, `${client.name} printed no USERS line\n${client.report()}`);
  return line.slice("USERS ".length).split(" ").sort();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
