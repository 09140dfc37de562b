// Test doubles for core/: a fake socket, fake timers, a token store in memory, and a small fake
// server that answers the requests the page sends (docs/protocol.md §3, §4, §11).
import type { SavedToken, SocketLike, Timers, TokenStore } from "../src/core/server_link.ts";

/** Timers that only move when told to. */
export class FakeTimers implements Timers {
  #now = 1_000_000;
  #next = 1;
  readonly #due = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const handle = this.#next++;
    this.#due.set(handle, { at: this.#now + Math.max(0, ms), fn });
    return handle;
  }

  clearTimeout(handle: number): void {
    this.#due.delete(handle);
  }

  /** Timers still waiting. */
  get pending(): number {
    return this.#due.size;
  }

  /** When the next timer fires, or undefined. */
  get nextAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.#due.values()) if (at === undefined || t.at < at) at = t.at;
    return at;
  }

  /** Moves the clock, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#due) {
        if (entry[1].at <= end && (!first || entry[1].at < first[1].at)) first = entry;
      }
      if (!first) break;
      this.#due.delete(first[0]);
      this.#now = Math.max(this.#now, first[1].at);
      first[1].fn();
      await flush();
    }
    this.#now = end;
    await flush();
  }
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** A socket the test drives: `open()`, `receive()`, `serverClose()`; `sent` holds requests. */
export class FakeSocket implements SocketLike {
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  readonly sent: Record<string, unknown>[] = [];
  closed = false;
  /** Called with each request (the fake server). */
  handler: ((req: Record<string, unknown>, socket: FakeSocket) => void) | undefined;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.closed) throw new Error("Socket is closed");
    const req = JSON.parse(data) as Record<string, unknown>;
    this.sent.push(req);
    this.handler?.(req, this);
  }

  close(): void {
    this.closed = true;
  }

  open(): void {
    this.onopen?.(new Event("open"));
  }

  receive(line: Record<string, unknown>): void {
    if (!this.closed) this.onmessage?.({ data: JSON.stringify(line) } as MessageEvent);
  }

  serverClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.({} as CloseEvent);
  }

  /** Requests sent of one type. */
  ofType(type: string): Record<string, unknown>[] {
    return this.sent.filter((r) => r.type === type);
  }
}

/** A token store in memory. */
export class MemoryTokens implements TokenStore {
  saved: SavedToken | undefined;
  load(): SavedToken | undefined {
    return this.saved;
  }
  save(token: SavedToken): void {
    this.saved = token;
  }
  clear(): void {
    this.saved = undefined;
  }
}

/** A random source giving the same value each time (0.5 by default). */
export function fixedRandom(value = 0.5): () => number {
  return () => value;
}

/** A stored message of the fake server. */
export interface FakeMessage {
  seq: number;
  from: string;
  content: string;
  timestamp: string;
  channel?: string;
  subtype?: string;
  to?: string;
}

/** A server that answers like the real one, for what the page asks. */
export class FakeServer {
  readonly messages: FakeMessage[] = [];
  readonly sockets: FakeSocket[] = [];
  users: string[] = ["alice", "bob"];
  features = ["ack", "channels", "history", "offline", "details", "resume", "history_after"];
  admin = false;
  /** Messages handed out right after the next login reply. */
  offline: FakeMessage[] = [];
  #seq = 0;
  #tokens = 0;
  /** Whether sockets open at once (else the test calls open()). */
  autoOpen = true;
  /** Answers to override, by request type. */
  readonly overrides = new Map<string, (req: Record<string, unknown>, s: FakeSocket) => boolean>();

  /** The socket factory to give the connection. */
  readonly createSocket = (url: string): FakeSocket => {
    const socket = new FakeSocket(url);
    socket.handler = (req, s) => this.#answer(req, s);
    this.sockets.push(socket);
    if (this.autoOpen) queueMicrotask(() => socket.open());
    return socket;
  };

  /** The newest socket. */
  get socket(): FakeSocket {
    const s = this.sockets[this.sockets.length - 1];
    if (!s) throw new Error("No socket yet");
    return s;
  }

  /** Stores a message (timestamps grow with seq unless given). */
  add(m: Partial<FakeMessage> & { from: string; content: string }): FakeMessage {
    const seq = ++this.#seq;
    const msg: FakeMessage = {
      seq,
      timestamp: `2026-03-02T14:${String(Math.floor(seq / 60) % 60).padStart(2, "0")}:${
        String(seq % 60).padStart(2, "0")
      }.000`,
      ...m,
    };
    msg.seq = seq;
    this.messages.push(msg);
    return msg;
  }

  /** The line others receive for a stored message. */
  line(m: FakeMessage): Record<string, unknown> {
    const out: Record<string, unknown> = { type: "message" };
    if (m.subtype) out.subtype = m.subtype;
    if (m.to) out.to = m.to;
    if (m.channel !== undefined) out.channel = m.channel;
    return { ...out, content: m.content, from: m.from, timestamp: m.timestamp, seq: m.seq };
  }

  #channelKey(raw: unknown): string {
    if (raw === undefined || raw === null) return "#général";
    const bare = String(raw).replace(/^#/, "").toLowerCase();
    return ["", "general", "général", "global"].includes(bare) ? "#général" : `#${bare}`;
  }

  #sorted(): FakeMessage[] {
    return [...this.messages].sort((a, b) =>
      a.timestamp === b.timestamp ? a.seq - b.seq : a.timestamp < b.timestamp ? -1 : 1
    );
  }

  #answer(req: Record<string, unknown>, s: FakeSocket): void {
    const override = this.overrides.get(String(req.type));
    if (override && override(req, s)) return;
    const id = req.id;
    const reply = (line: Record<string, unknown>) =>
      queueMicrotask(() => s.receive(id === undefined ? line : { ...line, id }));
    switch (req.type) {
      case "hello":
        return reply({
          type: "hello",
          protocol: 2,
          features: this.features,
          limits: { idle_timeout_ms: 120000, history_max: 200 },
        });
      case "register":
        return reply({ type: "register", status: "ok" });
      case "login":
      case "resume": {
        const name = req.type === "login" ? String(req.username) : "alice";
        const ok: Record<string, unknown> = {
          type: "login",
          status: "ok",
          username: name,
          resume_token: `token-${++this.#tokens}`,
          resume_expires_ms: 900_000,
        };
        if (this.admin) ok.admin = true;
        reply(ok);
        const offline = this.offline.splice(0);
        for (const m of offline) queueMicrotask(() => s.receive(this.line(m)));
        return;
      }
      case "users":
        return reply({
          type: "users",
          users: this.users,
          details: this.users.map((u) => ({ user: u, state: "online", guest: false })),
        });
      case "channels":
        return reply({ type: "channels", channels: [{ name: "#général", members: 2 }] });
      case "join":
      case "leave":
        return reply({ type: String(req.type), status: "ok", channel: req.channel });
      case "status":
        return;
      case "ping":
        return reply({ type: "pong" });
      case "message": {
        const m = this.add({
          from: "alice",
          content: String(req.content),
          channel: req.channel as string | undefined,
          subtype: req.subtype as string | undefined,
          to: req.to as string | undefined,
        });
        return reply({ type: "ack", seq: m.seq, timestamp: m.timestamp });
      }
      case "history": {
        const limit = Number(req.limit ?? 50);
        const all = this.#sorted().filter((m) =>
          req.with !== undefined
            ? m.subtype === "private" &&
              [m.from.toLowerCase(), (m.to ?? "").toLowerCase()].includes(
                String(req.with).toLowerCase(),
              )
            : m.subtype !== "private" &&
              this.#channelKey(m.channel) === this.#channelKey(req.channel)
        );
        let messages: FakeMessage[];
        let more: boolean;
        if (req.after !== undefined) {
          const i = all.findIndex((m) => m.seq === req.after);
          const newer = all.slice(i + 1);
          messages = newer.slice(0, limit);
          more = newer.length > limit;
        } else {
          const end = req.before !== undefined
            ? all.findIndex((m) => m.seq === req.before)
            : all.length;
          const older = all.slice(0, Math.max(0, end));
          messages = older.slice(-limit);
          more = older.length > limit;
        }
        return reply({ type: "history", messages: messages.map((m) => this.line(m)), more });
      }
      default:
        return reply({ type: "error", code: "unknown_type", message: "Unknown type" });
    }
  }
}
