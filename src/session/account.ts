// Accounts: registration, login and guest names, over the Store and PasswordHasher interfaces.
import type { PasswordHasher } from "../auth/password.ts";
import { checkName, isValidName, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import type { Limits } from "../config.ts";
import { ProtocolError } from "../errors.ts";
import type { Hub } from "../hub/hub.ts";
import { T, type Text } from "../protocol/texts.ts";
import type { Account, Store, UserRecord } from "../store/store.ts";
import { KeyedWindows, LoginThrottle } from "./limits.ts";
import type { Peer } from "./session.ts";

const TEN_MINUTES = 10 * 60_000;

function rateLimited(text: (seconds: number) => Text, retryMs: number): ProtocolError {
  return new ProtocolError("rate_limited", text(Math.ceil(retryMs / 1000)), {
    retry_after_ms: retryMs,
  });
}

/** Name of a guest whose first message has no `from` (PROTOCOL A.3). */
export const DEFAULT_GUEST_NAME = "invité";

/** Registration, login and guest naming rules. */
export class Accounts {
  readonly #store: Store;
  readonly #hasher: PasswordHasher;
  readonly #hub: Hub;
  readonly #clock: Clock;
  readonly #logins: LoginThrottle;
  readonly #registrations: KeyedWindows;
  #dummyHash: Promise<string> | undefined;

  constructor(
    deps: { store: Store; hasher: PasswordHasher; hub: Hub; clock: Clock; limits: Limits },
  ) {
    this.#store = deps.store;
    this.#hasher = deps.hasher;
    this.#hub = deps.hub;
    this.#clock = deps.clock;
    const { limits } = deps;
    this.#logins = new LoginThrottle(deps.clock, {
      free: limits.loginFreeFailures,
      baseDelayMs: 1000, // doubling from 1 s (PROTOCOL B.7)
      maxDelayMs: limits.loginMaxDelayMs,
      perAccount: limits.loginFailuresPerAccount,
      perAddress: limits.loginFailuresPerAddress,
      windowMs: TEN_MINUTES,
    });
    this.#registrations = new KeyedWindows(deps.clock, {
      max: limits.registrationsPerAddress,
      windowMs: TEN_MINUTES,
    });
  }

  /**
   * Creates an account; it does not log in (PROTOCOL A.3).
   *
   * @throws {ProtocolError} `invalid_name`, `user_exists` with the legacy text when the name
   * is registered or used by a guest online, or `rate_limited` past the registrations allowed
   * per address (a trusted address has no such cap)
   */
  async register(username: string, password: string, peer: Peer): Promise<Account> {
    const name = checkName(username);
    const wait = peer.trusted ? 0 : this.#registrations.blocked(peer.address);
    if (wait > 0) throw rateLimited(T.tooManyRegistrations, wait);
    if (this.#hub.isOnline(nameKey(name)) || await this.#store.getUser(name)) {
      throw new ProtocolError("user_exists", T.userExists());
    }
    // Counted once the password is about to be hashed: what costs the server.
    if (!peer.trusted) this.#registrations.add(peer.address);
    const user = {
      name,
      passwordHash: await this.#hasher.hash(password),
      createdAt: this.#clock.now(),
    };
    if (!await this.#store.createUser(user)) {
      throw new ProtocolError("user_exists", T.userExists());
    }
    return accountOf(user);
  }

  /**
   * Checks a name and password.
   *
   * @throws {ProtocolError} `auth_failed` with the legacy text, for an unknown name or a wrong
   * password alike (an unknown name costs one hash too, so timing does not tell them apart);
   * `rate_limited` while failed logins of this account or address are being slowed down, in
   * which case the password is not even checked
   */
  async login(username: string, password: string, peer: Peer): Promise<Account> {
    const account = nameKey(username);
    const { address } = peer;
    const wait = this.#logins.check(account, address, peer.trusted);
    if (wait > 0) throw rateLimited(T.tooManyFailedLogins, wait);
    // A name no account can have is not looked up (and cannot overflow a store key).
    const user = isValidName(username) ? await this.#store.getUser(username) : null;
    const ok = await this.#hasher.verify(user?.passwordHash ?? await this.#dummy(), password);
    if (!user || !ok) {
      this.#logins.failed(account, address);
      throw new ProtocolError("auth_failed", T.loginFailed());
    }
    this.#logins.succeeded(account, address);
    return accountOf(user);
  }

  /**
   * The name a guest gets from its first message's `from`: checked, not registered, not online.
   * Without `from`, `invité`, or `invité2`, `invité3`... when taken.
   *
   * @throws {ProtocolError} `invalid_name`, or `name_taken` (its text says "already exists",
   * which one legacy client looks for before retrying another name)
   */
  async guestName(from: unknown): Promise<string> {
    if (typeof from !== "string" || from.trim() === "") {
      for (let n = 1;; n++) {
        const name = n === 1 ? DEFAULT_GUEST_NAME : `${DEFAULT_GUEST_NAME}${n}`;
        if (await this.#isFree(name)) return name;
      }
    }
    const name = checkName(from);
    if (!await this.#isFree(name)) {
      throw new ProtocolError("name_taken", T.nameTaken(name));
    }
    return name;
  }

  async #isFree(name: string): Promise<boolean> {
    return !this.#hub.isOnline(nameKey(name)) && !await this.#store.getUser(name);
  }

  #dummy(): Promise<string> {
    return this.#dummyHash ??= this.#hasher.hash(crypto.randomUUID());
  }
}

/** What a session keeps of an account: no hash, and no admin key unless it is one. */
function accountOf(user: UserRecord): Account {
  return user.admin
    ? { name: user.name, createdAt: user.createdAt, admin: true }
    : { name: user.name, createdAt: user.createdAt };
}
