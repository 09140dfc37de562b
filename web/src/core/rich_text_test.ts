import assert from "node:assert/strict";
import { linkify, mentionPattern, mentions, richText, safeHref } from "./rich_text.ts";

Deno.test("linkify() makes http and https addresses links, and leaves the text around them", () => {
  assert.deepEqual(
    linkify("voir https://fr.wikipedia.org/wiki/Paris et http://10.0.0.5:8080/a?b=1#c"),
    [
      { kind: "text", text: "voir " },
      {
        kind: "link",
        text: "https://fr.wikipedia.org/wiki/Paris",
        href: "https://fr.wikipedia.org/wiki/Paris",
      },
      { kind: "text", text: " et " },
      { kind: "link", text: "http://10.0.0.5:8080/a?b=1#c", href: "http://10.0.0.5:8080/a?b=1#c" },
    ],
  );
  assert.deepEqual(linkify("HTTPS://Exemple.fr"), [
    { kind: "link", text: "HTTPS://Exemple.fr", href: "https://exemple.fr/" },
  ]);
});

Deno.test("linkify() leaves the punctuation that ends a sentence out of the address", () => {
  const links = (s: string) => linkify(s).filter((x) => x.kind === "link").map((x) => x.text);
  assert.deepEqual(links("(voir https://a.fr/x)."), ["https://a.fr/x"]);
  assert.deepEqual(links("https://fr.wikipedia.org/wiki/Lyon_(ville), oui"), [
    "https://fr.wikipedia.org/wiki/Lyon_(ville)",
  ]);
  assert.deepEqual(links("« https://a.fr/ » ? https://b.fr!"), ["https://a.fr/", "https://b.fr"]);
});

Deno.test("linkify() never makes a link of another scheme or of a broken address", () => {
  for (
    const text of [
      "javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "file:///etc/passwd",
      "ftp://a.fr/x",
      "xhttp://a.fr",
      "http://",
      "https:///chemin",
      "JaVaScRiPt:https://a.fr",
    ]
  ) {
    const found = linkify(text).filter((s) => s.kind === "link");
    for (const s of found) assert.match(s.kind === "link" ? s.href : "", /^https?:\/\/[^/]/);
    if (!text.includes("https://a.fr")) assert.deepEqual(found, [], text);
  }
  assert.equal(safeHref("javascript:alert(1)"), undefined);
  assert.equal(safeHref("https://a.fr/"), "https://a.fr/");
  // Every character of the text is kept, in order.
  const text = "a https://b.fr/c. d javascript:e";
  assert.equal(linkify(text).map((s) => s.text).join(""), text);
});

Deno.test("a mention is my name as a whole word, any case, with or without @", () => {
  const p = mentionPattern("Léa");
  for (const text of ["léa tu viens ?", "merci @LÉA", "Bravo, Léa!", "(léa)"]) {
    assert.equal(mentions(text, p), true, text);
  }
  for (
    const text of [
      "Léane est là",
      "Aléa",
      "léa_2",
      "Léa-Marie",
      "lea@lycee.fr",
      "léa@lycee.fr",
      "rien",
    ]
  ) {
    assert.equal(mentions(text, p), false, text);
  }
  // A name with regex characters is taken literally; no name, no mention.
  assert.equal(mentions("salut Élodie (Java) !", mentionPattern("Élodie (Java)")), true);
  assert.equal(mentions("salut Élodie Java", mentionPattern("Élodie (Java)")), false);
  assert.equal(mentions("salut", mentionPattern("")), false);
  // A name written decomposed (e + combining accent) is the same name.
  assert.equal(mentions("le\u0301a ?", p), true);
});

Deno.test("richText() marks the mentions outside links and keeps every character", () => {
  const p = mentionPattern("bob");
  const segs = richText("@Bob regarde https://a.fr/bob, bob", p);
  assert.deepEqual(segs, [
    { kind: "mention", text: "@Bob" },
    { kind: "text", text: " regarde " },
    { kind: "link", text: "https://a.fr/bob", href: "https://a.fr/bob" },
    { kind: "text", text: ", " },
    { kind: "mention", text: "bob" },
  ]);
  assert.deepEqual(richText("sans nom", p), [{ kind: "text", text: "sans nom" }]);
  assert.deepEqual(richText("", p), []);
});
