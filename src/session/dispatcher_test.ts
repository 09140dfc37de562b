import assert from "node:assert/strict";
import type { PasswordHasher } from "../auth/password.ts";
import { DEFAULT_LIMITS } from "../config.ts";
import { NO_EVENTS } from "../events.ts";
import { localBackend } from "../backend.ts";
import { KvStore } from "../store/kv_store.ts";
import type { SessionOutput } from "./session.ts";
import { Dispatcher } from "./dispatcher.ts";
import { sessionDeps } from "./wiring.ts";

/** A hasher test double: "hash" is a tagged copy; `gate` holds verifications back on demand. */
class FakeHasher implements PasswordHasher {
  gate: Promise<void> | undefined;
  hash(password: string): Promise<string> {
    return Promise.resolve(`fake:${password}`);
  }
  async verify(hash: string, password: string): Promise<boolean> {
    await this.gate;
    return hash === `fake:${password}`;
  }
  close(): void {}
}

/** Records what a session sends, as parsed objects, with when each was sent. */
class Recorder implements SessionOutput {
  lines: Record<string, unknown>[] = [];
  /** performance.now() of each line of {@link lines}. */
  times: number[] = [];
  #held: Uint8Array[] | undefined;
  #arrived: (() => void) | undefined;
  send(line: Uint8Array): void {
    if (this.#held) this.#held.push(line);
    else this.pass(line);
  }
  pass(line: Uint8Array): void {
    this.lines.push(JSON.parse(new TextDecoder().decode(line)));
    this.times.push(performance.now());
    this.#arrived?.();
  }
  /** Resolves once `count` lines are recorded (the session's timers send them); 5 s at most. */
  async until(count: number): Promise<void> {
    const deadline = performance.now() + 5000;
    while (this.lines.length < count) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`Expected ${count} lines, got ${this.lines.length}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#arrived = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
  hold(): void {
    this.#held ??= [];
  }
  release(...first: Uint8Array[]): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const line of [...first, ...held]) this.send(line);
  }
  take(): Record<string, unknown>[] {
    this.times.splice(0);
    return this.lines.splice(0);
  }
}

async function world(wrap: (store: KvStore) => KvStore = (s) => s) {
  const kv = wrap(await KvStore.open(":memory:"));
  const hasher = new FakeHasher();
  const clock = { t: Date.UTC(2026, 2, 2, 14, 5, 9, 123), now: () => clock.t };
  const log = await localBackend(kv, NO_EVENTS);
  const deps = sessionDeps({
    store: kv,
    bus: log.bus,
    flushed: () => log.flushed(),
    guestNames: log.guestNames,
    hasher,
    clock,
    events: NO_EVENTS,
    limits: DEFAULT_LIMITS,
    info: { version: "test", features: [], limits: {} },
    lang: "en",
    guests: true,
  });
  const open = () => {
    const out = new Recorder();
    return {
      out,
      session: new Dispatcher(deps, out, {
        address: "127.0.0.1",
        trusted: false,
        transport: "tcp",
      }),
    };
  };
  return { kv, hasher, log, clock, open, [Symbol.dispose]: () => kv.close() };
}

const send = (s: Dispatcher, value: unknown) => s.handleLine(JSON.stringify(value));

async function user(w: Awaited<ReturnType<typeof world>>, name: string) {
  const c = w.open();
  await send(c.session, { type: "register", username: name, password: "pw" });
  await send(c.session, { type: "login", username: name, password: "pw" });
  c.out.take();
  return c;
}

Deno.test("login reply comes before lines broadcast while the password is checked", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const bob = await user(w, "bob");
  const { promise: gate, resolve: openGate } = Promise.withResolvers<void>();
  w.hasher.gate = gate;
  // bob logs in again (same account) while alice talks.
  const login = send(bob.session, { type: "login", username: "bob", password: "pw", id: 1 });
  await send(alice.session, { type: "message", content: "during" });
  openGate();
  await login;
  const lines = bob.out.take();
  assert.equal(lines[0].type, "login");
  assert.equal(lines[0].id, 1);
  assert.equal(lines[1].content, "during");
});

Deno.test("an anonymous session receives no broadcast", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const anon = w.open();
  await send(alice.session, { type: "message", content: "hello" });
  await send(alice.session, { type: "status", state: "away" });
  assert.deepEqual(anon.out.lines, []);
});

Deno.test("a guest is named by its first message's from, then keeps that name", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const guest = w.open();
  await send(guest.session, { type: "message", content: "hi", from: "Zoé" });
  await send(guest.session, { type: "message", content: "again", from: "alice" });
  assert.equal(guest.session.state, "guest");
  assert.deepEqual(alice.out.take().map((l) => [l.type, l.user ?? l.from]), [
    ["status", "Zoé"],
    ["message", "Zoé"],
    ["message", "Zoé"],
  ]);
});

Deno.test("guests without from are invité, then invité2", async () => {
  using w = await world();
  const a = w.open();
  const b = w.open();
  await send(a.session, { type: "message", content: "x" });
  await send(b.session, { type: "message", content: "y" });
  assert.deepEqual([a.session.name, b.session.name], ["invité", "invité2"]);
});

Deno.test("a guest whose name is registered or online gets the next free suffix", async () => {
  using w = await world();
  await user(w, "alice");
  const reg = w.open();
  await send(reg.session, { type: "register", username: "carol", password: "pw" });
  reg.out.take();
  const names = [];
  for (const from of ["ALICE", "carol", "carol", "x".repeat(64)]) {
    const g = w.open();
    await send(g.session, { type: "message", content: "x", from });
    assert.deepEqual(g.out.take(), [], "no error: the message went out");
    assert.equal(g.session.state, "guest");
    names.push(g.session.name);
  }
  assert.deepEqual(names, ["ALICE2", "carol2", "carol3", "x".repeat(64)]);
  const long = w.open();
  await send(long.session, { type: "message", content: "x", from: "x".repeat(64) });
  assert.equal(long.session.name, "x".repeat(63) + "2", "shortened to fit 64 characters");
});

Deno.test("a guest who logs in goes offline as guest and online as user", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const reg = w.open();
  await send(reg.session, { type: "register", username: "bob", password: "pw" });
  const g = w.open();
  await send(g.session, { type: "message", content: "x", from: "visitor" });
  alice.out.take();
  await send(g.session, { type: "login", username: "bob", password: "pw" });
  assert.equal(g.session.state, "user");
  assert.deepEqual(alice.out.take(), [
    { type: "status", user: "visitor", state: "offline" },
    { type: "status", user: "bob", state: "online" },
  ]);
});

Deno.test("a logged-in name is fixed: status and messages carry the session's name", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const bob = await user(w, "bob");
  alice.out.take();
  await send(bob.session, { type: "status", state: "away", user: "alice" });
  await send(bob.session, { type: "message", content: "x", from: "alice" });
  const [status, msg] = alice.out.take();
  assert.equal(status.user, "bob");
  assert.equal(msg.from, "bob");
});

Deno.test("status before identifying is refused with not_logged_in", async () => {
  using w = await world();
  const anon = w.open();
  await send(anon.session, { type: "status", state: "away", id: "s" });
  const [reply] = anon.out.take();
  assert.equal(reply.code, "not_logged_in");
  assert.equal(reply.id, "s");
});

Deno.test("several sessions of one user: online once, offline with the last, listed once", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const bob1 = await user(w, "bob");
  const bob2 = w.open();
  await send(bob2.session, { type: "login", username: "Bob", password: "pw" });
  assert.deepEqual(alice.out.take(), [{ type: "status", user: "bob", state: "online" }]);
  assert.deepEqual(bob2.out.take(), [{ type: "login", status: "ok", username: "bob" }]);
  await send(alice.session, { type: "users" });
  assert.deepEqual(alice.out.take(), [{ type: "users", users: ["alice", "bob"] }]);
  await send(alice.session, { type: "message", subtype: "private", to: "BOB", content: "x" });
  assert.equal(bob1.out.take()[0].content, "x");
  assert.equal(bob2.out.take()[0].content, "x");
  bob1.session.close();
  assert.deepEqual(alice.out.take(), []);
  bob2.session.close();
  assert.deepEqual(alice.out.take(), [{ type: "status", user: "bob", state: "offline" }]);
});

/** A store whose `method` always fails, as a full disk makes it; the rest works. */
function failing(method: string): (store: KvStore) => KvStore {
  return (store) =>
    new Proxy(store, {
      get(target, prop) {
        if (prop === method) return () => Promise.reject(new Error("disk full"));
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
}

Deno.test("a store failure is answered with server_busy and the session goes on", async () => {
  using w = await world(failing("createUser"));
  const c = w.open();
  await send(c.session, { type: "register", username: "alice", password: "pw", id: 9 });
  await send(c.session, { type: "users" });
  assert.deepEqual(c.out.take().map((l) => [l.type, l.code, l.id]), [
    ["error", "server_busy", 9],
    ["users", undefined, undefined],
  ]);
});

Deno.test("a message that cannot be stored is answered server_busy, and never acknowledged", async () => {
  using w = await world(failing("append"));
  const alice = await user(w, "alice");
  await send(alice.session, { type: "message", content: "x", id: 5 });
  await alice.out.until(1);
  assert.deepEqual(alice.out.take().map((l) => [l.type, l.code, l.id]), [
    ["error", "server_busy", 5],
  ]);
});

Deno.test("the server timestamp is local ISO time with T and milliseconds", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const bob = await user(w, "bob");
  await send(alice.session, { type: "message", content: "x" });
  const msg = bob.out.take().at(-1)!;
  const expected = new Date(Date.UTC(2026, 2, 2, 14, 5, 9, 123));
  const local = new Date(
    expected.getTime() - expected.getTimezoneOffset() * 60_000,
  ).toISOString().slice(0, 23);
  assert.equal(msg.timestamp, local);
});

Deno.test("an invalid first message does not make a guest", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const anon = w.open();
  await send(anon.session, { type: "message", subtype: "private", content: "x", from: "zed" });
  assert.equal(anon.out.take()[0].code, "bad_request");
  assert.equal(anon.session.state, "anonymous");
  assert.deepEqual(alice.out.take(), []);
});

Deno.test("a first private message to nobody, with an id, does not make a guest", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const anon = w.open();
  await send(anon.session, {
    type: "message",
    subtype: "private",
    to: "ghost",
    content: "x",
    id: 1,
  });
  assert.equal(anon.out.take()[0].code, "unknown_user");
  assert.equal(anon.session.state, "anonymous");
  assert.deepEqual(alice.out.take(), []);
});

Deno.test("private history belongs to accounts: not to guests, not to a name registered again", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  const bob = await user(w, "bob");
  await send(alice.session, { type: "message", subtype: "private", to: "bob", content: "old" });
  await w.log.flushed();
  const guest = w.open();
  await send(guest.session, { type: "message", content: "hi", from: "visitor" });
  await send(guest.session, { type: "history", with: "alice", id: 1 });
  assert.equal(guest.out.take().at(-1)!.code, "forbidden");
  bob.session.close();
  await w.kv.deleteUser("bob");
  w.clock.t += 60_000;
  const newBob = await user(w, "bob");
  await send(newBob.session, { type: "history", with: "alice" });
  assert.deepEqual(newBob.out.take().at(-1)!.messages, [], "the old bob's conversation stays his");
  await send(alice.session, { type: "history", with: "bob" });
  const mine = alice.out.take().at(-1)!.messages as { content: string }[];
  assert.deepEqual(mine.map((m) => m.content), ["old"], "alice still has her side");
});

/** bob is registered and offline; alice sends him `contents` privately, stored once acked. */
async function waitingForBob(w: Awaited<ReturnType<typeof world>>, ...contents: string[]) {
  const alice = await user(w, "alice");
  const reg = w.open();
  await send(reg.session, { type: "register", username: "bob", password: "pw" });
  for (const content of contents) {
    await send(alice.session, { type: "message", subtype: "private", to: "bob", content });
  }
  await w.log.flushed();
  return alice;
}

Deno.test("offline messages go to a legacy session one at a time, 250 ms from any other line", async () => {
  using w = await world();
  await waitingForBob(w, "one", "two");
  const bob = w.open();
  await send(bob.session, { type: "login", username: "bob", password: "pw" });
  await send(bob.session, { type: "users", id: 7 });
  await bob.out.until(4);
  const { lines, times } = bob.out;
  assert.deepEqual(lines.map((l) => l.id ?? l.content ?? l.type), ["login", 7, "one", "two"]);
  for (let i = 2; i < 4; i++) {
    assert.ok(times[i] - times[i - 1] >= 249, `line ${i} came ${times[i] - times[i - 1]} ms after`);
  }
  bob.out.take();
  bob.session.close();
  const again = w.open();
  await send(again.session, { type: "login", username: "bob", password: "pw" });
  await send(again.session, { type: "users" });
  assert.deepEqual(again.out.take().map((l) => l.type), ["login", "users"], "delivered once");
});

Deno.test("offline messages keep live lines behind them, and a hello'd session gets them at once", async () => {
  using w = await world();
  const alice = await waitingForBob(w, "old");
  const legacy = w.open();
  await send(legacy.session, { type: "login", username: "bob", password: "pw" });
  await send(alice.session, { type: "message", subtype: "private", to: "bob", content: "live" });
  await send(legacy.session, { type: "ping" });
  await legacy.out.until(4);
  assert.deepEqual(legacy.out.lines.map((l) => l.content ?? l.type), [
    "login",
    "pong",
    "old",
    "live",
  ]);
  const { times } = legacy.out;
  assert.ok(times[3] - times[2] >= 249, "the last offline message is alone for 250 ms");
  legacy.session.close();
  await send(alice.session, { type: "message", subtype: "private", to: "bob", content: "new" });
  await w.log.flushed();
  const modern = w.open();
  await send(modern.session, { type: "hello", version: 2 });
  await send(modern.session, { type: "login", username: "bob", password: "pw" });
  assert.deepEqual(modern.out.take().map((l) => l.content ?? l.type), ["hello", "login", "new"]);
  modern.session.close();
});

Deno.test("offline messages of a session closed before they went out wait for the next login", async () => {
  using w = await world();
  await waitingForBob(w, "kept");
  const first = w.open();
  await send(first.session, { type: "login", username: "bob", password: "pw" });
  first.session.close();
  const second = w.open();
  await send(second.session, { type: "login", username: "bob", password: "pw" });
  await send(second.session, { type: "users" });
  await second.out.until(3);
  assert.deepEqual(second.out.take().map((l) => l.content ?? l.type), ["login", "users", "kept"]);
  second.session.close();
});

Deno.test("a session's rate limit, made at its first counted request, holds from there", async () => {
  using w = await world();
  const alice = await user(w, "alice");
  // An hour idle after login, then a burst: the burst passes, the next one waits for a token.
  w.clock.t += 3_600_000;
  for (let i = 0; i < DEFAULT_LIMITS.rateBurst; i++) {
    await send(alice.session, { type: "status", state: `s${i}` });
  }
  assert.deepEqual(alice.out.take().filter((l) => l.type === "error"), []);
  await send(alice.session, { type: "status", state: "over", id: 1 });
  const [refused] = alice.out.take();
  assert.equal(refused.code, "rate_limited");
  assert.equal(refused.retry_after_ms, 1000 / DEFAULT_LIMITS.ratePerSecond);
  w.clock.t += 1000 / DEFAULT_LIMITS.ratePerSecond;
  await send(alice.session, { type: "status", state: "again", id: 2 });
  assert.deepEqual(alice.out.take().filter((l) => l.type === "error"), []);
});
