// The old server's users.pkl: a pickled dict of name -> plaintext password, read without Python.
import { BufferReader, Parser } from "pickleparser";
import { errorReason, quote } from "../cli.ts";

const OP_STRING = 0x53; // "S": a protocol 0 byte string, repr()-quoted
const OP_UNICODE = 0x56; // "V": a protocol 0 str, in raw-unicode-escape

/**
 * pickleparser 0.2.1 reads every text argument as "ascii", which TextDecoder takes as
 * Windows-1252, and leaves the escapes of protocol 0 str values ("V" opcode) as they are:
 * `\U0001f600` and `\u005c` stay literal and U+0080..U+009F become other characters. This
 * reader gives the "V" argument its real encoding; the parsing stays pickleparser's.
 * Byte strings (Python 2 pickles) that Python 3 itself would not read as ASCII text are refused
 * rather than imported garbled.
 */
class PickleReader extends BufferReader {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    super(bytes);
    this.#bytes = bytes;
  }

  override line(): string {
    // A text argument follows its opcode byte at once (or the previous line of GLOBAL/INST).
    const start = this.position;
    const opcode = this.#bytes[start - 1];
    if (opcode === OP_UNICODE) {
      const end = this.#bytes.indexOf(0x0a, start);
      if (end < 0) return super.line(); // throws "Could not find end of line."
      this.skip(end + 1 - start);
      return decodeRawUnicodeEscape(this.#bytes.subarray(start, end));
    }
    const text = super.line();
    if (opcode === OP_STRING && text.includes("\\")) {
      throw new TypeError("escaped byte strings (a Python 2 pickle) are not supported");
    }
    return text;
  }

  override string(size: number, encoding: "ascii" | "utf-8"): string {
    const start = this.position;
    if (encoding === "ascii" && this.#bytes.subarray(start, start + size).some((b) => b > 0x7f)) {
      throw new TypeError("non-ASCII byte strings (a Python 2 pickle) are not supported");
    }
    return super.string(size, encoding);
  }
}

/**
 * Python's raw-unicode-escape: each byte is one Latin-1 character, except `\uXXXX` and
 * `\UXXXXXXXX` after an odd number of backslashes (CPython's rule; Python 3 pickles write every
 * backslash itself as `\u005c`).
 */
export function decodeRawUnicodeEscape(bytes: Uint8Array): string {
  let latin1 = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    latin1 += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return latin1.replace(
    /(\\+)(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g,
    (all, slashes: string, escape: string) => {
      if (slashes.length % 2 === 0) return all;
      const codePoint = parseInt(escape.slice(1), 16);
      if (codePoint > 0x10ffff) throw new RangeError(`Invalid escape "\\${escape}"`);
      return slashes.slice(1) + String.fromCodePoint(codePoint);
    },
  );
}

/** What a Python value is called, for an error line (never the value: it may be a password). */
function pythonType(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "string") return "str";
  if (typeof value === "number" || typeof value === "bigint") return "number";
  if (typeof value === "boolean") return "bool";
  if (value instanceof Uint8Array) return "bytes";
  if (Array.isArray(value)) return "list or tuple";
  if (value instanceof Map) return "dict";
  return "object";
}

/**
 * Reads the old server's users: a pickled dict of name -> plaintext password, in its order.
 *
 * @throws {Error} `Cannot read users from "path": reason`, for anything but a dict of strings
 */
export async function readUsers(path: string): Promise<[string, string][]> {
  const fail = (reason: string, cause?: unknown) =>
    new Error(`Cannot read users from "${path}": ${reason}`, { cause });
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw fail(errorReason(err), err);
  }
  let value: unknown;
  try {
    // A Map keeps Python's key types (an int key stays an int) and any key, "__proto__" included.
    value = new Parser({ unpicklingTypeOfDictionary: "Map" }).read(new PickleReader(bytes));
  } catch (err) {
    throw fail(`not a readable pickle (${(err as Error).message})`, err);
  }
  if (!(value instanceof Map)) {
    throw fail(`expected a dict of name -> password, found a ${pythonType(value)}`);
  }
  const users: [string, string][] = [];
  for (const [name, password] of value) {
    if (typeof name !== "string") {
      throw fail(`expected a dict of strings, found a ${pythonType(name)} name`);
    }
    if (typeof password !== "string") {
      throw fail(`expected a dict of strings, found a ${pythonType(password)} for ${quote(name)}`);
    }
    users.push([name, password]);
  }
  return users;
}
