// What every session shares, put together from a backend's parts: moderation, accounts, chat and
// the console. The server builds it once; session tests build it over an in-memory store.
import type { PasswordHasher } from "../auth/password.ts";
import { ResumeTokens } from "../auth/resume.ts";
import type { Bus } from "../hub/bus.ts";
import type { Store } from "../store/store.ts";
import { Accounts, type LoginEvents } from "./account.ts";
import { Chat } from "./chat.ts";
import { Console, type Stats } from "./console.ts";
import type { DispatcherDeps } from "./dispatcher.ts";
import { ExportTickets } from "./export_tickets.ts";
import { Inspection } from "./inspection.ts";
import type { GuestNames } from "./guest_names.ts";
import { Moderation, type MuteTable } from "./moderation.ts";

/** What every session shares, put together: moderation, accounts, chat and the console. */
export function sessionDeps(
  parts:
    & Pick<DispatcherDeps, "clock" | "events" | "limits" | "info" | "lang">
    & {
      store: Store;
      bus: Bus;
      /** Resolves once every message posted before the call is stored. */
      flushed(): Promise<void>;
      /** Mutes shared with other nodes (a cluster), if any. */
      mutes?: MuteTable;
      /** Login outcomes shared with other nodes (a cluster), if any. */
      loginEvents?: LoginEvents;
      /** Guest names held, on this server or across the cluster. */
      guestNames: GuestNames;
      hasher: PasswordHasher;
      guests: boolean;
      /** The server's counters, for the teacher console (none: zeros). */
      stats?: () => Promise<Stats>;
    },
): DispatcherDeps & { tickets: ExportTickets } {
  const {
    store,
    hasher,
    clock,
    events,
    limits,
    guests,
    bus,
    flushed,
    mutes,
    loginEvents,
    guestNames,
  } = parts;
  const moderation = new Moderation({ bus, store, clock, mutes });
  const tokens = new ResumeTokens(() => store.secret("resume"));
  const accounts = new Accounts({
    store,
    hasher,
    bus,
    clock,
    limits,
    events,
    moderation,
    tokens,
    flushed,
    loginEvents,
    guestNames,
  });
  const chat = new Chat({
    bus,
    clock,
    store,
    events,
    accounts,
    moderation,
    guests,
    guestNames,
    flushed,
    lang: parts.lang,
  });
  const tickets = new ExportTickets(clock);
  const stats = parts.stats ?? noStats(clock.now());
  const inspection = new Inspection(() => clock.now());
  const console = new Console({ bus, moderation, tickets, inspection, stats });
  return { ...parts, bus, moderation, accounts, chat, console, tickets, inspection };
}

/** Counters that stay at zero: a session world without metrics (tests). */
function noStats(startedAt: number): () => Promise<Stats> {
  const zero = { connections: {}, sessions: {}, messages: 0, deliveries: 0, limit_hits: {} };
  return () => Promise.resolve({ ...zero, startedAt });
}
