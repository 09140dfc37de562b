// Export tickets: what an administrator's page gets to download an export from the web listener
// (`export_ticket`, then GET /export?ticket=…): random, valid once, for a minute.
import type { Clock } from "../clock.ts";
import type { Format } from "../store/export.ts";

/** What a ticket downloads. */
export interface ExportSpec {
  format: Format;
  /** Canonical name of one channel, or every channel. */
  channel?: string;
  /** CSV: a UTF-8 byte order mark first (Excel). */
  bom: boolean;
}

// Time to follow the link the page was given: a browser does it at once.
const TICKET_TTL_MS = 60_000;

/** The tickets given and not used yet. */
export class ExportTickets {
  readonly #clock: Clock;
  readonly #tickets = new Map<string, { spec: ExportSpec; expires: number }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A new ticket (128 random bits, hex) for `spec`. */
  issue(spec: ExportSpec): string {
    const now = this.#clock.now();
    // Used or not, a ticket is forgotten once over: the map holds a minute's worth at most.
    for (const [t, { expires }] of this.#tickets) if (expires <= now) this.#tickets.delete(t);
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const ticket = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    this.#tickets.set(ticket, { spec, expires: now + TICKET_TTL_MS });
    return ticket;
  }

  /** The spec of a ticket, which is then used up; undefined when unknown, used or expired. */
  take(ticket: string): ExportSpec | undefined {
    const entry = this.#tickets.get(ticket);
    this.#tickets.delete(ticket);
    return entry && entry.expires > this.#clock.now() ? entry.spec : undefined;
  }
}
