import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import { DEFAULT_LIMITS, ENV_VARS, helpText, parseConfig } from "./config.ts";

function config(args: string[], env: Record<string, string> = {}) {
  const parsed = parseConfig(args, env);
  assert.equal(parsed.help, false);
  return parsed.help ? undefined! : parsed.config;
}

Deno.test("parseConfig() defaults match the documented ones", () => {
  assert.deepEqual(config([]), {
    host: "0.0.0.0",
    port: 12345,
    metricsPort: 9091,
    metricsHost: "",
    db: "./data/classcord.kv",
    logLevel: "info",
    logFormat: "text",
    retentionDays: 365,
    guests: true,
    tlsPort: 12346,
    tlsCert: "",
    tlsKey: "",
    limits: DEFAULT_LIMITS,
  });
  assert.equal(DEFAULT_LIMITS.maxLineBytes, 65536);
  assert.equal(DEFAULT_LIMITS.identifyTimeoutMs, 30_000);
  assert.equal(DEFAULT_LIMITS.maxConnectionsPerAddress, 64);
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

Deno.test("helpText() documents every flag and environment variable", () => {
  const help = helpText();
  const flags = [
    "--host",
    "--port",
    "--metrics-port",
    "--db",
    "--log-level",
    "--log-format",
    "--retention-days",
    "--healthcheck",
  ];
  for (const flag of [...flags, "--help"]) {
    assert.ok(help.includes(flag), flag);
  }
  for (const name of ENV_VARS) assert.ok(help.includes(name), name);
  assert.equal(parseConfig(["--help"]).help, true);
});

Deno.test("parseConfig() reads limits from flags and environment, seconds as milliseconds", () => {
  const config = parseConfig(["--identify-timeout", "5", "--rate-burst=50"], {
    CLASSCORD_MAX_CONNECTIONS: "10",
  });
  assert.equal(config.help, false);
  if (config.help) return;
  assert.equal(config.config.limits.identifyTimeoutMs, 5000);
  assert.equal(config.config.limits.rateBurst, 50);
  assert.equal(config.config.limits.maxConnections, 10);
});
