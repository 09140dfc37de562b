// The PROXY protocol header (v1 text, v2 binary) a load balancer puts before a client's bytes:
// bytes in, the client's address out. Pure: no sockets, no logs. Spec: HAProxy's
// doc/proxy-protocol.txt (sections 2.1 and 2.2), the one cited as "spec" below.

/** What the bytes read so far hold. */
export type ProxyHeader =
  /** A header may still come: read more (within the caller's deadline). */
  | { readonly kind: "more" }
  /** Not a valid header: the connection is dropped (spec 2.1: "must ... abort"). */
  | { readonly kind: "invalid"; readonly reason: string }
  /** The client's address, in the form sockets report it; `length` bytes belong to the header. */
  | {
    readonly kind: "proxy";
    readonly version: 1 | 2;
    readonly length: number;
    readonly source: string;
  }
  /**
   * `local`: a v2 LOCAL command, a connection the proxy made itself (its health checks).
   * `unknown`: v1 UNKNOWN, or v2 over UDP, AF_UNIX or AF_UNSPEC: no usable address, the
   * connection's own peer address stays.
   */
  | { readonly kind: "local" | "unknown"; readonly version: 1 | 2; readonly length: number };

/** Longest v1 line, CRLF included (spec 2.1: "PROXY UNKNOWN" with two full IPv6 addresses). */
export const PROXY_V1_MAX_BYTES = 107;
/**
 * Longest v2 header accepted, its 16 fixed bytes included. The spec allows 16 + 65535; what
 * HAProxy sends (addresses, ALPN, the SNI of at most 255 bytes, a unique ID of at most 128, SSL
 * details) stays under 1 KiB, so 4 KiB leaves room without letting a header hold a buffer of
 * 64 KiB per connection.
 */
export const PROXY_V2_MAX_BYTES = 4096;

// Spec 2.2: the 12-byte signature, then the version (2) and command in the 13th byte.
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const V2_FIXED_BYTES = 16;
// "PROXY " (spec 2.1: the string, then exactly one space).
const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20];
const CR = 0x0d;
const LF = 0x0a;

const MORE: ProxyHeader = { kind: "more" };

function invalid(reason: string): ProxyHeader {
  return { kind: "invalid", reason };
}

/**
 * Reads the PROXY header at the start of `bytes` (everything read from the connection so far).
 * The bytes after `length` are the client's own and must be kept. Never throws; needs at most
 * {@link PROXY_V1_MAX_BYTES} or {@link PROXY_V2_MAX_BYTES} bytes to decide.
 *
 * @example
 * ```ts
 * parseProxyHeader(new TextEncoder().encode("PROXY TCP4 10.0.0.7 10.0.0.1 51000 12345\r\n{"));
 * // { kind: "proxy", version: 1, length: 42, source: "10.0.0.7" }
 * ```
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeader {
  if (bytes.length === 0) return MORE;
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  return invalid("Not a PROXY protocol header");
}

/** Spec 2.1: one line of US-ASCII, CRLF-terminated, within 107 bytes. */
function parseV1(bytes: Uint8Array): ProxyHeader {
  if (!startsWith(bytes, V1_PREFIX)) return invalid("Not a PROXY protocol header");
  const end = Math.min(bytes.length, PROXY_V1_MAX_BYTES);
  let cr = -1;
  for (let i = 0; i < end; i++) {
    const b = bytes[i];
    if (b === CR) {
      cr = i;
      break;
    }
    // A lone LF must not end the line (spec 2.1), and nothing else but printable ASCII fits.
    if (b < 0x20 || b > 0x7e) return invalid("Unexpected byte in a PROXY v1 line");
  }
  if (cr < 0) {
    return bytes.length >= PROXY_V1_MAX_BYTES
      ? invalid(`PROXY v1 line without CRLF in its first ${PROXY_V1_MAX_BYTES} bytes`)
      : MORE;
  }
  if (cr + 1 >= PROXY_V1_MAX_BYTES) {
    return invalid(`PROXY v1 line without CRLF in its first ${PROXY_V1_MAX_BYTES} bytes`);
  }
  if (cr + 1 === bytes.length) return MORE;
  if (bytes[cr + 1] !== LF) return invalid("PROXY v1 line ends with a CR without LF");
  const length = cr + 2;
  // Printable ASCII only, checked above: one byte is one character.
  const fields = String.fromCharCode(...bytes.subarray(0, cr)).split(" ");
  const protocol = fields[1];
  // Spec 2.1: for UNKNOWN, whatever follows up to the CRLF is ignored.
  if (protocol === "UNKNOWN") return { kind: "unknown", version: 1, length };
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    return invalid("Unknown protocol in a PROXY v1 line (expected TCP4, TCP6 or UNKNOWN)");
  }
  if (fields.length !== 6) return invalid(`PROXY v1 ${protocol} line without exactly 4 fields`);
  const [, , src, dst, srcPort, dstPort] = fields;
  const address = protocol === "TCP4" ? ipv4Bytes : ipv6Bytes;
  const source = address(src);
  if (!source) return invalid(`Invalid source address in a PROXY v1 ${protocol} line`);
  if (!address(dst)) return invalid(`Invalid destination address in a PROXY v1 ${protocol} line`);
  if (!isPort(srcPort) || !isPort(dstPort)) return invalid("Invalid port in a PROXY v1 line");
  return { kind: "proxy", version: 1, length, source: formatAddress(source) };
}

/** Spec 2.2: the signature, version and command, family and protocol, length, addresses. */
function parseV2(bytes: Uint8Array): ProxyHeader {
  if (!startsWith(bytes, V2_SIGNATURE)) return invalid("Not a PROXY protocol header");
  if (bytes.length < V2_FIXED_BYTES) return MORE;
  const version = bytes[12] >> 4;
  const command = bytes[12] & 0x0f;
  const family = bytes[13] >> 4;
  const transport = bytes[13] & 0x0f;
  if (version !== 2) return invalid(`PROXY v2 header of version ${version}`);
  // 0: LOCAL, 1: PROXY; others "must" be dropped.
  if (command > 1) return invalid(`PROXY v2 header with command ${command}`);
  // Families 0..3 (UNSPEC, INET, INET6, UNIX), protocols 0..2 (UNSPEC, STREAM, DGRAM).
  if (family > 3 || transport > 2) {
    return invalid(`PROXY v2 header with family ${family} and protocol ${transport}`);
  }
  const length = V2_FIXED_BYTES + ((bytes[14] << 8) | bytes[15]);
  if (length > PROXY_V2_MAX_BYTES) {
    return invalid(`PROXY v2 header of ${length} bytes, over the ${PROXY_V2_MAX_BYTES}-byte cap`);
  }
  if (bytes.length < length) return MORE;
  // LOCAL: the proxy's own connection; the address block, whatever it holds, is ignored.
  if (command === 0) return { kind: "local", version: 2, length };
  // TCP over IPv4 (0x11) or IPv6 (0x21); the TLVs after the addresses are skipped.
  const size = transport === 1 ? (family === 1 ? 4 : family === 2 ? 16 : 0) : 0;
  if (size === 0) return { kind: "unknown", version: 2, length };
  // Source and destination addresses, then the two ports.
  if (length - V2_FIXED_BYTES < 2 * size + 4) {
    return invalid(`PROXY v2 address block too short for ${size === 4 ? "IPv4" : "IPv6"}`);
  }
  const source = formatAddress(bytes.slice(V2_FIXED_BYTES, V2_FIXED_BYTES + size));
  return { kind: "proxy", version: 2, length, source };
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** Spec 2.1: a decimal 0..65535 without leading zeros. */
function isPort(text: string): boolean {
  return /^(0|[1-9][0-9]{0,4})$/.test(text) && Number(text) <= 65535;
}

/** Four decimal numbers 0..255 without leading zeros (spec 2.1), as 4 bytes; else undefined. */
function ipv4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/**
 * Groups of 1 to 4 hex digits separated by colons, one `::` at most, and an IPv4 address as the
 * last 32 bits allowed (what inet_ntop writes, as HAProxy does), as 16 bytes; else undefined.
 */
function ipv6Bytes(text: string): Uint8Array | undefined {
  if (text.length > 45) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = halves.map((half) => half === "" ? [] : half.split(":"));
  const words: number[][] = [];
  for (let h = 0; h < groups.length; h++) {
    const out: number[] = [];
    for (let i = 0; i < groups[h].length; i++) {
      const group = groups[h][i];
      const last = h === groups.length - 1 && i === groups[h].length - 1;
      if (last && group.includes(".")) {
        const v4 = ipv4Bytes(group);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(group)) {
        out.push(parseInt(group, 16));
      } else {
        return undefined;
      }
    }
    words.push(out);
  }
  const count = words.reduce((n, w) => n + w.length, 0);
  // Without "::", exactly 8 groups; with it, the zeros it stands for make up the rest.
  if (words.length === 1 ? count !== 8 : count > 7) return undefined;
  const all = words.length === 1
    ? words[0]
    : [...words[0], ...new Array(8 - count).fill(0), ...words[1]];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/**
 * An address as text, as sockets report them: dotted IPv4; IPv6 in the RFC 5952 form (lower
 * case, the longest run of two or more zero groups as `::`). An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, from a dual-stack balancer) is its IPv4 address: the same client keeps one
 * address for the per-address limits however the balancer reached it.
 */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return [...bytes.subarray(12, 16)].join(".");
  }
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) best = i, bestLength = j - i;
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLength))}`;
}
