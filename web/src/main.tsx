// Entry point: the browser's socket, timers and storage for the chat model, then the page.
// Only the language and the notifications choice go to localStorage; the resume token to the
// tab's sessionStorage.
import { render } from "preact";
import { ChatModel } from "./core/chat_model.ts";
import type { SavedToken, Timers, TokenStore } from "./core/server_link.ts";
import { chooseLang, I18n, type Lang } from "./core/i18n.ts";
import { App } from "./ui/app.tsx";
import "./style.css";

const LANG_KEY = "classcord.lang";
const NOTIFY_KEY = "classcord.notify";
const TOKEN_KEY = "classcord.resume";

const tokens: TokenStore = {
  load(): SavedToken | undefined {
    try {
      const v: unknown = JSON.parse(sessionStorage.getItem(TOKEN_KEY) ?? "null");
      if (v && typeof v === "object") {
        const { token, user, expiresAt } = v as Record<string, unknown>;
        if (
          typeof token === "string" && typeof user === "string" && typeof expiresAt === "number"
        ) {
          return { token, user, expiresAt };
        }
      }
    } catch {
      // storage off, or not ours
    }
    return undefined;
  },
  save(token: SavedToken): void {
    try {
      sessionStorage.setItem(TOKEN_KEY, JSON.stringify(token));
    } catch {
      // storage off: the token lives in memory only (no resume after a reload)
    }
  },
  clear(): void {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // idem
    }
  },
};

const timers: Timers = {
  // The browser returns a number (Node typings, pulled in by npm packages, say otherwise).
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as number,
  clearTimeout: (handle) => clearTimeout(handle),
  now: () => Date.now(),
};

function savedLang(): string | null {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

/** Notifications stay on after F5 or a new visit, while the browser still grants them. */
function savedNotify(): boolean {
  try {
    return localStorage.getItem(NOTIFY_KEY) === "on" && typeof Notification === "function" &&
      Notification.permission === "granted";
  } catch {
    return false;
  }
}

function saveNotify(on: boolean): void {
  try {
    if (on) localStorage.setItem(NOTIFY_KEY, "on");
    else localStorage.removeItem(NOTIFY_KEY);
  } catch {
    // not kept
  }
}

function saveLang(lang: Lang): void {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // not kept
  }
}

const lang = chooseLang(savedLang(), navigator.languages ?? [navigator.language]);
document.documentElement.lang = lang;

const chat = new ChatModel({
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
  createSocket: (url) => new WebSocket(url),
  timers,
  tokens,
  isOnline: () => navigator.onLine,
  lang: new I18n(lang),
});

addEventListener("online", () => chat.link.networkOnline());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") chat.link.pageVisible();
});

// A reload within the token's life resumes; otherwise the form (no socket before it is sent).
chat.resumeSaved();

const root = document.getElementById("app");
if (root) {
  render(
    <App
      chat={chat}
      lang={lang}
      saveLang={saveLang}
      notify={savedNotify()}
      saveNotify={saveNotify}
    />,
    root,
  );
}
