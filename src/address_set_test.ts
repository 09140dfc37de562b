import assert from "node:assert/strict";
import { AddressSet } from "./address_set.ts";

Deno.test("AddressSet.parse() reads addresses and CIDR ranges of both families", () => {
  const set = AddressSet.parse("127.0.0.0/8, ::1,10.20.0.0/16,2001:db8::/32,192.168.1.7");
  for (
    const yes of ["127.0.0.1", "127.255.0.3", "::1", "10.20.30.40", "2001:db8::5", "192.168.1.7"]
  ) {
    assert.ok(set.has(yes), yes);
  }
  for (const no of ["128.0.0.1", "::2", "10.21.0.1", "2001:db9::1", "192.168.1.8", "", "host"]) {
    assert.ok(!set.has(no), no);
  }
});

Deno.test("AddressSet matches an IPv4 client seen through an IPv6 socket", () => {
  const set = AddressSet.parse("10.0.0.0/8");
  assert.ok(set.has("::ffff:10.1.2.3"));
  assert.ok(!set.has("::ffff:11.1.2.3"));
});

Deno.test("AddressSet.parse() takes none or an empty list as nothing trusted", () => {
  for (const list of ["none", "", " , "]) {
    assert.ok(!AddressSet.parse(list).has("127.0.0.1"), list);
  }
});

Deno.test("AddressSet.parse() names the entry it cannot read", () => {
  for (
    const [list, bad] of [
      ["10.0.0.0/33", "10.0.0.0/33"],
      ["lan,::1", "lan"],
      ["1.2.3", "1.2.3"],
      ["10.0.0.0/8/8", "10.0.0.0/8/8"],
      ["::1/129", "::1/129"],
    ]
  ) {
    assert.throws(
      () => AddressSet.parse(list),
      new RangeError(`"${bad}" is neither an IP address nor a CIDR range`),
    );
  }
});
