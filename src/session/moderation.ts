// Moderation by admin accounts: kick, mute and ban by name, and who may announce.
import { checkName, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { ProtocolError } from "../errors.ts";
import type { Bus } from "../hub/bus.ts";
import { formatTimestamp, moderationOk } from "../protocol/replies.ts";
import { type AdminAction, T } from "../protocol/texts.ts";
import type { Request } from "../protocol/schema.ts";
import type { Account, Store } from "../store/store.ts";
import type { Client } from "./client.ts";

type Target = Extract<Request, { type: "kick" | "mute" | "ban" }>;
type Sanction = Extract<Request, { type: "mute" | "ban" }>;

/**
 * Kick, mute and ban act on a name (every session under it); mutes live in memory (a restart
 * lifts them), bans in the store with their end. Only sessions of admin accounts may use them.
 */
export class Moderation {
  readonly #bus: Bus;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #mutes = new Map<string, number>();

  constructor(deps: { bus: Bus; store: Store; clock: Clock }) {
    this.#bus = deps.bus;
    this.#store = deps.store;
    this.#clock = deps.clock;
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
    admin.reply(
      moderationOk(
        "ban",
        { user: req.user, until: formatTimestamp(until), sessions },
        req.id,
      ),
    );
  }

  #key(name: string): string {
    checkName(name); // a clear invalid_name rather than a sanction on nothing
    return nameKey(name);
  }
}
