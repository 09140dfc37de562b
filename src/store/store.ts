// Storage seam: the records the server keeps and the small interface every backend implements.

/** A registered account. */
export interface UserRecord {
  /** Display name, NFC, as registered. */
  name: string;
  /** Encoded argon2id hash; never the password. */
  passwordHash: string;
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
}

/** Persistent storage; `session/` sees only this interface. */
export interface Store {
  /** Creates the account atomically; false when the name (case-folded) is already taken. */
  createUser(user: UserRecord): Promise<boolean>;
  /** The account whose case-folded name matches, or null. */
  getUser(name: string): Promise<UserRecord | null>;
  close(): void;
}
