// Free loopback ports for the programs the tests and the benchmarks start that cannot be given
// port 0 (nats-server, a metrics or web listener whose port is read before it listens).

/**
 * A TCP port nothing listens on right now on 127.0.0.1. Another process can take it before the
 * caller binds it: callers that start a program on it retry on another port when it exits.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
