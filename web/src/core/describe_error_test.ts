import assert from "node:assert/strict";
import { describeError } from "./describe_error.ts";
import { I18n } from "./i18n.ts";

const fr = new I18n("fr");
const en = new I18n("en");
const today = "2026-11-25";

Deno.test("describeError() translates by code, whatever the server's language", () => {
  assert.equal(
    describeError(fr, { code: "auth_failed", message: "Login failed." }).text,
    "Nom d'utilisateur ou mot de passe incorrect",
  );
  assert.equal(
    describeError(fr, { code: "auth_failed" }, "resume").text,
    "Session expirée, reconnectez-vous",
  );
  assert.equal(describeError(en, { code: "user_exists" }).text, "This name is already taken");
  assert.equal(
    describeError(fr, { code: "rate_limited", retryAfterMs: 1490 }).text,
    "Trop de demandes\u202f: réessayez dans 2 s",
  );
  assert.equal(
    describeError(fr, { code: "server_busy" }, "send").text,
    "Message non enregistré, renvoyez-le",
  );
});

Deno.test("describeError() tells a kick, a ban and a mute apart", () => {
  assert.equal(
    describeError(fr, { code: "forbidden", message: "Disconnected by an administrator" }, "close")
      .text,
    "Déconnecté par un enseignant",
  );
  const ban = describeError(fr, {
    code: "forbidden",
    message: "Banned until 2026-11-25T10:50:12.531",
    until: "2026-11-25T10:50:12.531",
  }, "close").text;
  assert.ok(ban.startsWith("Banni jusqu'à "), ban);
  assert.equal(
    describeError(fr, { code: "forbidden", until: `${today}T10:50:00.000` }, "login").text
      .startsWith("Ce nom est banni jusqu'à"),
    true,
  );
  assert.equal(
    describeError(fr, { code: "forbidden", retryAfterMs: 298_798 }, "send").text,
    "Vous êtes rendu muet encore 4 min 59 s",
  );
  assert.equal(
    describeError(fr, { code: "forbidden" }, "leave").text,
    "On ne peut pas quitter #général",
  );
});

Deno.test("describeError() keeps the server's text as a detail when the translation is vaguer", () => {
  const d = describeError(fr, { code: "bad_request", message: 'Field "to" is missing' });
  assert.equal(d.text, "Demande refusée par le serveur");
  assert.equal(d.detail, 'Field "to" is missing');
  const unknown = describeError(en, { code: "brand_new", message: "Something new" });
  assert.equal(unknown.text, "Server error");
  assert.equal(unknown.detail, "Something new");
  for (
    const code of [
      "bad_json",
      "unknown_type",
      "too_large",
      "not_logged_in",
      "invalid_name",
      "name_taken",
      "unknown_user",
      "timeout",
      "shutting_down",
      "network",
      "closed",
      "session_expired",
    ]
  ) {
    assert.ok(describeError(fr, { code }).text.length > 0, code);
    assert.doesNotMatch(describeError(fr, { code }).text, /err_/);
  }
});
