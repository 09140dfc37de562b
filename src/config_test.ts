import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import { AddressSet } from "./address_set.ts";
import { DEFAULT_LIMITS, ENV_VARS, helpText, parseConfig } from "./config.ts";

const config = (args: string[], env: Record<string, string> = {}) => parseConfig(args, env);

Deno.test("parseConfig() defaults match the documented ones", () => {
  assert.deepEqual(config([]), {
    host: "0.0.0.0",
    port: 12345,
    metricsPort: 9091,
    // Loopback: /metrics stays off the students' network unless told otherwise.
    metricsHost: "127.0.0.1",
    // GET_METRICS on the chat port: trusted addresses only (docs/protocol.md, section 9).
    metricsBridge: "trusted",
    db: "./data/classcord.kv",
    logLevel: "info",
    logFormat: "text",
    logFile: "",
    retentionDays: 365,
    guests: true,
    tlsPort: 12346,
    tlsCert: "",
    tlsKey: "",
    lang: "en",
    webPort: 8080,
    webOrigins: [],
    trustedAddresses: AddressSet.parse("127.0.0.0/8,::1"),
    proxyFrom: AddressSet.parse("none"),
    nats: [],
    nodeName: "",
    limits: DEFAULT_LIMITS,
  });
  assert.equal(DEFAULT_LIMITS.maxLineBytes, 65536);
  // Clients open the socket before the user types (docs/protocol.md §5.6: at least 10 minutes).
  assert.equal(DEFAULT_LIMITS.identifyTimeoutMs, 600_000);
  // Sized for a class of 35 behind one router whose guest mode registers at every start.
  assert.deepEqual(
    {
      registrations: DEFAULT_LIMITS.registrationsPerAddress,
      connections: DEFAULT_LIMITS.maxConnectionsPerAddress,
      newConnections: DEFAULT_LIMITS.newConnectionsPerAddress,
      loginFailures: DEFAULT_LIMITS.loginFailuresPerAddress,
      anonymous: DEFAULT_LIMITS.maxAnonymousPerAddress,
      anonymousInTotal: DEFAULT_LIMITS.maxAnonymous,
    },
    {
      registrations: 400,
      connections: 128,
      newConnections: 120,
      loginFailures: 175,
      anonymous: 80,
      anonymousInTotal: 500,
    },
  );
});

Deno.test("parseConfig() takes flags over environment over defaults", () => {
  const env = { CLASSCORD_PORT: "4000", CLASSCORD_HOST: "127.0.0.1", CLASSCORD_DB: ":memory:" };
  // Everything else keeps the default the test above pins.
  assert.deepEqual(config(["--port", "5000", "--metrics-port=0"], env), {
    ...config([]),
    host: "127.0.0.1",
    port: 5000,
    metricsPort: 0,
    db: ":memory:",
  });
  assert.equal(config([], { CLASSCORD_METRICS_PORT: "9999" }).metricsPort, 9999);
});

Deno.test("parseConfig() refuses bad values and unknown flags with one clear line", () => {
  for (
    const [args, env, message] of [
      [["--port", "99999"], {}, /Invalid --port "99999"/],
      [["--port", "12a"], {}, /expected a port number/],
      [[], { CLASSCORD_PORT: "-1" }, /Invalid CLASSCORD_PORT "-1"/],
      [["--log-level", "loud"], {}, /Invalid --log-level "loud"/],
      [["--retention-days=-3"], {}, /Invalid --retention-days "-3"/],
      [["--log-format", "xml"], {}, /Invalid --log-format "xml"/],
      [["--rate-burst", "0"], {}, /Invalid --rate-burst "0"/],
      [["--guests", "maybe"], {}, /Invalid --guests "maybe"/],
      [["--tls-cert", "c.pem"], {}, /go together/],
      [["--lang", "de"], {}, /Invalid --lang "de": expected one of en, fr/],
      [
        ["--trusted-addresses", "10.0.0.0/8,lan"],
        {},
        /Invalid --trusted-addresses: "lan" is neither an IP address nor a CIDR range/,
      ],
      [[], { CLASSCORD_TRUSTED_ADDRESSES: "300.1.1.1" }, /CLASSCORD_TRUSTED_ADDRESSES/],
      [["--nope"], {}, /nope/],
      [["extra"], {}, /extra/],
    ] as const
  ) {
    assert.throws(() => parseConfig([...args], env), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, message);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("helpText() documents every option of serve and its environment variable", () => {
  const help = helpText();
  const flags = [
    "--host",
    "--port",
    "--metrics-port",
    "--db",
    "--log-level",
    "--log-format",
    "--log-file",
    "--retention-days",
  ];
  for (const flag of flags) assert.ok(help.includes(flag), flag);
  for (const name of ENV_VARS) assert.ok(help.includes(name), name);
  // Every default is shown, an empty one as "none", and the columns are aligned.
  assert.match(help, /--metrics-host <value> +address of the HTTP endpoint/);
  assert.match(help, /env CLASSCORD_METRICS_HOST, default 127\.0\.0\.1/);
  assert.match(help, /env CLASSCORD_LOG_FILE, default none/);
  const starts = help.split("\n").filter((l) => l.startsWith("  --"))
    .map((l) => l.length - l.replace(/^ {2}--\S+ <value> +/, "").length);
  assert.equal(new Set(starts).size, 1, `help columns start at ${[...new Set(starts)]}`);
});

Deno.test("parseConfig() reads limits from flags and environment, seconds as milliseconds", () => {
  const config = parseConfig(["--identify-timeout", "5", "--rate-burst=50"], {
    CLASSCORD_MAX_CONNECTIONS: "10",
  });
  assert.equal(config.limits.identifyTimeoutMs, 5000);
  assert.equal(config.limits.rateBurst, 50);
  assert.equal(config.limits.maxConnections, 10);
});

Deno.test("parseConfig() reads --trusted-addresses and --lang, none trusting nothing", () => {
  const school = config(["--trusted-addresses", "10.0.0.0/8,192.168.1.0/24", "--lang", "fr"]);
  assert.equal(school.lang, "fr");
  assert.ok(school.trustedAddresses.has("10.12.0.7"));
  assert.ok(school.trustedAddresses.has("192.168.1.200"));
  assert.ok(!school.trustedAddresses.has("127.0.0.1"), "the list replaces the default");
  assert.ok(config([]).trustedAddresses.has("127.0.0.1"));
  assert.ok(config([]).trustedAddresses.has("::1"));
  assert.ok(!config([], { CLASSCORD_TRUSTED_ADDRESSES: "none" }).trustedAddresses.has("127.0.0.1"));
  assert.equal(config([], { CLASSCORD_LANG: "fr" }).lang, "fr");
});

Deno.test("parseConfig() cluster flags: NATS URLs, the node's name, PROXY senders", () => {
  const c = config(["--nats", "nats://127.0.0.1:4222, 10.0.0.6:4222", "--node-name", "n1"]);
  assert.deepEqual(c.nats, ["nats://127.0.0.1:4222", "nats://10.0.0.6:4222"]);
  assert.equal(c.nodeName, "n1");
  // The host's name stands in for --node-name in a container.
  assert.equal(config(["--nats", "nats://a:4222"], { HOSTNAME: "web.1" }).nodeName, "web-1");
  assert.throws(() => config(["--nats", "nats://a:4222"]), /--nats needs --node-name/);
  assert.throws(() => config(["--nats", "http://a"]), /not a NATS URL/);
  assert.throws(() => config(["--node-name", "a b"]), /letters, digits/);
  const proxies = config(["--proxy-from", "10.0.0.2"]).proxyFrom;
  assert.ok(proxies.has("10.0.0.2") && !proxies.has("10.0.0.3"));
  assert.ok(!config([]).proxyFrom.has("127.0.0.1"), "no PROXY header is read by default");
});
