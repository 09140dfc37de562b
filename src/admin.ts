// The server's side of the admin socket: account changes asked by the `user` command while the
// server runs, made in its store and felt at once by the sessions concerned; the accounts and
// the running bans listed, and a ban lifted, from the same command.
import { getLogger } from "@logtape/logtape";
import { nameKey } from "./auth/names.ts";
import type { Clock } from "./clock.ts";
import type { Bus } from "./hub/bus.ts";
import type { AdminReply, AdminRequest } from "./protocol/admin.ts";
import { T } from "./protocol/texts.ts";
import { AccountError, changeAccount, liftBan, runningBans } from "./store/accounts.ts";
import type { AccountStore } from "./store/store.ts";

const log = getLogger(["classcord", "session"]);

/**
 * Answers one request of the `user` command. A new password, a deleted account or a lost
 * administrator right ends the account's sessions, which log in again as what they now are. A
 * ban lifted here leaves a running mute of the name (held by the sessions' moderation) as it is.
 */
export async function answerAdmin(
  req: AdminRequest,
  deps: { store: AccountStore; bus: Bus; clock: Clock },
): Promise<AdminReply> {
  const { store, bus, clock } = deps;
  try {
    if (req.op === "get") {
      const user = await store.getUser(req.name);
      return user ? { ok: true, name: user.name } : { ok: true };
    }
    if (req.op === "list") {
      const users = [];
      for await (const { name, createdAt, admin } of store.listUsers()) {
        users.push(admin ? { name, createdAt, admin } : { name, createdAt });
      }
      return { ok: true, users };
    }
    if (req.op === "bans") {
      return { ok: true, bans: await runningBans(store, { now: clock.now() }) };
    }
    if (req.op === "unban") {
      const name = await liftBan(store, req.name, { now: clock.now() });
      log.info("Moderation: ban on {user} lifted from the command line", { user: name });
      return { ok: true, name };
    }
    const name = await changeAccount(store, req, { now: clock.now() });
    const ends = req.op === "passwd" || req.op === "del" || req.op === "demote";
    const sessions = ends ? bus.disconnect(nameKey(name), "forbidden", T.accountChanged()) : 0;
    log.info("Account {user}: {op} from the command line, {sessions} sessions ended", {
      user: name,
      op: req.op,
      sessions,
    });
    return { ok: true, name, sessions };
  } catch (err) {
    if (err instanceof AccountError) return { ok: false, code: err.code, error: err.message };
    log.error("Admin request {op} failed: {error}", { op: req.op, error: err });
    const what = "name" in req ? `change "${req.name}"` : `answer ${req.op}`;
    return { ok: false, code: "failed", error: `Cannot ${what}: ${(err as Error).message}` };
  }
}
