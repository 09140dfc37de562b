// The shape every catalogue must have: the French source's keys, with any text in their place.
import type { fr } from "./fr.ts";

type Widen<T> = T extends string ? string : { readonly [K in keyof T]: string };

/** A catalogue: a missing or extra key, or a plural without its forms, fails `deno check`. */
export type Catalog = { readonly [K in keyof typeof fr]: Widen<(typeof fr)[K]> };

/** Keys of plain texts. */
export type TextKey = {
  [K in keyof Catalog]: Catalog[K] extends string ? K : never;
}[keyof Catalog];

/** Keys of plural texts (`one` and `other`, chosen by Intl.PluralRules). */
export type PluralKey = Exclude<keyof Catalog, TextKey>;
