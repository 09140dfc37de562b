// The legacy protocol (docs/protocol.md §3) against real legacy-style clients run as processes:
// Java clients on the I/O stack of the BTS SIO Swing clients (Socket, PrintWriter.println,
// BufferedReader, windows-1252 platform charset, one of them with Windows line ends) and a Python
// console client (UTF-8, splits timestamps on "T"). Fixtures:
// tests/fixtures/java/LegacyClient.java, tests/fixtures/python_client.py; their "expect" commands
// order the scenario, every wait has a deadline. Without javac, java or python3 these tests are
// ignored, except under CI=true (see helpers/tools.ts), where .ci/run installs them.
import assert from "node:assert/strict";
import {
  type ClientProcess,
  compileJavaClient,
  javaClient,
  pythonClient,
} from "./helpers/legacy_clients.ts";
import { startTestServer } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

/** The server's ISO-8601 timestamp, as the Python client splits it on "T". */
const DATE_TIME = String.raw`date=\d{4}-\d{2}-\d{2} heure=\d{2}:\d{2}:\d{2}`;

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

// Two real clients' ways of losing lines: one reads the login reply, then hands the socket to its
// chat window's new reader (whatever the first had buffered is lost); another keeps only the last
// of the lines that arrive together. Each runs as it does in class: showing only what its chat
// window reads, or asking for the users at once.
for (
  const [reader, options, next] of [
    ["swaps readers after login", { swapReader: true }, []],
    ["swaps readers after login and asks for users", { swapReader: true }, ["users"]],
    ["keeps only the last line", { lastLine: true }, ["users", "expect USERS"]],
  ] as const
) {
  Deno.test(
    `a Java client that ${reader} shows the private messages that waited`,
    needs("javac", "java"),
    async () => {
      await using srv = await startTestServer();
      await using java = await compileJavaClient();
      await using alice = await srv.connect();
      await alice.loginAs("alice");
      await alice.request({ type: "register", username: "Élodie", password: "pw" });
      const waiting = ["Tu as le cours de SLAM ?", "Réponds quand tu peux"];
      for (const content of waiting) {
        const pm = { type: "message", subtype: "private", to: "Élodie", content, id: content };
        assert.equal((await alice.request(pm)).type, "ack", "stored for Élodie, offline");
      }
      await using elodie = javaClient(`Élodie (Java, ${reader})`, java.classes, srv.port, [
        "login Élodie pw",
        ...next,
        ...waiting.map((content) => `expect PM alice -> Élodie: ${content}`),
        "quit",
      ], options);
      await assertExitCleanly(elodie);
      assert.deepEqual(await alice.json(), { type: "status", user: "Élodie", state: "online" });
    },
  );
}

Deno.test(
  "Java clients that keep the default pseudo all chat, as Pseudo and Pseudo2",
  needs("javac", "java"),
  async () => {
    await using srv = await startTestServer();
    await using java = await compileJavaClient();
    await using prof = await srv.connect();
    await prof.loginAs("prof");
    const students = [1, 2].map((i) =>
      javaClient(`student ${i} (Java, guest)`, java.classes, srv.port, [
        "guest Pseudo",
        `say Bonjour de l'étudiant ${i}`,
        "expect prof: Bienvenue",
        "quit",
      ])
    );
    try {
      const heard = new Map<string, string>();
      while (heard.size < 2) {
        const line = await prof.json();
        if (line.type === "message") heard.set(String(line.content), String(line.from));
      }
      assert.deepEqual(
        new Set(heard.values()),
        new Set(["Pseudo", "Pseudo2"]),
        "each student came under a name of their own",
      );
      await prof.send({ type: "message", content: "Bienvenue" });
      await assertExitCleanly(...students);
      for (const student of students) assertNotPrinted(student, "ERROR");
    } finally {
      for (const student of students) await student[Symbol.asyncDispose]();
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
