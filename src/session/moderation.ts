// Moderation by admin accounts: kick, mute, unmute, ban and unban by name, the lists of bans and
// mutes, and who may announce; every act is logged with who did what to whom (the audit trail).
// A hello'd session is told when its own mute starts, changes or ends.
import { getLogger } from "@logtape/logtape";
import { checkName, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { ProtocolError } from "../errors.ts";
import type { Bus } from "../hub/bus.ts";
import { encodeBytes } from "../protocol/framing.ts";
import {
  bansReply,
  formatTimestamp,
  moderationOk,
  mutedEvent,
  mutesReply,
} from "../protocol/replies.ts";
import { type AdminAction, T } from "../protocol/texts.ts";
import type { Request, RequestId } from "../protocol/schema.ts";
import type { Account, AccountStore } from "../store/store.ts";
import type { Session } from "./session.ts";

type Target = Extract<Request, { type: "kick" | "mute" | "ban" | "unban" | "unmute" }>;
type Sanction = Extract<Request, { type: "mute" | "ban" }>;

const log = getLogger(["classcord", "session"]);

/** A running mute: its end (ms since the epoch), and the name as muted, for lists. */
export interface Mute {
  until: number;
  name: string;
}

/**
 * The running mutes by case-folded name, read on every message: a Map in memory
 * ({@link LocalMutes}), on one server as on each node of a cluster, whose cluster part keeps it
 * in step with the other nodes' (docs/cluster.md §5.3).
 */
export interface MuteTable {
  get(key: string): Mute | undefined;
  set(key: string, mute: Mute): void;
  delete(key: string): void;
  /** Every mute, running or ended but not yet deleted. */
  entries(): Iterable<[string, Mute]>;
  /** `listener` is told of every change from now on, made here or (in a cluster) elsewhere. */
  watch(listener: (key: string, mute: Mute | undefined) => void): void;
}

/** The mutes of one server, in memory: a restart lifts them. */
export class LocalMutes implements MuteTable {
  readonly #mutes = new Map<string, Mute>();
  #listeners: ((key: string, mute: Mute | undefined) => void)[] = [];

  get(key: string): Mute | undefined {
    return this.#mutes.get(key);
  }

  set(key: string, mute: Mute): void {
    this.#mutes.set(key, mute);
    for (const listener of this.#listeners) listener(key, mute);
  }

  delete(key: string): void {
    if (!this.#mutes.delete(key)) return;
    for (const listener of this.#listeners) listener(key, undefined);
  }

  entries(): Iterable<[string, Mute]> {
    return this.#mutes.entries();
  }

  watch(listener: (key: string, mute: Mute | undefined) => void): void {
    this.#listeners.push(listener);
  }
}

// setTimeout takes at most 2^31 - 1 ms (about 24.8 days, under the 30 days a mute may last): the
// timer of the next end is set for a day at most, then set again.
const MAX_TIMER_MS = 24 * 3600 * 1000;

/**
 * Kick, mute and ban act on a name (every session under it), never on the admin's own; mutes
 * live in memory (a restart lifts them), bans in the store with their end. Only sessions of admin
 * accounts may use them. {@link close} stops the timer of the next mute's end.
 */
export class Moderation {
  readonly #bus: Bus;
  readonly #store: AccountStore;
  readonly #clock: Clock;
  readonly #mutes: MuteTable;
  // The end of the mute ending first, when it is told to its sessions.
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(deps: { bus: Bus; store: AccountStore; clock: Clock; mutes?: MuteTable }) {
    this.#bus = deps.bus;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#mutes = deps.mutes ?? new LocalMutes();
    this.#mutes.watch((key, mute) => this.#changed(key, mute));
    this.#schedule();
  }

  /** Stops the timer of mutes' ends (shutdown). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  /**
   * Refuses whoever is not logged in to an admin account.
   *
   * @throws {ProtocolError} `forbidden`
   */
  requireAdmin(account: Account | undefined, action: AdminAction): void {
    if (!account?.admin) throw new ProtocolError("forbidden", T.adminOnly(action));
  }

  /** Milliseconds a name stays muted; 0 when it may speak. */
  mutedFor(key: string): number {
    const mute = this.#mutes.get(key);
    if (mute === undefined) return 0;
    const left = mute.until - this.#clock.now();
    if (left > 0) return left;
    this.#mutes.delete(key);
    return 0;
  }

  /**
   * What a hello'd session logging in is told of its running mute, right after its login reply;
   * nothing when it may speak.
   */
  muteNotice(key: string): Record<string, unknown> | undefined {
    const left = this.mutedFor(key);
    if (left === 0) return undefined;
    return mutedEvent(formatTimestamp(this.#mutes.get(key)!.until), left);
  }

  /**
   * Refuses a muted name's messages and status changes.
   *
   * @throws {ProtocolError} `forbidden` saying for how long
   */
  requireNotMuted(key: string): void {
    const left = this.mutedFor(key);
    if (left > 0) {
      throw new ProtocolError("forbidden", T.muted(Math.ceil(left / 1000)), {
        retry_after_ms: left,
      });
    }
  }

  /**
   * Refuses a banned name at login or as a guest.
   *
   * @throws {ProtocolError} `forbidden` saying until when
   */
  async requireNotBanned(name: string): Promise<void> {
    const until = await this.#store.bannedUntil(name);
    if (until !== null && until > this.#clock.now()) {
      const at = formatTimestamp(until);
      throw new ProtocolError("forbidden", T.bannedUntil(at), { until: at });
    }
  }

  /**
   * `kick`: disconnects every session of a name.
   *
   * @throws {ProtocolError} `forbidden` for a non-admin, `unknown_user` when nobody is online
   * under the name
   */
  kick(admin: Session, req: Target): void {
    this.requireAdmin(admin.account, "kick");
    const key = this.#target(admin, req, "kick");
    const sessions = this.#bus.disconnect(key, "forbidden", T.kicked());
    if (sessions === 0) throw new ProtocolError("unknown_user", T.notOnline(req.user));
    audit(admin, "kicked", req.user, { sessions });
    admin.reply(moderationOk("kick", { user: req.user, sessions }, req.id));
  }

  /**
   * `mute`: a name (online or not) may not post or change status for `duration` seconds.
   *
   * @throws {ProtocolError} `forbidden` for a non-admin
   */
  mute(admin: Session, req: Sanction): void {
    this.requireAdmin(admin.account, "mute");
    const key = this.#target(admin, req, "mute");
    const until = this.#clock.now() + req.duration * 1000;
    this.#mutes.set(key, { until, name: this.#bus.displayName(key) ?? req.user });
    audit(admin, "muted", req.user, { until: formatTimestamp(until) });
    admin.reply(moderationOk("mute", { user: req.user, until: formatTimestamp(until) }, req.id));
  }

  /**
   * `unmute`: a muted name may speak again at once.
   *
   * @throws {ProtocolError} `forbidden` for a non-admin, `unknown_user` when the name is not muted
   */
  unmute(admin: Session, req: Target): void {
    this.requireAdmin(admin.account, "unmute");
    const key = this.#key(req.user);
    if (this.mutedFor(key) === 0) throw new ProtocolError("unknown_user", T.notMuted(req.user));
    this.#mutes.delete(key);
    audit(admin, "unmuted", req.user, {});
    admin.reply(moderationOk("unmute", { user: req.user }, req.id));
  }

  /**
   * `mutes`: the names muted now, each with the end of its mute, the soonest first.
   *
   * @throws {ProtocolError} `forbidden` for a non-admin
   */
  mutes(admin: Session, req: { id?: RequestId }): void {
    this.requireAdmin(admin.account, "mutes");
    const now = this.#clock.now();
    const running = [...this.#mutes.entries()].filter(([, m]) => m.until > now)
      .sort(([, a], [, b]) => a.until - b.until);
    const mutes = running.map(([, m]) => ({ user: m.name, until: formatTimestamp(m.until) }));
    admin.reply(mutesReply(mutes, req.id));
  }

  /**
   * `ban`: a name is refused for `duration` seconds, and its sessions are disconnected.
   *
   * @throws {ProtocolError} `forbidden` for a non-admin
   */
  async ban(admin: Session, req: Sanction): Promise<void> {
    this.requireAdmin(admin.account, "ban");
    const key = this.#target(admin, req, "ban");
    const until = this.#clock.now() + req.duration * 1000;
    // Listed by the name as it shows (online, or registered), not as the admin typed it.
    const account = await this.#store.getUser(req.user);
    await this.#store.ban(this.#bus.displayName(key) ?? account?.name ?? req.user, until);
    const at = formatTimestamp(until);
    const sessions = this.#bus.disconnect(key, "forbidden", T.banned(at), { until: at });
    audit(admin, "banned", req.user, { until: formatTimestamp(until), sessions });
    admin.reply(
      moderationOk(
        "ban",
        { user: req.user, until: formatTimestamp(until), sessions },
        req.id,
      ),
    );
  }

  /**
   * `unban`: a banned name may log in again (and a mute on it is lifted too).
   *
   * @throws {ProtocolError} `forbidden` for a non-admin, `unknown_user` when the name is not
   * banned
   */
  async unban(admin: Session, req: Target): Promise<void> {
    this.requireAdmin(admin.account, "unban");
    const key = this.#key(req.user);
    const until = await this.#store.bannedUntil(key);
    if (until === null || until <= this.#clock.now() || !await this.#store.unban(key)) {
      throw new ProtocolError("unknown_user", T.notBanned(req.user));
    }
    this.#mutes.delete(key);
    audit(admin, "unbanned", req.user, {});
    admin.reply(moderationOk("unban", { user: req.user }, req.id));
  }

  /**
   * `bans`: the names banned now, each with the end of its ban.
   *
   * @throws {ProtocolError} `forbidden` for a non-admin
   */
  async bans(admin: Session, req: { id?: RequestId }): Promise<void> {
    this.requireAdmin(admin.account, "bans");
    const bans = await this.#store.bans();
    admin.reply(
      bansReply(bans.map((b) => ({ user: b.name, until: formatTimestamp(b.until) })), req.id),
    );
  }

  /** An announcement, for the audit trail (its content is not logged). */
  announced(admin: Session): void {
    audit(admin, "announced to", "everyone", {});
  }

  #key(name: string): string {
    checkName(name); // a clear invalid_name rather than a sanction on nothing
    return nameKey(name);
  }

  /**
   * The name an act targets, never the admin's own: a teacher who banned themselves would be
   * refused at the next login for up to 30 days.
   *
   * @throws {ProtocolError} `invalid_name`, or `forbidden` for the admin's own name
   */
  #target(admin: Session, req: Target, action: "kick" | "mute" | "ban"): string {
    const key = this.#key(req.user);
    if (key === admin.key) throw new ProtocolError("forbidden", T.notYourself(action));
    return key;
  }

  /** A mute started, changed or ended: its hello'd sessions here are told, the timer set. */
  #changed(key: string, mute: Mute | undefined): void {
    const left = mute ? mute.until - this.#clock.now() : 0;
    const event = left > 0 ? mutedEvent(formatTimestamp(mute!.until), left) : mutedEvent(null);
    this.#bus.deliver({ user: key, helloed: true }, encodeBytes(event));
    this.#schedule();
  }

  /** Sets the timer for the mute ending first; ended mutes are deleted (and told). */
  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    const now = this.#clock.now();
    let next = Infinity;
    const ended: string[] = [];
    for (const [key, mute] of this.#mutes.entries()) {
      if (mute.until <= now) ended.push(key);
      else next = Math.min(next, mute.until);
    }
    for (const key of ended) this.#mutes.delete(key); // each comes back here through #changed
    if (next === Infinity || ended.length > 0) return;
    this.#timer = setTimeout(() => this.#schedule(), Math.min(next - now, MAX_TIMER_MS));
  }
}

/** Logs a moderation act at info: who did what to whom (never a message's content). */
function audit(
  admin: Session,
  act: string,
  target: string,
  details: Record<string, unknown>,
): void {
  log.info(`Moderation: {admin} from {remote} ${act} {user}`, {
    admin: admin.name,
    user: target,
    remote: admin.origin.address,
    ...details,
  });
}
