// Deno KV implementation of Store.
//
// Key layout (one place, so every later key stays consistent):
//   ["users", nameKey(name)] -> UserRecord     case-folded NFC name; one account per key
import { nameKey } from "../auth/names.ts";
import type { Store, UserRecord } from "./store.ts";

/** A {@link Store} over one Deno KV database. */
export class KvStore implements Store {
  private constructor(readonly kv: Deno.Kv) {}

  /**
   * Opens (and creates) the database at `path`, creating its folder; `":memory:"` keeps nothing.
   *
   * @throws {Error} `Cannot open store "path": reason`
   */
  static async open(path: string): Promise<KvStore> {
    try {
      if (path !== ":memory:") {
        const slash = path.lastIndexOf("/");
        if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
      }
      return new KvStore(await Deno.openKv(path));
    } catch (err) {
      throw new Error(`Cannot open store "${path}": ${(err as Error).message}`, { cause: err });
    }
  }

  async createUser(user: UserRecord): Promise<boolean> {
    const key = ["users", nameKey(user.name)];
    // check(versionstamp null) makes the create atomic: of two concurrent registrations of
    // one name, exactly one commit succeeds.
    const result = await this.kv.atomic().check({ key, versionstamp: null }).set(key, user)
      .commit();
    return result.ok;
  }

  async getUser(name: string): Promise<UserRecord | null> {
    return (await this.kv.get<UserRecord>(["users", nameKey(name)])).value;
  }

  close(): void {
    this.kv.close();
  }
}
