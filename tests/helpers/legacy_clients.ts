// The legacy clients as processes: the Java console stand-in of the BTS SIO Swing clients
// (tests/fixtures/java/LegacyClient.java) and the Python console client, each read as it prints,
// every wait with a deadline.
import { fileURLToPath } from "node:url";

const JAVA_SOURCE = fileURLToPath(new URL("../fixtures/java/LegacyClient.java", import.meta.url));
const PYTHON_CLIENT = fileURLToPath(new URL("../fixtures/python_client.py", import.meta.url));
/** javac takes a few seconds on a cold CI runner. */
const COMPILE_TIMEOUT_MS = 60_000;
/** A whole client run; each of its own waits has 10 s. */
export const CLIENT_TIMEOUT_MS = 30_000;
/** Waiting for a line of a client's output. */
const OUTPUT_TIMEOUT_MS = 15_000;
const INSTALL_HINT =
  "install a JDK and Python 3 (Debian: apt-get install -y default-jdk-headless python3)";

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

/**
 * A client process whose output is read as it comes; `await using` kills it if it still runs.
 * Spawned with `stdin: "piped"`, it is typed to as a user types at its console.
 */
export class ClientProcess implements AsyncDisposable {
  readonly name: string;
  readonly #child: Deno.ChildProcess;
  readonly #reading: Promise<void>;
  #input: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #stdout = "";
  #stderr = "";
  #exited = false;
  #outputEnded = false;
  #wake: (() => void)[] = [];

  constructor(name: string, cmd: string, options: Deno.CommandOptions) {
    this.name = name;
    this.#child = spawn(cmd, options);
    if (options.stdin === "piped") this.#input = this.#child.stdin.getWriter();
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

  /** Writes to the standard input: text as UTF-8, or bytes in another charset as they are. */
  async type(input: string | Uint8Array): Promise<void> {
    if (this.#input === undefined) throw new Error(`${this.name}: no standard input to type on`);
    await this.#input.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
  }

  /** Closes the standard input: the end of input a user gives with Ctrl-D. */
  async #endInput(): Promise<void> {
    const input = this.#input;
    this.#input = undefined;
    try {
      await input?.close();
    } catch {
      // the process has already exited: its end of the pipe is closed
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
    await this.#endInput();
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

/** Compiles Java 17 sources in UTF-8 with `javac`, `args` after those options; throws if it fails. */
export async function javac(args: string[]): Promise<void> {
  await using javac = new ClientProcess("javac", "javac", {
    args: ["--release", "17", "-encoding", "UTF-8", ...args],
  });
  const code = await javac.exitCode(COMPILE_TIMEOUT_MS);
  if (code !== 0) throw new Error(`javac exited with ${code}\n${javac.report()}`);
}

/** The compiled Java client in a temp folder, removed on dispose. */
export async function compileJavaClient(): Promise<AsyncDisposable & { classes: string }> {
  const classes = await Deno.makeTempDir({ prefix: "classcord_java_" });
  const remove = () => Deno.remove(classes, { recursive: true });
  try {
    await javac(["-d", classes, JAVA_SOURCE]);
  } catch (err) {
    await remove();
    throw err;
  }
  return { classes, [Symbol.asyncDispose]: remove };
}

/**
 * The JVM as on a French Windows box: windows-1252 is the platform charset (the socket's, when a
 * client does not name one). Its console is UTF-8 so a test reads it whatever the JDK (17 prints
 * in file.encoding, 19+ in stdout.encoding); run it with {@link JAVA_ENV}.
 */
export const JAVA_CP1252 = [
  "-Dfile.encoding=windows-1252",
  "-Dsun.stdout.encoding=UTF-8",
  "-Dstdout.encoding=UTF-8",
  "-Dsun.stderr.encoding=UTF-8",
  "-Dstderr.encoding=UTF-8",
];

/** The environment of a client process: LC_ALL lets the JVM decode UTF-8 arguments. */
export const JAVA_ENV = { LC_ALL: "C.UTF-8" };

/** The environment of a Python client: UTF-8 in and out, unbuffered so lines are seen at once. */
export const PYTHON_ENV = { LC_ALL: "C.UTF-8", PYTHONIOENCODING: "utf-8", PYTHONUNBUFFERED: "1" };

/**
 * Runs the Java client as on a French Windows box ({@link JAVA_CP1252}), optionally with CRLF line
 * ends from println.
 */
export function javaClient(
  name: string,
  classes: string,
  port: number,
  script: string[],
  { crlf = false, swapReader = false, lastLine = false } = {},
): ClientProcess {
  return new ClientProcess(name, "java", {
    args: [
      ...JAVA_CP1252,
      ...(swapReader ? ["-Dswap.reader=true"] : []),
      ...(lastLine ? ["-Dlast.line=true"] : []),
      ...(crlf ? ["-Dline.separator=\r\n"] : []),
      "-cp",
      classes,
      "LegacyClient",
      "127.0.0.1",
      String(port),
      ...script,
    ],
    env: JAVA_ENV,
  });
}

/** Runs the Python client; unbuffered so its lines are seen as they are printed. */
export function pythonClient(name: string, port: number, script: string[]): ClientProcess {
  return new ClientProcess(name, "python3", {
    args: [PYTHON_CLIENT, "127.0.0.1", String(port), ...script],
    env: PYTHON_ENV,
  });
}
