// Accounts: registration, login and guest names, over the Store and PasswordHasher interfaces.
import type { PasswordHasher } from "../auth/password.ts";
import { checkName, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { ProtocolError } from "../errors.ts";
import type { Hub } from "../hub/hub.ts";
import { LOGIN_FAILED_MESSAGE, USER_EXISTS_MESSAGE } from "../protocol/replies.ts";
import type { Store, UserRecord } from "../store/store.ts";

/** Name of a guest whose first message has no `from` (PROTOCOL A.3). */
export const DEFAULT_GUEST_NAME = "invité";

/** Registration, login and guest naming rules. */
export class Accounts {
  readonly #store: Store;
  readonly #hasher: PasswordHasher;
  readonly #hub: Hub;
  readonly #clock: Clock;
  #dummyHash: Promise<string> | undefined;

  constructor(deps: { store: Store; hasher: PasswordHasher; hub: Hub; clock: Clock }) {
    this.#store = deps.store;
    this.#hasher = deps.hasher;
    this.#hub = deps.hub;
    this.#clock = deps.clock;
  }

  /**
   * Creates an account; it does not log in (PROTOCOL A.3).
   *
   * @throws {ProtocolError} `invalid_name`, or `user_exists` with the legacy text when the name
   * is registered or used by a guest online
   */
  async register(username: string, password: string): Promise<UserRecord> {
    const name = checkName(username);
    if (this.#hub.isOnline(nameKey(name)) || await this.#store.getUser(name)) {
      throw new ProtocolError("user_exists", USER_EXISTS_MESSAGE);
    }
    const user = {
      name,
      passwordHash: await this.#hasher.hash(password),
      createdAt: this.#clock.now(),
    };
    if (!await this.#store.createUser(user)) {
      throw new ProtocolError("user_exists", USER_EXISTS_MESSAGE);
    }
    return user;
  }

  /**
   * Checks a name and password.
   *
   * @throws {ProtocolError} `auth_failed` with the legacy text, for an unknown name or a wrong
   * password alike (an unknown name costs one hash too, so timing does not tell them apart)
   */
  async login(username: string, password: string): Promise<UserRecord> {
    // A name no account can have is not looked up (and cannot overflow a store key).
    const user = isValidName(username) ? await this.#store.getUser(username) : null;
    const ok = await this.#hasher.verify(user?.passwordHash ?? await this.#dummy(), password);
    if (!user || !ok) throw new ProtocolError("auth_failed", LOGIN_FAILED_MESSAGE);
    return user;
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
      throw new ProtocolError("name_taken", `Name "${name}" already exists`);
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

function isValidName(name: string): boolean {
  try {
    checkName(name);
    return true;
  } catch {
    return false;
  }
}
