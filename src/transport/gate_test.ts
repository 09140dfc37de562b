import assert from "node:assert/strict";
import { AddressSet } from "../address_set.ts";
import { FakeClock } from "../../tests/helpers/fake_clock.ts";
import { type Activity, type Anonymous, ConnectionGate, type GateLimits } from "./gate.ts";

/** An anonymous connection as the gate sees it; `evicted` says whether it was closed. */
class Conn implements Anonymous {
  identified = false;
  busy = false;
  activity: Activity = 0;
  evicted = false;
  cap: string | undefined;
  constructor(readonly address: string) {}
  evict(cap: string): void {
    this.evicted = true;
    this.cap = cap;
  }
}

const LIMITS: GateLimits = {
  maxConnections: 100,
  maxConnectionsPerAddress: 100,
  newConnectionsPerAddress: 100,
  maxAnonymous: 100,
  maxAnonymousPerAddress: 3,
};

function gate(limits: Partial<GateLimits> = {}, trusted = "none") {
  const mono = new FakeClock(0);
  const g = new ConnectionGate(new FakeClock(), { ...LIMITS, ...limits }, {
    trusted: AddressSet.parse(trusted),
    now: () => mono.now(),
  });
  /** Admits and tracks a connection from `address`; undefined when refused. */
  const connect = (address = "10.0.0.1") => {
    if (g.admit(address) !== "ok") return undefined;
    const c = new Conn(address);
    g.waiting(c);
    return c;
  };
  return { g, mono, connect };
}

Deno.test("ConnectionGate closes the oldest idle anonymous connection of an address at its cap", () => {
  const { g, mono, connect } = gate();
  const [a, b, c] = [connect()!, connect()!, connect()!];
  mono.advance(6000);
  const d = connect();
  assert.ok(d, "admitted");
  assert.deepEqual([a.evicted, b.evicted, c.evicted], [true, false, false]);
  b.busy = true; // a login being checked is never closed to make room
  assert.ok(connect());
  assert.deepEqual([b.evicted, c.evicted], [false, true]);
  assert.equal(connect("10.0.0.2") !== undefined, true, "other addresses have their own cap");
  assert.equal(g.admit("10.0.0.1"), "anonymous", "b is busy, d and the last are too new");
});

Deno.test("ConnectionGate closes a connection that sent nothing before one that spoke, oldest first", () => {
  const { mono, connect } = gate({ maxAnonymousPerAddress: 4 });
  const [valid, bytes, silent1, silent2] = [connect()!, connect()!, connect()!, connect()!];
  valid.activity = 2; // a login window that registered
  bytes.activity = 1; // sent a line that was not a request
  mono.advance(6000);
  const later = [connect()!];
  assert.deepEqual([valid, bytes, silent1, silent2].map((c) => c.evicted), [
    false,
    false,
    true,
    false,
  ]);
  assert.equal(silent1.cap, "address");
  later[0].activity = 2;
  mono.advance(6000);
  later.push(connect()!);
  assert.ok(silent2.evicted, "the other silent one, though younger than the two that spoke");
  later[1].activity = 2;
  mono.advance(6000);
  assert.ok(connect());
  assert.ok(bytes.evicted, "bytes before a valid request");
  assert.ok([valid, ...later].every((c) => !c.evicted));
});

Deno.test("ConnectionGate refuses rather than close a connection that has just come", () => {
  const { g, connect } = gate();
  const first = [connect()!, connect()!, connect()!];
  assert.equal(g.admit("10.0.0.1"), "anonymous");
  assert.ok(first.every((c) => !c.evicted));
});

Deno.test("ConnectionGate forgets identified connections and restarts the time of a registered one", () => {
  const { g, mono, connect } = gate();
  const [a, b, c] = [connect()!, connect()!, connect()!];
  a.identified = true;
  const d = connect()!;
  assert.ok(d, "a logged in: room for one more, nobody closed");
  assert.ok(!b.evicted && !c.evicted);
  mono.advance(6000);
  g.waiting(b); // b registered: its time starts again, and it is the youngest now
  mono.advance(6000);
  assert.ok(connect());
  assert.deepEqual([b.evicted, c.evicted, d.evicted], [false, true, false]);
  assert.deepEqual([...g.expired(11_000)], [d], "d waited 12 s; b only 6 s since its register");
});

Deno.test("ConnectionGate: trusted addresses have no per-address caps, the totals hold for all", () => {
  const { g, mono, connect } = gate(
    { maxAnonymous: 5, maxConnectionsPerAddress: 2 },
    "127.0.0.0/8",
  );
  const local = Array.from({ length: 5 }, () => connect("127.0.0.1"));
  assert.ok(local.every((c) => c !== undefined), "no per-address caps from loopback");
  assert.equal(g.admit("127.0.0.1"), "anonymous", "the total anonymous cap");
  mono.advance(6000);
  assert.ok(connect("10.0.0.9"));
  assert.equal(local[0]!.evicted, true, "the oldest of all makes room");
  assert.ok(connect("10.0.0.9"));
  assert.equal(g.admit("10.0.0.9"), "address", "untrusted: 2 connections per address");
});

Deno.test("ConnectionGate counts new connections per address, except trusted ones", () => {
  const { g } = gate({ newConnectionsPerAddress: 2, maxAnonymousPerAddress: 100 }, "::1");
  for (let i = 0; i < 2; i++) assert.equal(g.admit("10.0.0.1"), "ok");
  assert.equal(g.admit("10.0.0.1"), "rate");
  for (let i = 0; i < 5; i++) assert.equal(g.admit("::1"), "ok");
});
