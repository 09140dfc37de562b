// Error types shared by every layer: client faults (ProtocolError), close reasons, config errors.
import type { Text } from "./protocol/texts.ts";

/** Machine-readable codes sent in the `code` field of every `error` reply (docs/protocol.md §8). */
export const ERROR_CODES = [
  "bad_json",
  "bad_request",
  "unknown_type",
  "too_large",
  "rate_limited",
  "not_logged_in",
  "auth_failed",
  "user_exists",
  "invalid_name",
  "name_taken",
  "unknown_user",
  "forbidden",
  "server_busy",
  "timeout",
  "slow_consumer",
  "shutting_down",
  "anonymous_cap",
] as const;

/** One of the error codes of docs/protocol.md §8. */
export type ErrorCode = typeof ERROR_CODES[number];

/**
 * A fault of the client: session dispatch turns it into an `error` reply and the connection stays.
 *
 * @example
 * ```ts
 * throw new ProtocolError("bad_request", T.fieldMissing("to"));
 * ```
 */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  /** Extra fields added to the error reply (for example `retry_after_ms`). */
  readonly extra: Readonly<Record<string, unknown>>;

  /** `text` in every language of `--lang`; `message` is its English (for logs). */
  constructor(
    readonly code: ErrorCode,
    readonly text: Text,
    extra: Record<string, unknown> = {},
  ) {
    super(text.en);
    this.extra = extra;
  }
}

/** Every reason a connection can end for. */
export const CLOSE_REASONS = [
  "client_closed",
  "read_error",
  "write_error",
  "slow_consumer",
  "too_large",
  "flood",
  "bad_input",
  "timeout",
  "server_busy",
  "anonymous_cap",
  "kicked",
  "metrics_bridge",
  "metrics_refused",
  "shutting_down",
] as const;

/** Why a connection ended; every close is logged once and counted with one of these. */
export type CloseReason = typeof CLOSE_REASONS[number];

/** Invalid configuration: startup stops with this one-line message. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
