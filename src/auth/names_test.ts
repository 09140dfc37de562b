import assert from "node:assert/strict";
import { ProtocolError } from "../errors.ts";
import { checkName, isValidName, nameKey } from "./names.ts";

function invalid(raw: string, message: RegExp): void {
  assert.throws(() => checkName(raw), (err: unknown) => {
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, "invalid_name");
    assert.match(err.message, message);
    return true;
  });
}

Deno.test("checkName() normalises to NFC", () => {
  assert.equal(checkName("e\u0301lodie"), "\u00e9lodie");
});

Deno.test("checkName() accepts 1..64 characters, counting code points", () => {
  assert.equal(checkName("😀".repeat(64)), "😀".repeat(64));
  invalid("x".repeat(65), /at most 64/);
  invalid("", /empty/);
});

Deno.test("checkName() accepts the names guest modes build: a first name and a 13-digit time", () => {
  const guest = "Invité_Jean-Baptiste_1732890000000";
  assert.ok([...guest].length > 32);
  assert.equal(checkName(guest), guest);
  invalid(`${guest}​`, /control/);
});

Deno.test("checkName() refuses control and format characters", () => {
  invalid("bob\u0000", /control/);
  invalid("b\u200bob", /control/);
  invalid("bob\u202e", /control/);
  invalid("a\nb", /control/);
});

Deno.test("checkName() refuses leading and trailing spaces", () => {
  invalid(" bob", /space/);
  invalid("bob ", /space/);
  assert.equal(checkName("jean luc"), "jean luc");
});

Deno.test("nameKey() makes names differing by case or composition one identity", () => {
  assert.equal(nameKey("Élodie"), nameKey("e\u0301lodie".replace("e", "E")));
  assert.equal(nameKey("ALICE"), nameKey("alice"));
});

Deno.test("isValidName() says whether checkName() would accept a name", () => {
  assert.equal(isValidName("Élodie"), true);
  assert.equal(isValidName("x".repeat(65)), false);
  assert.equal(isValidName("bob\u200b"), false);
});
