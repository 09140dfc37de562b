// The teacher console's requests, for administrators only: who is connected, the server's live
// figures, and tickets to download an export (section 11 of docs/protocol.md).
import type { Bus } from "../hub/bus.ts";
import { parseChannel } from "../protocol/channel.ts";
import { formatTimestamp } from "../protocol/replies.ts";
import type { Request } from "../protocol/schema.ts";
import type { Session } from "./session.ts";
import type { ExportTickets } from "./export_tickets.ts";
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
  /** The server's own counters (its metrics). */
  stats(): Promise<Stats>;
}

/** `sessions`, `stats` and `export_ticket`. */
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
