// Moderation by admin accounts: kick, mute and ban by name, and announcements to everyone.
import { checkName, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { type ErrorCode, ProtocolError } from "../errors.ts";
import type { Hub, Member } from "../hub/hub.ts";
import { formatTimestamp, moderationOk } from "../protocol/replies.ts";
import { type AdminAction, T, type Text } from "../protocol/texts.ts";
import type { Request } from "../protocol/schema.ts";
import type { Account, Store } from "../store/store.ts";

/** A session as moderation sees it: a hub member that can be disconnected. */
export interface Moderated extends Member {
  /** Sends a last error, then closes the connection. */
  disconnect(code: ErrorCode, text: Text): void;
}

type Target = Extract<Request, { type: "kick" | "mute" | "ban" }>;
type Sanction = Extract<Request, { type: "mute" | "ban" }>;

/**
 * Kick, mute and ban act on a name (every session under it); mutes live in memory (a restart
 * lifts them), bans in the store with their end. Only sessions of admin accounts may use them.
 */
export class Moderation {
  readonly #hub: Hub;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #mutes = new Map<string, number>();

  constructor(deps: { hub: Hub; store: Store; clock: Clock }) {
    this.#hub = deps.hub;
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
   * Disconnects every session of a name.
   *
   * @throws {ProtocolError} `unknown_user` when nobody is online under it
   */
  kick(req: Target): Record<string, unknown> {
    const sessions = this.#online(req.user);
    for (const s of sessions) s.disconnect("forbidden", T.kicked());
    return moderationOk("kick", { user: req.user, sessions: sessions.length }, req.id);
  }

  /** Mutes a name (online or not) for `duration` seconds. */
  mute(req: Sanction): Record<string, unknown> {
    const key = this.#key(req.user);
    const until = this.#clock.now() + req.duration * 1000;
    this.#mutes.set(key, until);
    return moderationOk("mute", { user: req.user, until: formatTimestamp(until) }, req.id);
  }

  /** Bans a name for `duration` seconds and disconnects its sessions. */
  async ban(req: Sanction): Promise<Record<string, unknown>> {
    const key = this.#key(req.user);
    const until = this.#clock.now() + req.duration * 1000;
    await this.#store.ban(key, until);
    const sessions = this.#hub.isOnline(key) ? this.#online(req.user) : [];
    const text = T.banned(formatTimestamp(until));
    for (const s of sessions) s.disconnect("forbidden", text);
    return moderationOk(
      "ban",
      { user: req.user, until: formatTimestamp(until), sessions: sessions.length },
      req.id,
    );
  }

  #key(name: string): string {
    checkName(name); // a clear invalid_name rather than a sanction on nothing
    return nameKey(name);
  }

  #online(name: string): Moderated[] {
    const key = this.#key(name);
    const sessions = [...this.#hub.sessionsOf(key)] as Moderated[];
    if (sessions.length === 0) {
      throw new ProtocolError("unknown_user", T.notOnline(name));
    }
    return sessions;
  }
}
