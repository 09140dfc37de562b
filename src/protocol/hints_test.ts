import assert from "node:assert/strict";
import { closestType, jsonErrorPosition, MASK, maskSecrets } from "./hints.ts";
import { REQUEST_TYPES } from "./schema.ts";

Deno.test("closestType() finds the type a student most likely meant", () => {
  assert.equal(closestType("msg", REQUEST_TYPES), "message");
  assert.equal(closestType("mesage", REQUEST_TYPES), "message");
  assert.equal(closestType("messages", REQUEST_TYPES), "message");
  assert.equal(closestType("LOGIN", REQUEST_TYPES), "login");
  assert.equal(closestType("loggin", REQUEST_TYPES), "login");
  assert.equal(closestType("priv", REQUEST_TYPES), "private");
  assert.equal(closestType("xyzzy", REQUEST_TYPES), undefined);
  assert.equal(closestType("", REQUEST_TYPES), undefined);
});

Deno.test("jsonErrorPosition() says where parsing stopped", () => {
  assert.equal(jsonErrorPosition('{"type":"message" "content":"x"}'), 18);
  assert.equal(jsonErrorPosition('{"type":"message"'), 17);
  assert.equal(jsonErrorPosition('{"type":"ping"}'), undefined);
});

Deno.test("maskSecrets() hides passwords, tokens and tickets, even in a cut or broken line", () => {
  assert.equal(
    maskSecrets('{"type":"login","username":"bob","password":"a\\"b c"}'),
    `{"type":"login","username":"bob","password":"${MASK}"}`,
  );
  assert.equal(
    maskSecrets('{"type":"resume","token":"abc.def"}'),
    `{"type":"resume","token":"${MASK}"}`,
  );
  assert.equal(maskSecrets('{"password" : "hunter2'), `{"password" : "${MASK}`);
  assert.equal(maskSecrets('{"url":"/export?ticket=Zx_9-a"}'), `{"url":"/export?ticket=${MASK}"}`);
  assert.equal(
    maskSecrets('{"type":"message","content":"/login bob hunter2"}'),
    `{"type":"message","content":"/login bob ${MASK}"}`,
  );
  assert.equal(maskSecrets("/register bob hunter2 now"), `/register bob ${MASK}`);
  assert.equal(
    maskSecrets('{"type":"message","content":"hello"}'),
    '{"type":"message","content":"hello"}',
  );
});
