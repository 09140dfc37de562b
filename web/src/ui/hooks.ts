// Small hooks shared by the components: re-render on chat model changes, a ticking clock, the hash.
import { createContext } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import type { ChatModel } from "../core/chat_model.ts";
import { I18n } from "../core/i18n.ts";

/** The page's texts. */
export const I18nContext = createContext<I18n>(new I18n("fr"));

/** The current texts. */
export function useI18n(): I18n {
  return useContext(I18nContext);
}

/** Re-renders the caller whenever the chat model changes. */
export function useChatModel(chat: ChatModel): number {
  const [, setTick] = useState(0);
  useEffect(() => chat.subscribe(() => setTick((n) => n + 1)), [chat]);
  return chat.version;
}

/** Date.now(), refreshed every `ms` while `active`. */
export function useNow(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const handle = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(handle);
  }, [active, ms]);
  return now;
}

/** location.hash, kept up to date. */
export function useHash(): string {
  const [hash, setHash] = useState(() => location.hash);
  useEffect(() => {
    const update = () => setHash(location.hash);
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return hash;
}

/** Whether the page is visible (document.visibilityState). */
export function useVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState === "visible");
  useEffect(() => {
    const update = () => setVisible(document.visibilityState === "visible");
    document.addEventListener("visibilitychange", update);
    return () => document.removeEventListener("visibilitychange", update);
  }, []);
  return visible;
}

/** Whether a media query matches, kept up to date. */
export function useMedia(query: string): boolean {
  const [matches, setMatches] = useState(() => matchMedia(query).matches);
  useEffect(() => {
    const list = matchMedia(query);
    const update = () => setMatches(list.matches);
    list.addEventListener("change", update);
    return () => list.removeEventListener("change", update);
  }, [query]);
  return matches;
}
