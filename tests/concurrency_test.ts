// Many clients at once: logins in parallel, and the registration race that exactly one wins.
import assert from "node:assert/strict";
import { FLOOD_LIMITS, startTestServer } from "./helpers/test_server.ts";

Deno.test("100 clients logging in at once all succeed and all see each other", async () => {
  // 100 connections from one address: over the per-address caps, which are tested elsewhere.
  await using srv = await startTestServer({ limits: FLOOD_LIMITS });
  const clients = await Promise.all(Array.from({ length: 100 }, () => srv.connect()));
  try {
    const replies = await Promise.all(clients.map((c, i) => c.loginAs(`user${i}`)));
    assert.deepEqual(replies.map((r) => r.username), clients.map((_, i) => `user${i}`));
    // A fresh anonymous connection receives no status lines: its next line is the reply.
    await using observer = await srv.connect();
    const users = (await observer.request({ type: "users" })).users as string[];
    assert.equal(users.length, 100);
    assert.equal(new Set(users).size, 100);
  } finally {
    for (const c of clients) c.close();
  }
});

Deno.test("of 20 concurrent registrations of one name, exactly one wins", async () => {
  await using srv = await startTestServer();
  const clients = await Promise.all(Array.from({ length: 20 }, () => srv.connect()));
  try {
    const replies = await Promise.all(
      clients.map((c, i) => c.request({ type: "register", username: "same", password: `p${i}` })),
    );
    const ok = replies.filter((r) => r.status === "ok");
    assert.equal(ok.length, 1);
    assert.ok(replies.every((r) => r.status === "ok" || r.code === "user_exists"));
    const winner = replies.findIndex((r) => r.status === "ok");
    assert.equal(
      (await clients[0].request(
        { type: "login", username: "same", password: `p${winner}` },
      )).status,
      "ok",
      "the winner's password is the one stored",
    );
  } finally {
    for (const c of clients) c.close();
  }
});
