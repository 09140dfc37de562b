// Deno KV keys and values <-> JSON, losslessly: what JSON cannot hold is a tagged object
// {"$":"<tag>",...} (see encodeValue).

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object with a "$" tag. */
type Tagged = { [key: string]: Json };

const TYPED_ARRAYS = [
  "Int8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float16Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
];

const ERRORS: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/**
 * Encodes a value Deno KV can hold as JSON, losslessly. JSON values stay as they are, except:
 * `{"$":"undefined"}`, `{"$":"number","v":"NaN"|"Infinity"|"-Infinity"|"-0"}`,
 * `{"$":"bigint","v":"<decimal>"}`, `{"$":"u64","v":"<decimal>"}` (Deno.KvU64),
 * `{"$":"bytes","v":"<base64>"}` (Uint8Array), `{"$":"typed","type":"Int16Array","v":"<base64>"}`,
 * `{"$":"arraybuffer","v":...}`, `{"$":"dataview","v":...}`, `{"$":"date","v":<ms>}`,
 * `{"$":"regexp","source":...,"flags":...}`, `{"$":"map","v":[[k,v],...]}`, `{"$":"set","v":[...]}`,
 * `{"$":"error","name":...,"message":...}`, `{"$":"boxed","v":...}` (new String("x")),
 * `{"$":"hole"}` (a missing array element), and `{"$":"object","v":{...}}` for an object that
 * has a "$" property of its own.
 *
 * @throws {TypeError} for what Deno KV cannot store either (functions, class instances) and cycles
 */
export function encodeValue(value: unknown): Json {
  return encode(value, new Set());
}

function encode(value: unknown, path: Set<object>): Json {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return encodeNumber(value);
    case "bigint":
      return { $: "bigint", v: value.toString() };
    case "undefined":
      return { $: "undefined" };
    case "object":
      break;
    default:
      throw new TypeError(`Cannot encode a value of type "${typeof value}"`);
  }
  if (value === null) return null;
  if (path.has(value)) throw new TypeError("Cannot encode a value that contains itself");
  path.add(value);
  try {
    return encodeObject(value, path);
  } finally {
    path.delete(value);
  }
}

function encodeNumber(n: number): Json {
  if (Number.isFinite(n) && !Object.is(n, -0)) return n;
  return { $: "number", v: Object.is(n, -0) ? "-0" : String(n) };
}

function encodeObject(value: object, path: Set<object>): Json {
  if (value instanceof Deno.KvU64) return { $: "u64", v: value.value.toString() };
  if (Array.isArray(value)) {
    const out: Json[] = [];
    for (let i = 0; i < value.length; i++) {
      out.push(i in value ? encode(value[i], path) : { $: "hole" });
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) define(out, k, encode(v, path));
    return "$" in out ? { $: "object", v: out } : out;
  }
  const kind = Object.prototype.toString.call(value).slice(8, -1);
  if (value instanceof Uint8Array && kind === "Uint8Array") {
    return { $: "bytes", v: value.toBase64() };
  }
  if (ArrayBuffer.isView(value)) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength).toBase64();
    if (value instanceof DataView) return { $: "dataview", v: bytes };
    if (TYPED_ARRAYS.includes(kind)) return { $: "typed", type: kind, v: bytes };
  }
  if (value instanceof ArrayBuffer) {
    return { $: "arraybuffer", v: new Uint8Array(value).toBase64() };
  }
  if (value instanceof Date) return { $: "date", v: encodeNumber(value.getTime()) };
  if (value instanceof RegExp) return { $: "regexp", source: value.source, flags: value.flags };
  if (value instanceof Map) {
    return { $: "map", v: [...value].map(([k, v]) => [encode(k, path), encode(v, path)]) };
  }
  if (value instanceof Set) return { $: "set", v: [...value].map((v) => encode(v, path)) };
  if (value instanceof Error) {
    const out: { [key: string]: Json } = { $: "error", name: value.name, message: value.message };
    if (typeof value.stack === "string") out.stack = value.stack;
    if ("cause" in value) out.cause = encode(value.cause, path);
    return out;
  }
  if (
    value instanceof String || value instanceof Number || value instanceof Boolean ||
    value instanceof BigInt
  ) {
    return { $: "boxed", v: encode(value.valueOf(), path) };
  }
  throw new TypeError(`Cannot encode an object of type "${kind}"`);
}

/** Sets a property, even one named "__proto__", as JSON.parse would. */
function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/**
 * Decodes what {@link encodeValue} produced.
 *
 * @throws {SyntaxError} for an unknown or malformed tagged object
 */
export function decodeValue(json: Json): unknown {
  if (json === null || typeof json !== "object") return json;
  if (Array.isArray(json)) {
    // Built by map(), not by setting a length first: V8 then keeps the array packed, which it
    // serializes densely (a holey array takes an index per element, and could outgrow the
    // 64 KiB a value may have).
    const holes: number[] = [];
    const out = json.map((item, i) => {
      if (!isTag(item, "hole")) return decodeValue(item);
      holes.push(i);
      return undefined;
    });
    for (const i of holes) delete out[i];
    return out;
  }
  if (!("$" in json)) return decodeObject(json);
  return decodeTagged(json);
}

function isTag(json: Json, tag: string): boolean {
  return json !== null && typeof json === "object" && !Array.isArray(json) && json.$ === tag &&
    Object.keys(json).length === 1;
}

function decodeObject(json: { [key: string]: Json }): object {
  const out = {};
  for (const [k, v] of Object.entries(json)) define(out, k, decodeValue(v));
  return out;
}

/** How one tag decodes: the fields it may have besides "$", and the value they make. */
interface TagDecoder {
  fields: readonly string[];
  decode(json: Tagged): unknown;
}

/** Each tag of {@link encodeValue} but "hole" (which only an array holds). */
const TAGS = new Map<string, TagDecoder>([
  ["undefined", { fields: [], decode: () => undefined }],
  ["number", { fields: ["v"], decode: (json) => decodeNumber(json.v) }],
  ["bigint", { fields: ["v"], decode: (json) => BigInt(integer(field(json, "v", "string"))) }],
  ["u64", {
    fields: ["v"],
    decode: (json) => new Deno.KvU64(BigInt(integer(field(json, "v", "string")))),
  }],
  ["bytes", { fields: ["v"], decode: (json) => base64(field(json, "v", "string")) }],
  ["typed", { fields: ["type", "v"], decode: decodeTyped }],
  ["arraybuffer", { fields: ["v"], decode: (json) => base64(field(json, "v", "string")).buffer }],
  ["dataview", {
    fields: ["v"],
    decode: (json) => new DataView(base64(field(json, "v", "string")).buffer),
  }],
  ["date", {
    fields: ["v"],
    decode: (json) => {
      const ms = decodeValue(json.v); // a number, or a tagged NaN for an invalid date
      if (typeof ms !== "number") throw new SyntaxError(`Tagged "date" needs a number`);
      return new Date(ms);
    },
  }],
  ["regexp", {
    fields: ["source", "flags"],
    decode: (json) => new RegExp(field(json, "source", "string"), field(json, "flags", "string")),
  }],
  ["map", {
    fields: ["v"],
    decode: (json) =>
      new Map(
        field<Json[]>(json, "v", "array").map((pair) => {
          if (!Array.isArray(pair) || pair.length !== 2) {
            throw new SyntaxError(`Tagged "map" needs [key, value] pairs`);
          }
          return [decodeValue(pair[0]), decodeValue(pair[1])];
        }),
      ),
  }],
  ["set", {
    fields: ["v"],
    decode: (json) => new Set(field<Json[]>(json, "v", "array").map(decodeValue)),
  }],
  ["error", { fields: ["name", "message", "stack", "cause"], decode: decodeError }],
  ["boxed", {
    fields: ["v"],
    decode: (json) => {
      const inner = decodeValue(json.v);
      if (!["string", "number", "boolean", "bigint"].includes(typeof inner)) {
        throw new SyntaxError(`Tagged "boxed" needs a string, number, boolean or bigint`);
      }
      return Object(inner);
    },
  }],
  ["object", {
    fields: ["v"],
    decode: (json) => decodeObject(field<{ [key: string]: Json }>(json, "v", "object")),
  }],
]);

function decodeTagged(json: Tagged): unknown {
  const tag = json.$;
  if (tag === "hole") throw new SyntaxError(`Tagged "hole" outside an array`);
  const decoder = typeof tag === "string" ? TAGS.get(tag) : undefined;
  if (!decoder) throw new SyntaxError(`Unknown tag ${JSON.stringify(tag)}`);
  for (const k of Object.keys(json)) {
    if (k !== "$" && !decoder.fields.includes(k)) {
      throw new SyntaxError(`Tagged "${tag}" has an unknown field "${k}"`);
    }
  }
  return decoder.decode(json);
}

/** A field of a tagged object, of the JSON `type` ("string", "array", "object"...). */
function field<T extends Json>(json: Tagged, name: string, type: string): T {
  const v = json[name];
  const actual = Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
  if (actual !== type) throw new SyntaxError(`Tagged "${json.$}" needs "${name}" as ${type}`);
  return v as T;
}

function decodeTyped(json: Tagged): unknown {
  const type = field<string>(json, "type", "string");
  const ctor = (globalThis as Record<string, unknown>)[type];
  if (!TYPED_ARRAYS.includes(type) || typeof ctor !== "function") {
    throw new SyntaxError(`Unknown typed array "${type}"`);
  }
  const bytes = base64(field(json, "v", "string"));
  const size = (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  if (bytes.length % size !== 0) throw new SyntaxError(`Bad length for "${type}"`);
  return new (ctor as new (b: ArrayBuffer) => unknown)(bytes.buffer as ArrayBuffer);
}

function decodeError(json: Tagged): Error {
  const name = field<string>(json, "name", "string");
  const err = new (ERRORS[name] ?? Error)(field(json, "message", "string"));
  if (!(name in ERRORS)) err.name = name;
  if ("stack" in json) {
    Object.defineProperty(err, "stack", {
      value: field(json, "stack", "string"),
      writable: true,
      configurable: true,
    });
  }
  if ("cause" in json) err.cause = decodeValue(json.cause);
  return err;
}

function decodeNumber(json: Json | undefined): number {
  if (typeof json === "number") return json;
  switch (json) {
    case "NaN":
      return NaN;
    case "Infinity":
      return Infinity;
    case "-Infinity":
      return -Infinity;
    case "-0":
      return -0;
  }
  throw new SyntaxError(`Bad number ${JSON.stringify(json)}`);
}

function integer(text: string): string {
  if (!/^-?\d+$/.test(text)) throw new SyntaxError(`Bad integer "${text}"`);
  return text;
}

function base64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.fromBase64(text, { lastChunkHandling: "strict" });
}

/** Encodes a KV key: each part as {@link encodeValue} does. */
export function encodeKey(key: Deno.KvKey): Json[] {
  return key.map((part) => encodeValue(part));
}

/**
 * Decodes a key, checking that every part is one Deno KV accepts.
 *
 * @throws {SyntaxError} for anything else
 */
export function decodeKey(json: Json): Deno.KvKey {
  if (!Array.isArray(json) || json.length === 0) {
    throw new SyntaxError(`"key" must be a non-empty array`);
  }
  return json.map((part) => {
    const v = decodeValue(part);
    if (
      typeof v === "string" || typeof v === "number" || typeof v === "bigint" ||
      typeof v === "boolean" || v instanceof Uint8Array
    ) {
      return v as Deno.KvKeyPart;
    }
    throw new SyntaxError(`A key part must be a string, number, bigint, boolean or Uint8Array`);
  });
}

/** A key as its JSON encoding, for an error line. */
export function describeKey(key: Deno.KvKey): string {
  try {
    return JSON.stringify(encodeKey(key));
  } catch {
    return "(unprintable)";
  }
}
