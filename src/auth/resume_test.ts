import assert from "node:assert/strict";
import { RESUME_TTL_MS, ResumeTokens } from "./resume.ts";

const secret = () => Promise.resolve(new Uint8Array(32).fill(7));

Deno.test("ResumeTokens: a token works for its account's hash until it expires", async () => {
  const tokens = new ResumeTokens(secret);
  const now = 1_700_000_000_000;
  const token = await tokens.issue("Élodie", "hash-1", now);
  assert.deepEqual(tokens.read(token), { user: "Élodie", expires: now + RESUME_TTL_MS });
  assert.equal(await tokens.check(token, "hash-1", now + RESUME_TTL_MS - 1), true);
  assert.equal(await tokens.check(token, "hash-1", now + RESUME_TTL_MS), false, "expired");
  assert.equal(await tokens.check(token, "hash-2", now), false, "a new password ends it");
});

Deno.test("ResumeTokens: an altered or foreign token does not work", async () => {
  const tokens = new ResumeTokens(secret);
  const other = new ResumeTokens(() => Promise.resolve(new Uint8Array(32).fill(8)));
  const now = 1_700_000_000_000;
  const token = await tokens.issue("alice", "h", now);
  const [payload, mac] = token.split(".");
  const forged = btoa(JSON.stringify({ u: "prof", e: now + 1e9, n: "x" }))
    .replaceAll("=", "");
  for (
    const bad of [`${forged}.${mac}`, `${payload}.${mac.slice(0, -2)}AA`, payload, "", "a.b.c"]
  ) {
    assert.equal(await tokens.check(bad, "h", now), false, bad);
  }
  assert.equal(await other.check(token, "h", now), false, "another store's secret");
  assert.equal(tokens.read("%%%"), undefined);
});
