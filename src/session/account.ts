// Accounts: registration, login (with its reply, its offline messages and what it counts) and
// guest names, over the AccountStore, PasswordHasher and Bus interfaces.
import { getLogger } from "@logtape/logtape";
import type { PasswordHasher } from "../auth/password.ts";
import { RESUME_TTL_MS, type ResumeTokens } from "../auth/resume.ts";
import { checkName, isValidName, MAX_NAME_CHARS, nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import type { Limits } from "../config.ts";
import { ProtocolError } from "../errors.ts";
import type { Events, LoginResult, RegistrationResult } from "../events.ts";
import type { Bus } from "../hub/bus.ts";
import { encodeBytes } from "../protocol/framing.ts";
import { loginOk, registerOk } from "../protocol/replies.ts";
import type { Request, RequestId } from "../protocol/schema.ts";
import { T, type Text } from "../protocol/texts.ts";
import type { Account, AccountStore, MessageStore, UserRecord } from "../store/store.ts";
import type { Inbox, Origin, Session } from "./session.ts";
import type { GuestNames } from "./guest_names.ts";
import { KeyedWindows, LoginThrottle } from "./limits.ts";
import type { Moderation } from "./moderation.ts";

const log = getLogger(["classcord", "session"]);

const TEN_MINUTES = 10 * 60_000;
/** How long failed logins count against an account or an address. */
export const LOGIN_WINDOW_MS = TEN_MINUTES;

type Credentials = Extract<Request, { type: "register" | "login" }>;
type ResumeRequest = Extract<Request, { type: "resume" }>;

function rateLimited(text: (seconds: number) => Text, retryMs: number): ProtocolError {
  return new ProtocolError("rate_limited", text(Math.ceil(retryMs / 1000)), {
    retry_after_ms: retryMs,
  });
}

/** Name of a guest whose first message has no `from` (docs/protocol.md §3.13). */
export const DEFAULT_GUEST_NAME = "invité";

/** What accounts need from the server. */
export interface AccountsDeps {
  /** Accounts; of messages, only the inbox a login hands over. */
  store: AccountStore & Pick<MessageStore, "inbox" | "clearInbox">;
  hasher: PasswordHasher;
  bus: Bus;
  clock: Clock;
  limits: Limits;
  events: Events;
  moderation: Moderation;
  /** Resume tokens of web pages (section 11 of docs/protocol.md). */
  tokens: ResumeTokens;
  /** Resolves once every message posted before the call is stored (see {@link inbox}). */
  flushed(): Promise<void>;
  /**
   * Where login outcomes and registrations are shared with other servers of a cluster, so failed
   * logins and registrations per address are limited across all of them; none on one server.
   */
  loginEvents?: LoginEvents;
  /** The guest names held, on this server or on every node of a cluster. */
  guestNames: GuestNames;
}

/**
 * A login outcome, or a registration counted against its address, as servers of a cluster share
 * them.
 */
export interface LoginEvent {
  kind: "fail" | "ok" | "register";
  /** The case-folded account name tried, or registered. */
  account: string;
  address: string;
}

/** Login outcomes and registrations shared between the servers of a cluster. */
export interface LoginEvents {
  /** Tells the others of an outcome here. */
  publish(event: LoginEvent): void;
  /** `apply` is told of every outcome on the other servers. */
  subscribe(apply: (event: LoginEvent) => void): void;
}

/** Registration, login and guest naming rules. */
export class Accounts {
  readonly #deps: AccountsDeps;
  readonly #logins: LoginThrottle;
  readonly #registrations: KeyedWindows;
  #dummyHash: Promise<string> | undefined;

  constructor(deps: AccountsDeps) {
    this.#deps = deps;
    const { clock, limits } = deps;
    this.#logins = new LoginThrottle(clock, {
      free: limits.loginFreeFailures,
      baseDelayMs: 1000, // doubling from 1 s (docs/protocol.md §5.4)
      maxDelayMs: limits.loginMaxDelayMs,
      perAccount: limits.loginFailuresPerAccount,
      perAddress: limits.loginFailuresPerAddress,
      windowMs: TEN_MINUTES,
    });
    this.#registrations = new KeyedWindows(clock, {
      max: limits.registrationsPerAddress,
      windowMs: TEN_MINUTES,
    });
    deps.loginEvents?.subscribe(({ kind, account, address }) => {
      if (kind === "fail") this.#logins.failed(account, address);
      else if (kind === "ok") this.#logins.succeeded(account, address);
      else this.#registrations.add(address);
    });
  }

  /**
   * `register`: creates the account (it does not log in, docs/protocol.md §12.1) and answers with
   * the very next line; the time the connection has to log in starts again.
   */
  async register(session: Session, req: Credentials): Promise<void> {
    session.out.hold();
    let reply: Record<string, unknown>;
    try {
      const created = await this.#create(req.username, req.password, session.origin);
      log.info("Registered {user} from {remote}", {
        user: created.name,
        remote: session.origin.address,
      });
      this.#deps.events.emit({ type: "registration", result: "ok" });
      session.registered();
      reply = registerOk(req.id);
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : undefined;
      const result: RegistrationResult = code === "user_exists"
        ? "exists"
        : throttled(code)
        ? "throttled"
        : fault(code)
        ? "error"
        : "invalid";
      this.#deps.events.emit({ type: "registration", result });
      if (code === "rate_limited") {
        this.#deps.events.emit({ type: "limit", limit: "registrations" });
      }
      reply = session.errorFor(err, req.id);
    }
    await session.finishIdentify(reply);
  }

  /**
   * `login`: checks the name and password, joins the bus under the account's name, and answers
   * with the very next line, followed by the offline messages (docs/protocol.md §12.1, §4.6).
   */
  login(session: Session, req: Credentials): Promise<void> {
    return this.#identify(
      session,
      req,
      () => this.#check(req.username, req.password, session.origin),
      req.username,
    );
  }

  /**
   * `resume`: a web page's token in place of the password, after it lost its connection;
   * answered exactly as `login` (section 11 of docs/protocol.md).
   */
  resume(session: Session, req: ResumeRequest): Promise<void> {
    return this.#identify(
      session,
      req,
      () => this.#checkToken(req.token, session.origin),
      "(resume)",
    );
  }

  /** login and resume alike: `check` finds the account, or throws the error to answer. */
  async #identify(
    session: Session,
    req: { id?: RequestId },
    check: () => Promise<UserRecord>,
    tried: string,
  ): Promise<void> {
    session.out.hold();
    let reply: Record<string, unknown>;
    let user: Account | undefined;
    try {
      const found = await check();
      await this.#deps.moderation.requireNotBanned(found.name);
      user = accountOf(found); // only now: a refused login must not join
      this.#deps.events.emit({ type: "login", result: "ok" });
      reply = await this.#loginReply(session, found, req.id);
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : undefined;
      const result: LoginResult = throttled(code) ? "throttled" : fault(code) ? "error" : "failed";
      this.#deps.events.emit({ type: "login", result });
      if (code === "rate_limited") {
        this.#deps.events.emit({ type: "limit", limit: "login_failures" });
      }
      if (code === "auth_failed") {
        log.info("Failed login for {user} from {remote}", {
          user: tried.slice(0, 64), // any string: bounded in the log
          remote: session.origin.address,
        });
      }
      reply = session.errorFor(err, req.id);
    }
    if (session.state === "closed") return;
    let inbox: Inbox | undefined;
    let notices: Uint8Array[] = [];
    if (user && nameKey(user.name) !== session.key) {
      // Joined while the output still holds: live lines queue behind the reply and the inbox.
      session.leave();
      session.join(user.name, "user", user);
      inbox = await this.#inbox(session);
      // A hello'd session learns of its running mute at once, not at its first refused post.
      const mute = session.helloed ? this.#deps.moderation.muteNotice(session.key) : undefined;
      if (mute) notices = [encodeBytes(mute)];
    }
    await session.finishIdentify(reply, inbox, notices);
  }

  /**
   * The name a guest asks for with its first message's `from`, checked; `invité` without one.
   *
   * @throws {ProtocolError} `invalid_name`
   */
  guestBase(from: unknown): string {
    if (typeof from !== "string" || from.trim() === "") return DEFAULT_GUEST_NAME;
    return checkName(from);
  }

  /**
   * The first free name from `base`: itself, then `base2`, `base3`... (neither registered nor
   * online nor claimed by another guest), so a class whose students all keep a client's default
   * pseudo ("Pseudo") still chats (docs/protocol.md, section 3, Guests). The name is claimed for
   * the caller, who joins under it or gives it back ({@link GuestNames.release}). A long base is
   * shortened to leave the suffix room within the name's length.
   */
  async guestName(base: string): Promise<string> {
    for (let n = 1;; n++) {
      const name = n === 1 ? base : withSuffix(base, n);
      // Claimed last, and atomically: of two guests asking for one free name at the same
      // instant, on one node or two, one gets it and the other goes on to the next suffix.
      if (await this.#isFree(name) && await this.#deps.guestNames.claim(nameKey(name))) {
        return name;
      }
    }
  }

  /**
   * @throws {ProtocolError} `invalid_name`, `user_exists` with the legacy text when the name
   * is registered or used by a guest online, or `rate_limited` past the registrations allowed
   * per address (a trusted address has no such cap)
   */
  async #create(username: string, password: string, origin: Origin): Promise<Account> {
    const { bus, store, hasher, clock } = this.#deps;
    const name = checkName(username);
    const wait = origin.trusted ? 0 : this.#registrations.blocked(origin.address);
    if (wait > 0) throw rateLimited(T.tooManyRegistrations, wait);
    if (bus.isOnline(nameKey(name)) || await store.getUser(name)) {
      throw new ProtocolError("user_exists", T.userExists());
    }
    // Counted once the password is about to be hashed: what costs the server. Counted on the
    // other nodes of a cluster too, so spreading registrations over them gains nothing.
    if (!origin.trusted) {
      this.#registrations.add(origin.address);
      this.#deps.loginEvents?.publish({
        kind: "register",
        account: nameKey(name),
        address: origin.address,
      });
    }
    const user = { name, passwordHash: await hasher.hash(password), createdAt: clock.now() };
    if (!await store.createUser(user)) throw new ProtocolError("user_exists", T.userExists());
    return accountOf(user);
  }

  /**
   * @throws {ProtocolError} `auth_failed` with the legacy text, for an unknown name or a wrong
   * password alike (an unknown name costs one hash too, so timing does not tell them apart);
   * `rate_limited` while failed logins of this account or address are being slowed down, in
   * which case the password is not even checked
   */
  async #check(username: string, password: string, origin: Origin): Promise<UserRecord> {
    const account = nameKey(username);
    const wait = this.#logins.check(account, origin.address, origin.trusted);
    if (wait > 0) throw rateLimited(T.tooManyFailedLogins, wait);
    // A name no account can have is not looked up (and cannot overflow a store key).
    const user = isValidName(username) ? await this.#deps.store.getUser(username) : null;
    const hash = user?.passwordHash ?? await this.#dummy();
    if (!user || !await this.#deps.hasher.verify(hash, password)) {
      this.#loginFailed(account, origin.address);
      throw new ProtocolError("auth_failed", T.loginFailed());
    }
    this.#logins.succeeded(account, origin.address);
    this.#deps.loginEvents?.publish({ kind: "ok", account, address: origin.address });
    return user;
  }

  /**
   * The account of a resume token that works now; its failures count against the address's
   * failed logins, as a wrong password would.
   *
   * @throws {ProtocolError} `auth_failed` ("Session expired"), or `rate_limited`
   */
  async #checkToken(token: string, origin: Origin): Promise<UserRecord> {
    const { tokens, store, clock } = this.#deps;
    const claim = tokens.read(token);
    const account = nameKey(claim?.user ?? "");
    const wait = this.#logins.check(account, origin.address, origin.trusted);
    if (wait > 0) throw rateLimited(T.tooManyFailedLogins, wait);
    const user = claim && isValidName(claim.user) ? await store.getUser(claim.user) : null;
    if (!user || !await tokens.check(token, user.passwordHash, clock.now())) {
      this.#loginFailed(account, origin.address);
      throw new ProtocolError("auth_failed", T.sessionExpired());
    }
    return user;
  }

  /**
   * The login reply; a hello'd session also gets a resume token (and `admin` for an
   * administrator), which legacy sessions never see (docs/protocol.md §12.4).
   */
  async #loginReply(
    session: Session,
    user: UserRecord,
    id: RequestId | undefined,
  ): Promise<Record<string, unknown>> {
    if (!session.helloed) return loginOk(user.name, id);
    const reply = loginOk(user.name);
    if (user.admin) reply.admin = true;
    reply.resume_token = await this.#deps.tokens.issue(
      user.name,
      user.passwordHash,
      this.#deps.clock.now(),
    );
    reply.resume_expires_ms = RESUME_TTL_MS;
    // The id last, as on every reply.
    if (id !== undefined) reply.id = id;
    return reply;
  }

  /**
   * Offline messages of the user just logged in, once every message posted before is stored (a
   * message sent just before the user came online is then either live or in the inbox); none
   * (they wait) if the store fails.
   */
  async #inbox(session: Session): Promise<Inbox | undefined> {
    const { store } = this.#deps;
    try {
      await this.#deps.flushed();
      const messages = await store.inbox(session.key);
      return {
        lines: messages.map((m) => encodeBytes(m.line)),
        clear: () => store.clearInbox(session.key, messages.map((m) => m.seq)),
      };
    } catch (error) {
      log.error("Cannot read the inbox of {user}: {error}", { user: session.name, error });
      return undefined;
    }
  }

  /** A failed login, counted here and on the other servers of a cluster. */
  #loginFailed(account: string, address: string): void {
    this.#logins.failed(account, address);
    this.#deps.loginEvents?.publish({ kind: "fail", account, address });
  }

  async #isFree(name: string): Promise<boolean> {
    return !this.#deps.bus.isOnline(nameKey(name)) && !await this.#deps.store.getUser(name);
  }

  #dummy(): Promise<string> {
    return this.#dummyHash ??= this.#deps.hasher.hash(crypto.randomUUID());
  }
}

/** `base` with the number `n` after it, shortened to fit {@link MAX_NAME_CHARS} characters. */
function withSuffix(base: string, n: number): string {
  const suffix = String(n);
  const chars = [...base].slice(0, MAX_NAME_CHARS - suffix.length);
  return chars.join("").trimEnd() + suffix;
}

/** Refused by a limit or a ban rather than for the credentials. */
function throttled(code: string | undefined): boolean {
  return code === "rate_limited" || code === "forbidden";
}

/** A failure of the server rather than of the request: no code, or the server is busy. */
function fault(code: string | undefined): boolean {
  return code === undefined || code === "server_busy";
}

/** What a session keeps of an account: no hash, and no admin key unless it is one. */
function accountOf(user: UserRecord): Account {
  return user.admin
    ? { name: user.name, createdAt: user.createdAt, admin: true }
    : { name: user.name, createdAt: user.createdAt };
}
