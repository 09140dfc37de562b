import assert from "node:assert/strict";
import { FakeClock } from "../../tests/helpers/fake_clock.ts";
import { ExportTickets } from "./export_tickets.ts";

Deno.test("ExportTickets: a ticket is random, works once, and for a minute", () => {
  const clock = new FakeClock();
  const tickets = new ExportTickets(clock);
  const spec = { format: "csv" as const, channel: "#sisr", bom: true };
  const a = tickets.issue(spec);
  const b = tickets.issue(spec);
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(a, b);
  assert.deepEqual(tickets.take(a), spec);
  assert.equal(tickets.take(a), undefined, "used once");
  clock.advance(60_000);
  assert.equal(tickets.take(b), undefined, "expired");
  assert.equal(tickets.take("nope"), undefined);
});
