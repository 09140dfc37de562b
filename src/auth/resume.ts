// Resume tokens: what a web page sends instead of the password to log in again after losing its
// connection. A token names the account and its end, with an HMAC-SHA-256 under the store's
// secret that also covers the account's password hash: a new password ends every token.

/** How long a token works: a Wi-Fi drop, a sleeping laptop, a server restart (docs/web.md §3.5). */
export const RESUME_TTL_MS = 15 * 60_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a token says, once its MAC is checked. */
export interface ResumeClaim {
  /** The account's name, as stored. */
  user: string;
  /** Ms since the epoch when it stops working. */
  expires: number;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** Makes and checks tokens under one secret (the store's). */
export class ResumeTokens {
  readonly #secret: () => Promise<Uint8Array>;
  #key?: Promise<CryptoKey>;

  /** `secret` is read on first use, so a server that never issues a token never touches it. */
  constructor(secret: () => Promise<Uint8Array>) {
    this.#secret = secret;
  }

  #hmac(): Promise<CryptoKey> {
    this.#key ??= this.#secret().then((raw) =>
      crypto.subtle.importKey(
        "raw",
        raw as Uint8Array<ArrayBuffer>,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign", "verify"],
      )
    );
    return this.#key;
  }

  /** A token for `user` (its current password hash), valid until `now + RESUME_TTL_MS`. */
  async issue(user: string, passwordHash: string, now: number): Promise<string> {
    const nonce = base64url(crypto.getRandomValues(new Uint8Array(12)));
    const payload = base64url(
      encoder.encode(JSON.stringify({ u: user, e: now + RESUME_TTL_MS, n: nonce })),
    );
    const mac = await crypto.subtle.sign("HMAC", await this.#hmac(), signed(payload, passwordHash));
    return `${payload}.${base64url(new Uint8Array(mac))}`;
  }

  /** What a token claims, before its MAC can be checked (the account's hash is needed first). */
  read(token: string): ResumeClaim | undefined {
    const [payload] = token.split(".");
    const bytes = fromBase64url(payload ?? "");
    if (!bytes) return undefined;
    try {
      const { u, e } = JSON.parse(decoder.decode(bytes));
      return typeof u === "string" && typeof e === "number" ? { user: u, expires: e } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether `token` was made here for this password hash (in constant time) and is not over. */
  async check(token: string, passwordHash: string, now: number): Promise<boolean> {
    const parts = token.split(".");
    if (parts.length !== 2) return false;
    const claim = this.read(token);
    const mac = fromBase64url(parts[1]);
    if (!claim || !mac || claim.expires <= now) return false;
    return await crypto.subtle.verify(
      "HMAC",
      await this.#hmac(),
      mac as Uint8Array<ArrayBuffer>,
      signed(parts[0], passwordHash),
    );
  }
}

function signed(payload: string, passwordHash: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${payload}\n${passwordHash}`) as Uint8Array<ArrayBuffer>;
}
