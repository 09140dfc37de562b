// The teacher console's requests, for administrators only: who is connected, the server's live
// figures, and tickets to download an export (section 11 of docs/protocol.md); and the inspector,
// for every logged-in web session (§11.8).
import { ProtocolError } from "../errors.ts";
import type { Bus } from "../hub/bus.ts";
import { parseChannel } from "../protocol/channel.ts";
import { formatTimestamp } from "../protocol/replies.ts";
import type { Request } from "../protocol/schema.ts";
import { T } from "../protocol/texts.ts";
import type { Session } from "./session.ts";
import type { ExportTickets } from "./export_tickets.ts";
import { connInfo, type Inspection } from "./inspection.ts";
import type { Moderation } from "./moderation.ts";

type Of<T extends Request["type"]> = Request & { type: T };

/** The server's counters since it started, as `stats` reports them. */
export interface Stats {
  connections: Record<string, number>;
  sessions: Record<string, number>;
  messages: number;
  deliveries: number;
  limit_hits: Record<string, number>;
  /** Ms since the epoch when the server started. */
  startedAt: number;
}

/** What the console needs from the server. */
export interface ConsoleDeps {
  bus: Bus;
  moderation: Moderation;
  tickets: ExportTickets;
  /** This server's connections, and who inspects which. */
  inspection: Inspection;
  /** The server's own counters (its metrics). */
  stats(): Promise<Stats>;
}

/** `sessions`, `stats`, `export_ticket` and `connections`; `inspect` and `uninspect`. */
export class Console {
  readonly #deps: ConsoleDeps;

  constructor(deps: ConsoleDeps) {
    this.#deps = deps;
  }

  /** Every identified session with its transport, address and the time it came online. */
  sessions(admin: Session, req: Of<"sessions">): void {
    this.#deps.moderation.requireAdmin(admin.account, "console");
    const sessions = this.#deps.bus.sessions().map((s) => ({
      ...s,
      since: formatTimestamp(s.since),
    }));
    admin.reply(withId({ type: "sessions", sessions }, req.id));
  }

  /** The server's counters since it started. */
  async stats(admin: Session, req: Of<"stats">): Promise<void> {
    this.#deps.moderation.requireAdmin(admin.account, "console");
    const { startedAt, ...figures } = await this.#deps.stats();
    admin.reply(
      withId({ type: "stats", ...figures, started_at: formatTimestamp(startedAt) }, req.id),
    );
  }

  /** Every connection of this server, identified or not, with its protocol health. */
  connections(admin: Session, req: Of<"connections">): void {
    this.#deps.moderation.requireAdmin(admin.account, "console");
    const connections = this.#deps.inspection.connections().map(connInfo);
    admin.reply(withId({ type: "connections", connections }, req.id));
  }

  /**
   * `inspect`: from now on, the lines of the user's own other connections (each as it logs in,
   * with the lines it sent before), or of connection `conn`: one of the user's own, or any for an
   * administrator. The reply comes first, then an `inspect_conn` event per connection watched.
   */
  inspect(session: Session, req: Of<"inspect">): void {
    const { inspection, moderation } = this.#deps;
    if (!session.helloed || session.transport !== "ws") {
      throw new ProtocolError("forbidden", T.inspectWebOnly());
    }
    if (session.state !== "user") throw new ProtocolError("forbidden", T.inspectNeedsAccount());
    if (req.conn === undefined) {
      session.reply(withId({ type: "inspect" }, req.id));
      inspection.watchAccount(session);
      return;
    }
    const target = inspection.get(req.conn);
    if (!target || target === session) {
      throw new ProtocolError("bad_request", T.unknownConnection(req.conn));
    }
    const mine = target.state === "user" && target.key === session.key;
    if (!mine) moderation.requireAdmin(session.account, "inspect");
    session.reply(withId({ type: "inspect", conn: req.conn }, req.id));
    inspection.watchConn(session, target);
  }

  /** `uninspect`: stops watching connection `conn`, or everything. */
  uninspect(session: Session, req: Of<"uninspect">): void {
    this.#deps.inspection.unwatch(session, req.conn);
    session.reply(
      withId({ type: "uninspect", ...req.conn !== undefined && { conn: req.conn } }, req.id),
    );
  }

  /** A ticket for one download of an export, from the web listener's /export. */
  exportTicket(admin: Session, req: Of<"export_ticket">): void {
    this.#deps.moderation.requireAdmin(admin.account, "console");
    const channel = req.channel === undefined ? undefined : parseChannel(req.channel).name;
    const ticket = this.#deps.tickets.issue({ format: req.format, channel, bom: req.bom });
    admin.reply(withId({ type: "export_ticket", url: `/export?ticket=${ticket}` }, req.id));
  }
}

function withId(reply: Record<string, unknown>, id: unknown): Record<string, unknown> {
  if (id !== undefined) reply.id = id;
  return reply;
}
