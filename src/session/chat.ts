// Chat requests of identified sessions: global and private messages, status, user list.
import { nameKey } from "../auth/names.ts";
import type { Clock } from "../clock.ts";
import { ProtocolError } from "../errors.ts";
import type { Hub, Member } from "../hub/hub.ts";
import { encodeBytes } from "../protocol/encode.ts";
import { formatTimestamp, forwardedMessage, statusEvent, usersReply } from "../protocol/replies.ts";
import { isPrivate, type Request, type RequestId } from "../protocol/schema.ts";

type MessageRequest = Extract<Request, { type: "message" }>;

/** Routes chat traffic through the hub; every line is encoded once, whatever the fan-out. */
export class Chat {
  readonly #hub: Hub;
  readonly #clock: Clock;

  constructor(deps: { hub: Hub; clock: Clock }) {
    this.#hub = deps.hub;
    this.#clock = deps.clock;
  }

  /**
   * Forwards a message with `from` and `timestamp` set by the server, and no echo (A.2).
   *
   * @throws {ProtocolError} `unknown_user`
   * when its recipient is not online and the sender gave an `id` (legacy senders without one
   * are not answered, as the old server did)
   */
  message(sender: Member, req: MessageRequest): void {
    const line = encodeBytes(
      forwardedMessage(req.fields, sender.name, formatTimestamp(this.#clock.now())),
    );
    if (!isPrivate(req)) {
      this.#hub.broadcast(line, sender);
      return;
    }
    const key = nameKey(req.to!);
    if (this.#hub.isOnline(key)) {
      this.#hub.sendTo(key, line, sender);
    } else if (req.id !== undefined) {
      throw new ProtocolError("unknown_user", `User "${req.to}" is not online`);
    }
  }

  /** Relays a presence state verbatim to every other identified session. */
  status(sender: Member, state: string): void {
    this.#hub.broadcast(encodeBytes(statusEvent(sender.name, state)), sender);
  }

  /** Announces that a name came online or went offline. */
  presence(member: Member, state: "online" | "offline"): void {
    this.#hub.broadcast(encodeBytes(statusEvent(member.name, state)), member);
  }

  /** The `users` reply: each online name once, as plain strings. */
  users(id?: RequestId): Record<string, unknown> {
    return usersReply(this.#hub.names(), id);
  }
}
