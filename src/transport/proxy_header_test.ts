import assert from "node:assert/strict";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { proxyV2Header } from "../../tests/helpers/haproxy.ts";
import {
  formatAddress,
  parseProxyHeader,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_MAX_BYTES,
  type ProxyHeader,
} from "./proxy_header.ts";
import { cut } from "../../tests/helpers/chunks.ts";

const RUNS = { numRuns: 500 };
const encoder = new TextEncoder();
const ascii = (text: string) => encoder.encode(text);
const join = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

/** A v2 header with the 13th to 16th bytes given: version and command, family, length. */
function v2Raw(verCmd: number, famProto: number, body: number[]): Uint8Array {
  const signature = proxyV2Header({ command: "local" }).subarray(0, 12);
  const fixed = [verCmd, famProto, body.length >> 8, body.length & 255];
  return join(signature, Uint8Array.from([...fixed, ...body]));
}

Deno.test("parseProxyHeader() reads a v1 TCP4 line and says where the client's bytes start", () => {
  const line = "PROXY TCP4 10.0.0.7 10.0.0.1 51000 12345\r\n";
  assert.equal(line.length, 42);
  assert.deepEqual(parseProxyHeader(ascii(line + '{"type":"users"}\n')), {
    kind: "proxy",
    version: 1,
    length: 42,
    source: "10.0.0.7",
  });
});

Deno.test("parseProxyHeader() reads v1 TCP6 addresses in every form inet_ntop writes", () => {
  const cases: [string, string][] = [
    ["2001:db8::1", "2001:db8::1"],
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["::1", "::1"],
    ["::", "::"],
    ["fe80::", "fe80::"],
    ["1:0:0:1:0:0:1:1", "1::1:0:0:1:1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    // A dual-stack balancer's IPv4 client: the same address as when it comes over IPv4.
    ["::ffff:192.0.2.9", "192.0.2.9"],
    ["::ffff:c000:209", "192.0.2.9"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ];
  for (const [text, source] of cases) {
    const line = `PROXY TCP6 ${text} ::1 51000 12345\r\n`;
    assert.deepEqual(parseProxyHeader(ascii(line)), {
      kind: "proxy",
      version: 1,
      length: line.length,
      source,
    }, text);
  }
});

Deno.test("parseProxyHeader() keeps the peer address for v1 UNKNOWN, whatever follows it", () => {
  for (const line of ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n"]) {
    assert.deepEqual(parseProxyHeader(ascii(line + "x")), {
      kind: "unknown",
      version: 1,
      length: line.length,
    });
  }
});

Deno.test("parseProxyHeader() accepts a v1 line of exactly 107 bytes, not 108", () => {
  const v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const longest = `PROXY UNKNOWN ${v6} ${v6} 65535 65535\r\n`;
  assert.equal(longest.length, PROXY_V1_MAX_BYTES);
  assert.equal(parseProxyHeader(ascii(longest)).kind, "unknown");
  const tooLong = `PROXY UNKNOWN ${v6} ${v6} 65535 655350\r\n`;
  assert.equal(parseProxyHeader(ascii(tooLong)).kind, "invalid");
  // Decided without waiting for a line end that cannot come in time.
  assert.equal(parseProxyHeader(ascii(tooLong.slice(0, PROXY_V1_MAX_BYTES))).kind, "invalid");
});

Deno.test("parseProxyHeader() refuses v1 lines that do not match the spec exactly", () => {
  const bad = [
    '{"type":"login","username":"a","password":"b"}\n', // a client, no header
    "GET_METRICS",
    "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", // case matters
    "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", // two spaces
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", // a lone LF
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx", // a lone CR
    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", // a field missing
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", // a field too many
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", // a trailing space
    "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", // leading zero
    "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.x 1 2\r\n", // a bad destination
    "PROXY TCP4 ::1 ::1 1 2\r\n", // the family decides the form
    "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
    "PROXY TCP6 1::2::3 ::1 1 2\r\n",
    "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
    "PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n",
    "PROXY TCP6 12345::1 ::1 1 2\r\n",
    "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
    "PROXY TCP6 1.2.3.4:: ::1 1 2\r\n",
    "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY UNKNOWNX\r\n",
    "PROXY \r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\u00e9\r\n", // not ASCII
  ];
  for (const text of bad) {
    const result = parseProxyHeader(encoder.encode(text));
    assert.equal(result.kind, "invalid", JSON.stringify(text));
  }
});

Deno.test("parseProxyHeader() waits for more on every strict prefix of a header", () => {
  const headers = [
    ascii("PROXY TCP6 2001:db8::1 2001:db8::2 51000 12345\r\n"),
    proxyV2Header({ source: "192.0.2.1" }),
    proxyV2Header({ command: "local" }),
  ];
  for (const header of headers) {
    for (let i = 0; i < header.length; i++) {
      assert.deepEqual(parseProxyHeader(header.subarray(0, i)), { kind: "more" }, `${i}`);
    }
  }
});

Deno.test("parseProxyHeader() reads v2 PROXY over TCP, IPv4 and IPv6, and skips the TLVs", () => {
  // PP2_TYPE_AUTHORITY "chat" and PP2_TYPE_NOOP, as HAProxy may add them.
  const tlvs = Uint8Array.from([0x02, 0, 4, ...ascii("chat"), 0x04, 0, 2, 0, 0]);
  for (
    const [source, expected] of [
      ["203.0.113.5", "203.0.113.5"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["::ffff:203.0.113.5", "203.0.113.5"],
    ]
  ) {
    const header = proxyV2Header({ source, tlvs });
    assert.deepEqual(parseProxyHeader(join(header, ascii("{}\n"))), {
      kind: "proxy",
      version: 2,
      length: header.length,
      source: expected,
    });
  }
});

Deno.test("parseProxyHeader() says local for a v2 LOCAL command, even with an address", () => {
  assert.deepEqual(parseProxyHeader(proxyV2Header({ command: "local" })), {
    kind: "local",
    version: 2,
    length: 16,
  });
  // LOCAL with an IPv4 block: the block is skipped, not read.
  const local = v2Raw(0x20, 0x11, new Array(12).fill(7));
  assert.deepEqual(parseProxyHeader(local), { kind: "local", version: 2, length: 28 });
});

Deno.test("parseProxyHeader() keeps the peer address for v2 UNSPEC, UDP and AF_UNIX", () => {
  for (const famProto of [0x00, 0x12, 0x22, 0x31, 0x32]) {
    const header = v2Raw(0x21, famProto, new Array(famProto >> 4 === 3 ? 216 : 36).fill(1));
    assert.deepEqual(
      parseProxyHeader(header),
      { kind: "unknown", version: 2, length: header.length },
      famProto.toString(16),
    );
  }
});

Deno.test("parseProxyHeader() refuses v2 headers the spec says to drop", () => {
  const cases: [string, Uint8Array][] = [
    ["version 1", v2Raw(0x11, 0x11, new Array(12).fill(0))],
    ["version 3", v2Raw(0x31, 0x11, new Array(12).fill(0))],
    ["command 2", v2Raw(0x22, 0x11, new Array(12).fill(0))],
    ["family 4", v2Raw(0x21, 0x41, new Array(12).fill(0))],
    ["protocol 3", v2Raw(0x21, 0x13, new Array(12).fill(0))],
    ["IPv4 block too short", v2Raw(0x21, 0x11, new Array(11).fill(0))],
    ["IPv6 block too short", v2Raw(0x21, 0x21, new Array(35).fill(0))],
    ["a broken signature", Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01])],
  ];
  for (const [what, bytes] of cases) assert.equal(parseProxyHeader(bytes).kind, "invalid", what);
});

Deno.test("parseProxyHeader() refuses a v2 length over the cap before the bytes come", () => {
  const atCap = v2Raw(0x21, 0x11, new Array(PROXY_V2_MAX_BYTES - 16).fill(0));
  assert.equal(parseProxyHeader(atCap).kind, "proxy");
  const over = v2Raw(0x21, 0x11, new Array(PROXY_V2_MAX_BYTES - 15).fill(0));
  // The 16 fixed bytes are enough to know.
  assert.equal(parseProxyHeader(over.subarray(0, 16)).kind, "invalid");
  const huge = Uint8Array.from([...over.subarray(0, 14), 0xff, 0xff]);
  assert.equal(parseProxyHeader(huge).kind, "invalid");
});

/** Feeds `chunks` one by one to the parser as a reader would: the first answer not "more". */
function feed(chunks: Uint8Array[]): { result: ProxyHeader; read: Uint8Array } {
  let read = new Uint8Array(0);
  let result: ProxyHeader = { kind: "more" };
  for (const chunk of chunks) {
    read = join(read, chunk);
    result = parseProxyHeader(read);
    if (result.kind !== "more") break;
  }
  return { result, read };
}

const ipv4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
const ipv6 = fc.oneof(
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
  // Zero runs are where the "::" forms differ.
  fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 }),
);
const port = fc.integer({ min: 0, max: 65535 });

/** What ipaddr.js writes for an address (RFC 5952), IPv4-mapped addresses as IPv4. */
function expected(bytes: number[]): string {
  const addr = ipaddr.fromByteArray(bytes);
  if (addr.kind() === "ipv4") return addr.toString();
  const v6 = addr as ipaddr.IPv6;
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
}

/** Valid headers (v1 and v2, both families) with the source address parse must give. */
const validHeader = fc.oneof(
  fc.tuple(ipv4, ipv4, port, port).map(([s, d, sp, dp]) => ({
    bytes: ascii(`PROXY TCP4 ${s.join(".")} ${d.join(".")} ${sp} ${dp}\r\n`),
    source: s.join("."),
  })),
  fc.tuple(ipv6, ipv6, port, port, fc.boolean()).map(([s, d, sp, dp, full]) => {
    // The full form (4 digits a group, leading zeros kept) or the short one inet_ntop writes.
    const text = (b: number[]) =>
      full
        ? Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16))
          .map((g) => g.padStart(4, "0")).join(":")
        : ipaddr.fromByteArray(b).toString();
    return {
      bytes: ascii(`PROXY TCP6 ${text(s)} ${text(d)} ${sp} ${dp}\r\n`),
      source: expected(s),
    };
  }),
  fc.tuple(fc.oneof(ipv4, ipv6), fc.uint8Array({ maxLength: 64 })).map(([s, tlvs]) => ({
    bytes: proxyV2Header({ source: ipaddr.fromByteArray(s).toString(), tlvs }),
    source: expected(s),
  })),
);

Deno.test("parseProxyHeader() gives the same answer however the header is cut", () => {
  fc.assert(
    fc.property(
      validHeader,
      fc.uint8Array({ maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      ({ bytes, source }, after, at) => {
        const stream = join(bytes, after);
        const whole = parseProxyHeader(stream);
        assert.equal(whole.kind, "proxy");
        assert.equal(whole.kind === "proxy" && whole.source, source);
        assert.equal(whole.kind === "proxy" && whole.length, bytes.length);
        const { result, read } = feed(cut(stream, at));
        assert.deepEqual(result, whole);
        // Nothing of the client's is lost: what follows the header is what was sent after it.
        assert.deepEqual(
          read.subarray(bytes.length),
          after.subarray(0, read.length - bytes.length),
        );
      },
    ),
    RUNS,
  );
});

Deno.test("parseProxyHeader() never throws and decides within its caps on any bytes", () => {
  const noisy = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    // Starts that get past the first checks, then noise.
    fc.tuple(
      fc.constantFrom(ascii("PROXY "), ascii("PROXY TCP4 "), proxyV2Header().subarray(0, 13)),
      fc.uint8Array({ maxLength: 300 }),
    ).map(([start, rest]) => join(start, rest)),
  );
  fc.assert(
    fc.property(noisy, (bytes) => {
      const result = parseProxyHeader(bytes);
      if (result.kind === "more") {
        assert.ok(bytes.length < PROXY_V2_MAX_BYTES);
      } else if (result.kind !== "invalid") {
        assert.ok(result.length <= bytes.length);
        assert.ok(
          result.length <= (result.version === 1 ? PROXY_V1_MAX_BYTES : PROXY_V2_MAX_BYTES),
        );
      }
      // A v1 answer needs no more than 107 bytes.
      if (bytes[0] === 0x50 && bytes.length >= PROXY_V1_MAX_BYTES) {
        assert.notEqual(result.kind, "more");
      }
    }),
    RUNS,
  );
});

Deno.test("formatAddress() writes what ipaddr.js writes (RFC 5952), mapped IPv4 as IPv4", () => {
  fc.assert(
    fc.property(fc.oneof(ipv4, ipv6), (bytes) => {
      assert.equal(formatAddress(Uint8Array.from(bytes)), expected(bytes));
    }),
    RUNS,
  );
});
