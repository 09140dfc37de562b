// What every connection does with its outbox, whatever carries it (lines over TCP and TLS,
// frames over WebSocket): a reader too slow is cut off, bytes written are counted, and a
// connection ends once its last line is written or its time is up.
import type { CloseReason } from "../errors.ts";
import type { Events } from "../events.ts";
import { Outbox, type OutboxFailure, type OutboxOptions, type OutboxOwner } from "./outbox.ts";

/**
 * A connection writing through a bounded {@link Outbox}: `LineConn` and `WsConn`. The outbox
 * writes through {@link write}, so the connection is its writer and its owner (no closures for
 * an idle connection).
 */
export abstract class OutboxConn implements OutboxOwner {
  readonly outbox: Outbox;
  readonly #events: Events;

  constructor(events: Events, options: OutboxOptions) {
    this.#events = events;
    this.outbox = new Outbox(this, this, options);
  }

  /** Writes bytes of the outbox to the peer; resolves with how many it took. */
  abstract write(bytes: Uint8Array): Promise<number>;

  /** Closes now; the first reason given is the one kept. */
  abstract close(reason: CloseReason): void;

  /**
   * A queue past its cap or a write past its deadline is a slow consumer, cut off and counted
   * as the limit it hit (docs/protocol.md §5.11); a failed write, the peer gone.
   */
  outboxFailed(failure: OutboxFailure): void {
    if (failure === "write_error") return this.close("write_error");
    const limit = failure === "queue_full" ? "send_queue" : "write_deadline";
    this.#events.emit({ type: "limit", limit });
    this.close("slow_consumer");
  }

  outboxWrote(bytes: number): void {
    this.#events.emit({ type: "bytes_out", bytes });
  }

  /** How long the peer has not been taking what is written to it, in ms; 0 when it keeps up. */
  stalledMs(): number {
    return this.outbox.stalledMs();
  }

  /** Writes what is queued (for at most `timeoutMs`), then closes. */
  async end(reason: CloseReason, timeoutMs: number): Promise<void> {
    await this.outbox.drained(timeoutMs);
    this.close(reason);
  }
}
