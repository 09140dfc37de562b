// One connection's state machine: anonymous → guest | user → closed, and request dispatch.
import { getLogger } from "@logtape/logtape";
import { nameKey } from "../auth/names.ts";
import { type ErrorCode, ProtocolError } from "../errors.ts";
import type { Hub, Member } from "../hub/hub.ts";
import { encodeBytes } from "../protocol/encode.ts";
import { errorReply, loginOk, registerOk } from "../protocol/replies.ts";
import { parseRequest, readEnvelope, type Request, type RequestId } from "../protocol/schema.ts";
import type { Accounts } from "./account.ts";
import type { Chat } from "./chat.ts";

const log = getLogger(["classcord", "session"]);

/** Where a session's lines go: the connection's outbox, or a plain object in tests. */
export interface SessionOutput {
  send(line: Uint8Array): void;
  /** Keeps later lines back until {@link release}. */
  hold(): void;
  /** Sends `first`, then the lines held back. */
  release(first: Uint8Array): void;
}

/** What a session needs from the rest of the server. */
export interface SessionDeps {
  hub: Hub;
  accounts: Accounts;
  chat: Chat;
}

/** Where a connection is in its life (PROTOCOL A.3). */
export type SessionState = "anonymous" | "guest" | "user" | "closed";

/**
 * The protocol state of one connection, with no socket: lines in, encoded lines out.
 * Requests are handled one at a time, in order; a client fault becomes an `error` reply here and
 * nowhere else.
 */
export class Session implements Member {
  readonly #deps: SessionDeps;
  readonly #out: SessionOutput;
  readonly #remote: string;
  #state: SessionState = "anonymous";
  #name = "";
  #key = "";

  constructor(deps: SessionDeps, out: SessionOutput, remote: string) {
    this.#deps = deps;
    this.#out = out;
    this.#remote = remote;
  }

  get state(): SessionState {
    return this.#state;
  }

  get name(): string {
    return this.#name;
  }

  get key(): string {
    return this.#key;
  }

  /** Whether the session has a name (guest or user) and so receives broadcasts. */
  get identified(): boolean {
    return this.#state === "guest" || this.#state === "user";
  }

  deliver(line: Uint8Array): void {
    this.#out.send(line);
  }

  /** Handles one decoded line; never throws. */
  async handleLine(text: string): Promise<void> {
    if (this.#state === "closed" || text.trim() === "") return;
    let id: RequestId | undefined;
    try {
      const envelope = readEnvelope(text);
      id = envelope.id;
      await this.#dispatch(parseRequest(envelope));
    } catch (err) {
      this.#out.send(encodeBytes(this.#errorFor(err, id)));
    }
  }

  /** Answers a line that was over the size cap (its bytes were discarded unread). */
  tooLarge(maxBytes: number): void {
    this.#sendError("too_large", `Line is longer than ${maxBytes} bytes`);
  }

  /**
   * The server is stopping: an identified session gets a last `shutting_down` error and leaves
   * without an "offline" broadcast, so the error stays the last line every client receives.
   */
  shutdown(): void {
    if (this.identified) {
      this.#sendError("shutting_down", "Server is shutting down");
      this.#deps.hub.leave(this);
    }
    this.#state = "closed";
  }

  /** Ends the session: its name leaves the hub, and goes "offline" if it was its last session. */
  close(): void {
    this.#leave();
    this.#state = "closed";
  }

  async #dispatch(req: Request): Promise<void> {
    const { chat } = this.#deps;
    switch (req.type) {
      case "register":
      case "login":
        return await this.#identify(req);
      case "message":
        if (!this.identified) await this.#becomeGuest(req.fields.from);
        return chat.message(this, req);
      case "status":
        this.#requireIdentified();
        return chat.status(this, req.state);
      case "users":
        return this.#out.send(encodeBytes(chat.users(req.id)));
    }
  }

  /** register/login: the reply is the very next line on this connection (A.3). */
  async #identify(req: Extract<Request, { type: "register" | "login" }>): Promise<void> {
    const { accounts } = this.#deps;
    this.#out.hold();
    let reply: Record<string, unknown>;
    let user: { name: string } | undefined;
    try {
      if (req.type === "register") {
        const created = await accounts.register(req.username, req.password);
        log.info("Registered {user} from {remote}", { user: created.name, remote: this.#remote });
        reply = registerOk(req.id);
      } else {
        user = await accounts.login(req.username, req.password);
        reply = loginOk(user.name, req.id);
      }
    } catch (err) {
      if (err instanceof ProtocolError && err.code === "auth_failed") {
        log.info("Failed login for {user} from {remote}", {
          user: req.username.slice(0, 64), // any string: bounded in the log
          remote: this.#remote,
        });
      }
      reply = this.#errorFor(err, req.id);
    }
    if (this.#state === "closed") return;
    this.#out.release(encodeBytes(reply));
    if (user && nameKey(user.name) !== this.#key) {
      this.#leave();
      this.#join(user.name, "user");
      log.info("Logged in {user} from {remote}", { user: user.name, remote: this.#remote });
    }
  }

  async #becomeGuest(from: unknown): Promise<void> {
    const name = await this.#deps.accounts.guestName(from);
    if (this.#state === "closed") return;
    // Checked again now: another guest may have taken the name while the store was read.
    if (this.#deps.hub.isOnline(nameKey(name))) {
      throw new ProtocolError("name_taken", `Name "${name}" already exists`);
    }
    this.#join(name, "guest");
    log.info("Guest {user} from {remote}", { user: name, remote: this.#remote });
  }

  #join(name: string, state: "guest" | "user"): void {
    this.#name = name;
    this.#key = nameKey(name);
    this.#state = state;
    if (this.#deps.hub.join(this)) this.#deps.chat.presence(this, "online");
  }

  #leave(): void {
    if (!this.identified) return;
    if (this.#deps.hub.leave(this)) this.#deps.chat.presence(this, "offline");
    log.info("Left {user} from {remote}", { user: this.#name, remote: this.#remote });
    this.#state = "anonymous";
  }

  #requireIdentified(): void {
    if (!this.identified) {
      throw new ProtocolError("not_logged_in", "Log in (or send a message as a guest) first");
    }
  }

  #sendError(code: ErrorCode, message: string): void {
    this.#out.send(encodeBytes(errorReply(code, message)));
  }

  #errorFor(err: unknown, id: RequestId | undefined): Record<string, unknown> {
    if (err instanceof ProtocolError) {
      return errorReply(err.code, err.message, { id, extra: err.extra });
    }
    log.error("Request failed for {remote}: {error}", { remote: this.#remote, error: err });
    return errorReply("server_busy", "Server error, please try again", { id });
  }
}
