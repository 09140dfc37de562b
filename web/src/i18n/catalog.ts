// The shape every catalogue must have: the French source's keys, with any text in their place.
import type { fr } from "./fr.ts";

type Widen<T> = T extends string ? string : { readonly [K in keyof T]: string };

/**
 * A catalogue with the keys of the French source `S`: a missing or extra key, or a plural without
 * its forms, fails `deno check`.
 */
export type CatalogOf<S> = { readonly [K in keyof S]: Widen<S[K]> };

/** The page's catalogue. */
export type Catalog = CatalogOf<typeof fr>;

/** Keys of plain texts of a catalogue. */
export type TextKeyOf<S> = { [K in keyof S]: S[K] extends string ? K : never }[keyof S] & string;

/** Keys of plural texts (`one` and `other`, chosen by Intl.PluralRules). */
export type PluralKeyOf<S> = Exclude<keyof S, TextKeyOf<S>> & string;

/** Keys of the page's plain texts. */
export type TextKey = TextKeyOf<Catalog>;

/** Keys of the page's plural texts. */
export type PluralKey = PluralKeyOf<Catalog>;
