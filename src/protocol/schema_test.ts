import assert from "node:assert/strict";
import { ProtocolError } from "../errors.ts";
import { parseRequest, readEnvelope } from "./schema.ts";

const parse = (text: string) => parseRequest(readEnvelope(text));

function rejects(text: string, code: string, message: string | RegExp): void {
  assert.throws(() => parse(text), (err: unknown) => {
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, code);
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

Deno.test("parseRequest() accepts type in any case", () => {
  assert.equal(parse('{"type":"LoGiN","username":"a","password":"b"}').type, "login");
  assert.equal(parse('{"type":"USERS"}').type, "users");
});

Deno.test("parseRequest() treats userlist as users", () => {
  assert.equal(parse('{"type":"userlist"}').type, "users");
});

Deno.test("parseRequest() keeps every field of a message", () => {
  const req = parse('{"type":"message","content":"c","channel":"x","n":1,"id":"r"}');
  assert.equal(req.type, "message");
  if (req.type !== "message") return;
  assert.deepEqual(req.fields, { type: "message", content: "c", channel: "x", n: 1, id: "r" });
  assert.equal(req.id, "r");
});

Deno.test("readEnvelope() refuses what is not a JSON object", () => {
  rejects("{nope", "bad_json", /^Invalid JSON/);
  rejects("[1,2]", "bad_request", "Request must be a JSON object");
  rejects("42", "bad_request", "Request must be a JSON object");
  rejects("null", "bad_request", "Request must be a JSON object");
});

Deno.test("readEnvelope() refuses a missing or non-string type, and a bad id", () => {
  rejects('{"username":"a"}', "bad_request", 'Field "type" is missing');
  rejects('{"type":3}', "bad_request", 'Field "type" must be a string');
  rejects('{"type":"users","id":{}}', "bad_request", 'Field "id" must be a string or a number');
});

Deno.test("parseRequest() names the missing or mistyped field", () => {
  rejects('{"type":"login","password":"x"}', "bad_request", 'Field "username" is missing');
  rejects(
    '{"type":"login","username":1,"password":"x"}',
    "bad_request",
    'Field "username" must be a string',
  );
  rejects('{"type":"message"}', "bad_request", 'Field "content" is missing');
  rejects('{"type":"message","content":5}', "bad_request", 'Field "content" must be a string');
  rejects('{"type":"status"}', "bad_request", 'Field "state" is missing');
});

Deno.test("parseRequest() bounds passwords to 1..1024 bytes", () => {
  rejects(
    '{"type":"register","username":"a","password":""}',
    "bad_request",
    'Field "password" must not be empty',
  );
  const long = "é".repeat(513); // 1026 bytes in UTF-8
  rejects(
    `{"type":"register","username":"a","password":"${long}"}`,
    "bad_request",
    'Field "password" must be at most 1024 bytes',
  );
  assert.equal(
    parse(`{"type":"login","username":"a","password":"${"x".repeat(1024)}"}`).type,
    "login",
  );
});

Deno.test("parseRequest() refuses unknown types, prototype names included", () => {
  rejects('{"type":"fly"}', "unknown_type", 'Unknown type "fly"');
  rejects('{"type":"constructor"}', "unknown_type", 'Unknown type "constructor"');
  rejects('{"type":"__proto__"}', "unknown_type", 'Unknown type "__proto__"');
});

Deno.test("parseRequest() refuses a private message without to, before anything is routed", () => {
  rejects(
    '{"type":"message","subtype":"private","content":"x"}',
    "bad_request",
    'Field "to" is missing',
  );
  rejects(
    '{"type":"message","subtype":"PRIVATE","to":"","content":"x"}',
    "bad_request",
    'Field "to" is missing',
  );
  assert.equal(
    parse('{"type":"message","subtype":"private","to":"global","content":"x"}').type,
    "message",
  );
});

Deno.test('parseRequest() reads {"type":"private"} as a private message, forwarded as one', () => {
  const req = parse('{"type":"private","to":"bob","content":"salut","from":"x"}');
  assert.equal(req.type, "message");
  if (req.type !== "message") return;
  assert.equal(req.to, "bob");
  assert.equal(req.subtype, "private");
  assert.deepEqual(req.fields, {
    type: "message",
    subtype: "private",
    to: "bob",
    content: "salut",
    from: "x",
  });
  rejects('{"type":"private","content":"x"}', "bad_request", 'Field "to" is missing');
  rejects(
    '{"type":"PRIVATE","to":"","content":"x"}',
    "bad_request",
    'Field "to" must not be empty',
  );
});

Deno.test("parseRequest() reads who with or without a channel", () => {
  assert.deepEqual(parse('{"type":"who","channel":"#sisr"}'), {
    type: "who",
    channel: "#sisr",
    id: undefined,
  });
  assert.equal(parse('{"type":"WHO"}').type, "who");
  rejects('{"type":"who","channel":3}', "bad_request", 'Field "channel" must be a string');
});

Deno.test("every bad_request text exists in French too", () => {
  for (
    const [line, fr] of [
      ["{nope", "JSON invalide : un objet JSON par ligne est attendu"],
      ['{"type":"fly"}', 'Type "fly" inconnu'],
      ['{"type":"message"}', 'Le champ "content" est manquant'],
      ['{"type":"status","state":5}', 'Le champ "state" doit être une chaîne de caractères'],
      ['{"type":"status","state":""}', 'Le champ "state" ne doit pas être vide'],
      [
        `{"type":"status","state":"${"x".repeat(65)}"}`,
        'Le champ "state" doit faire au plus 64 caractères',
      ],
      ['{"type":"history","limit":500}', 'Le champ "limit" doit valoir au plus 200'],
      ['{"type":"history","limit":1.5}', 'Le champ "limit" doit être un entier'],
      [
        '{"type":"history","channel":"a","with":"b"}',
        'Le champ "with" ne peut pas être donné avec "channel"',
      ],
      [
        `{"type":"login","username":"a","password":"${"x".repeat(1025)}"}`,
        'Le champ "password" doit faire au plus 1024 octets',
      ],
    ]
  ) {
    assert.throws(() => parse(line), (err: unknown) => {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.text.fr, fr);
      return true;
    });
  }
});
