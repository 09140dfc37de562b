// The admin socket's protocol: one JSON request per line from the `user` command to the running
// server, one JSON reply per line back. Names, password hashes sent in, accounts and bans sent
// back (never a hash), never a password.
import { z } from "zod";

const name = z.string().min(1);

/** A request of the `user` command to the running server. */
export const AdminRequest = z.discriminatedUnion("op", [
  z.object({ op: z.literal("get"), name }),
  z.object({ op: z.literal("add"), name, passwordHash: z.string().min(1), admin: z.boolean() }),
  z.object({ op: z.literal("passwd"), name, passwordHash: z.string().min(1) }),
  z.object({ op: z.literal("del"), name }),
  z.object({ op: z.literal("promote"), name }),
  z.object({ op: z.literal("demote"), name }),
  z.object({ op: z.literal("list") }),
  z.object({ op: z.literal("bans") }),
  z.object({ op: z.literal("unban"), name }),
]);

/** A request of the `user` command to the running server. */
export type AdminRequest = z.infer<typeof AdminRequest>;

/** An account as `list` returns it: never its password hash. */
export interface AdminAccount {
  name: string;
  /** Creation time, ms since the epoch. */
  createdAt: number;
  admin?: boolean;
}

/**
 * The server's answer: the account's name as stored (none for `get` of an unknown name) and the
 * sessions it ended, the accounts (`list`) or the running bans with their end in ms (`bans`),
 * or why the request failed.
 */
export type AdminReply =
  | {
    ok: true;
    name?: string;
    sessions?: number;
    users?: AdminAccount[];
    bans?: { name: string; until: number }[];
  }
  | { ok: false; code: "exists" | "missing" | "bad_request" | "failed"; error: string };
