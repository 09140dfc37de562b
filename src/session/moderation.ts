// Moderation by admin accounts: kick, mute, ban and unban by name, the ban list, and who may
// announce; every act is logged with who did what to whom (the audit trail).
import { getLogger } from "@logtape/logtape";
import { checkName, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { ProtocolError } from "../errors.ts";
import type { Bus } from "../hub/bus.ts";
import { bansReply, formatTimestamp, moderationOk } from "../protocol/replies.ts";
import { type AdminAction, T } from "../protocol/texts.ts";
import type { Request, RequestId } from "../protocol/schema.ts";
import type { Account, Store } from "../store/store.ts";
import type { Client } from "./client.ts";

type Target = Extract<Request, { type: "kick" | "mute" | "ban" | "unban" }>;
type Sanction = Extract<Request, { type: "mute" | "ban" }>;

const log = getLogger(["classcord", "session"]);

/**
 * The running mutes by case-folded name, with their end (ms since the epoch), read on every
 * message: a Map in one process; a cluster shares them between its nodes.
 */
export interface MuteTable {
  get(key: string): number | undefined;
  set(key: string, until: number): void;
  delete(key: string): void;
}

/**
 * Kick, mute and ban act on a name (every session under it); mutes live in memory (a restart
 * lifts them), bans in the store with their end. Only sessions of admin accounts may use them.
 */
export class Moderation {
  readonly #bus: Bus;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #mutes: MuteTable;

  constructor(deps: { bus: Bus; store: Store; clock: Clock; mutes?: MuteTable }) {
    this.#bus = deps.bus;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#mutes = deps.mutes ?? new Map<string, number>();
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
    const until = this.#mutes.get(key);
    if (until === undefined) return 0;
    const left = until - this.#clock.now();
    if (left > 0) return left;
    this.#mutes.delete(key);
    return 0;
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
      throw new ProtocolError("forbidden", T.bannedUntil(formatTimestamp(until)));
    }
  }

  /**
   * `kick`: disconnects every session of a name.
   *
   * @throws {ProtocolError} `forbidden` for a non-admin, `unknown_user` when nobody is online
   * under the name
   */
  kick(admin: Client, req: Target): void {
    this.requireAdmin(admin.account, "kick");
    const sessions = this.#bus.disconnect(this.#key(req.user), "forbidden", T.kicked());
    if (sessions === 0) throw new ProtocolError("unknown_user", T.notOnline(req.user));
    audit(admin, "kicked", req.user, { sessions });
    admin.reply(moderationOk("kick", { user: req.user, sessions }, req.id));
  }

  /**
   * `mute`: a name (online or not) may not post or change status for `duration` seconds.
   *
   * @throws {ProtocolError} `forbidden` for a non-admin
   */
  mute(admin: Client, req: Sanction): void {
    this.requireAdmin(admin.account, "mute");
    const key = this.#key(req.user);
    const until = this.#clock.now() + req.duration * 1000;
    this.#mutes.set(key, until);
    audit(admin, "muted", req.user, { until: formatTimestamp(until) });
    admin.reply(moderationOk("mute", { user: req.user, until: formatTimestamp(until) }, req.id));
  }

  /**
   * `ban`: a name is refused for `duration` seconds, and its sessions are disconnected.
   *
   * @throws {ProtocolError} `forbidden` for a non-admin
   */
  async ban(admin: Client, req: Sanction): Promise<void> {
    this.requireAdmin(admin.account, "ban");
    const key = this.#key(req.user);
    const until = this.#clock.now() + req.duration * 1000;
    await this.#store.ban(key, until);
    const sessions = this.#bus.disconnect(key, "forbidden", T.banned(formatTimestamp(until)));
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
  async unban(admin: Client, req: Target): Promise<void> {
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
  async bans(admin: Client, req: { id?: RequestId }): Promise<void> {
    this.requireAdmin(admin.account, "bans");
    const bans = await this.#store.bans();
    admin.reply(
      bansReply(bans.map((b) => ({ user: b.name, until: formatTimestamp(b.until) })), req.id),
    );
  }

  /** An announcement, for the audit trail (its content is not logged). */
  announced(admin: Client): void {
    audit(admin, "announced to", "everyone", {});
  }

  #key(name: string): string {
    checkName(name); // a clear invalid_name rather than a sanction on nothing
    return nameKey(name);
  }
}

/** Logs a moderation act at info: who did what to whom (never a message's content). */
function audit(
  admin: Client,
  act: string,
  target: string,
  details: Record<string, unknown>,
): void {
  log.info(`Moderation: {admin} from {remote} ${act} {user}`, {
    admin: admin.name,
    user: target,
    remote: admin.peer.address,
    ...details,
  });
}
