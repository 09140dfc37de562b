// The page: login form, or the chat (header, nav, main, aside) with the teacher console at
// #/console and the inspector at #/inspector (#/inspector/<n>: one connection); live regions;
// language, title and keyboard shortcuts (docs/web.md §7, §8, §9, §12).
import type { VNode } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ChatModel } from "../core/chat_model.ts";
import { I18n, type Lang, LANGS } from "../core/i18n.ts";
import { DEFAULT_KEY } from "../core/wire.ts";
import { Banner } from "./banner.tsx";
import { Composer } from "./composer.tsx";
import { ConversationNav, conversationOrder } from "./conversation_nav.tsx";
import { I18nContext, useChatModel, useHash, useI18n, useMedia, useVisible } from "./hooks.ts";
import { MenuIcon, PeopleIcon } from "./icons.tsx";
import { Login } from "./login.tsx";
import { MessageLog } from "./message_log.tsx";
import { PeopleList } from "./people_list.tsx";
import { Shortcuts } from "./shortcuts.tsx";

const LANG_NAMES: Record<Lang, string> = { fr: "Français", en: "English" };
const INSPECTOR = /^#\/inspector(?:\/(\d+))?$/;

/** What the hash shows beside the chat: the console, or the inspector (of one connection). */
type Page = "chat" | "console" | "inspector";
const MY_STATUSES = ["online", "away", "dnd"] as const;

/** Props of {@link App}. */
export interface AppProps {
  chat: ChatModel;
  lang: Lang;
  /** Keeps the choice (localStorage, with the notifications choice). */
  saveLang: (lang: Lang) => void;
  /** Desktop notifications were turned on by an earlier visit, and are still granted. */
  notify?: boolean;
  /** Keeps the notifications choice for the next visit. */
  saveNotify?: (on: boolean) => void;
}

/** The whole page. */
export function App(props: AppProps) {
  const { chat } = props;
  const [lang, setLang] = useState<Lang>(props.lang);
  const i18n = useMemo(() => new I18n(lang), [lang]);
  useChatModel(chat);

  useEffect(() => {
    document.documentElement.lang = lang;
    chat.setLang(i18n);
  }, [i18n]);

  // The network went away: say so at once, not when a ping times out (`online` is in main.tsx).
  // Whether the page is hidden decides desktop notifications.
  useEffect(() => {
    const offline = () => chat.link.networkOffline();
    const visibility = () => chat.hidden = document.visibilityState !== "visible";
    visibility();
    addEventListener("offline", offline);
    document.addEventListener("visibilitychange", visibility);
    return () => {
      removeEventListener("offline", offline);
      document.removeEventListener("visibilitychange", visibility);
    };
  }, [chat]);

  const unread = chat.state.totalUnread;
  useEffect(() => {
    document.title = unread > 0 ? i18n.t("unreadTitle", { n: unread }) : i18n.t("htmlTitle");
  }, [unread, i18n]);

  const changeLang = (l: Lang) => {
    setLang(l);
    props.saveLang(l);
  };
  const state = chat.status.state;
  const login = state === "idle" || chat.fromForm || chat.me === undefined;
  return (
    <I18nContext.Provider value={i18n}>
      <div class="app" data-state={state}>
        {login
          ? (
            <>
              <header class="top login-top">
                <p class="brand">{i18n.t("appName")}</p>
                <LangSelect lang={lang} onChange={changeLang} />
              </header>
              <Banner chat={chat} />
              <Login chat={chat} />
            </>
          )
          : (
            <Chat
              chat={chat}
              lang={lang}
              onLang={changeLang}
              notify={props.notify}
              saveNotify={props.saveNotify}
            />
          )}
        <LiveRegions chat={chat} />
      </div>
    </I18nContext.Provider>
  );
}

function LangSelect(props: { lang: Lang; onChange: (lang: Lang) => void }) {
  const t = useI18n();
  return (
    <label class="field-inline">
      <span>{t.t("language")}</span>
      <select
        value={props.lang}
        onChange={(e) => {
          const v = e.currentTarget.value;
          const l = LANGS.find((x) => x === v);
          if (l) props.onChange(l);
        }}
      >
        {LANGS.map((l) => <option key={l} value={l} lang={l}>{LANG_NAMES[l]}</option>)}
      </select>
    </label>
  );
}

/** The polite status region (≤ one text every 2 s) and the alert region. */
function LiveRegions(props: { chat: ChatModel }) {
  return (
    <>
      <div class="sr-only" role="status" aria-live="polite" aria-atomic="true">
        <span key={props.chat.notice.n}>{props.chat.notice.text}</span>
      </div>
      <div class="sr-only" role="alert" aria-atomic="true">
        <span key={props.chat.alert.n}>{props.chat.alert.text}</span>
      </div>
    </>
  );
}

function isTyping(target: EventTarget | null): boolean {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function Chat(
  props: Pick<AppProps, "chat" | "lang" | "notify" | "saveNotify"> & {
    onLang: (lang: Lang) => void;
  },
) {
  const t = useI18n();
  const { chat } = props;
  const hash = useHash();
  const inspector = INSPECTOR.exec(hash);
  const page: Page = hash === "#/console" ? "console" : inspector ? "inspector" : "chat";
  const target = inspector?.[1] === undefined ? undefined : Number(inspector[1]);
  const consoleView = page !== "chat";
  // The console and the inspector have no composer: their skip link goes to their heading.
  const skipTo = page === "chat" ? "composer" : `${page}-h`;
  const visible = useVisible();
  const [drawer, setDrawer] = useState<"nav" | "people" | undefined>(undefined);
  const [help, setHelp] = useState(false);
  const [notify, setNotify] = useState(props.notify ?? false);
  const navToggle = useRef<HTMLButtonElement>(null);
  const peopleToggle = useRef<HTMLButtonElement>(null);
  const conv = chat.state.conversations.get(chat.state.active ?? DEFAULT_KEY) ??
    chat.state.conversations.get(DEFAULT_KEY);

  const closeDrawer = () => {
    const toggle = drawer === "nav" ? navToggle : peopleToggle;
    setDrawer(undefined);
    toggle.current?.focus();
  };
  const opened = () => {
    setDrawer(undefined);
    if (consoleView) location.hash = "#/";
  };

  useEffect(() => {
    if (consoleView) chat.state.setViewing(false);
    setDrawer(undefined);
  }, [consoleView]);

  // Opt-in desktop notifications: a mention of me or a private message while the page is hidden.
  useEffect(() => {
    chat.onNotify = notify
      ? (n) => {
        const shown = new Notification(n.title, { body: n.body, tag: n.conv, lang: t.lang });
        shown.onclick = () => {
          focus();
          chat.open(n.conv);
          shown.close();
        };
      }
      : undefined;
    return () => chat.onNotify = undefined;
  }, [chat, notify, t]);

  // A drawer takes the focus when it opens.
  useEffect(() => {
    if (!drawer) return;
    document.querySelector<HTMLElement>(`#${drawer} .drawer-close`)?.focus();
  }, [drawer]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey && !e.ctrlKey && !e.metaKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
        e.preventDefault();
        const list = conversationOrder(chat);
        const n = list.length;
        if (n === 0) return;
        const i = Math.max(0, list.findIndex((c) => c.key === chat.state.active));
        const dir = e.key === "ArrowDown" ? 1 : -1;
        let next: string | undefined;
        for (let k = 1; k <= n; k++) {
          const c = list[(((i + dir * k) % n) + n) % n];
          if (!e.shiftKey || c.unread > 0) {
            next = c.key;
            break;
          }
        }
        if (next !== undefined) {
          chat.open(next);
          if (location.hash !== "" && location.hash !== "#/") location.hash = "#/";
        }
        return;
      }
      if (e.key === "?" && !e.altKey && !e.ctrlKey && !e.metaKey && !isTyping(e.target)) {
        e.preventDefault();
        setHelp(true);
        return;
      }
      if (e.key === "Escape" && drawer && !help) closeDrawer();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [chat, drawer, help]);

  const state = chat.status.state;
  // One set of tools: in the header, or at the end of the drawer on phones.
  const phone = useMedia("(max-width: 760px)");
  const tools = (
    <Tools
      chat={chat}
      page={page}
      lang={props.lang}
      onLang={props.onLang}
      onHelp={() => setHelp(true)}
      drawer={phone}
      notify={notify}
      onNotify={(on) => {
        setNotify(on);
        props.saveNotify?.(on);
      }}
    />
  );
  return (
    <>
      <a
        class="skip"
        href={`#${skipTo}`}
        onClick={(e) => {
          e.preventDefault();
          document.getElementById(skipTo)?.focus();
        }}
      >
        {page === "console"
          ? t.t("skipToConsole")
          : page === "inspector"
          ? t.t("skipToInspector")
          : t.t("skipToComposer")}
      </a>
      <header class="top">
        <button
          ref={navToggle}
          type="button"
          class="icon-btn nav-toggle"
          aria-expanded={drawer === "nav" ? "true" : "false"}
          aria-controls="nav"
          onClick={() => setDrawer(drawer === "nav" ? undefined : "nav")}
        >
          <MenuIcon />
          <span class="sr-only">{t.t("openNav")}</span>
          {chat.state.totalUnread > 0 && <span class="dot-unread" aria-hidden="true" />}
        </button>
        <p class="brand">{t.t("appName")}</p>
        <p class="conn" data-conn={state}>
          <span class="dot" aria-hidden="true" />
          {t.t(`state_${state}`)}
        </p>
        {!phone && tools}
        {!consoleView && (
          <button
            ref={peopleToggle}
            type="button"
            class="icon-btn people-toggle"
            aria-expanded={drawer === "people" ? "true" : "false"}
            aria-controls="people"
            onClick={() => setDrawer(drawer === "people" ? undefined : "people")}
          >
            <PeopleIcon />
            <span class="sr-only">{t.t("openPeople")}</span>
          </button>
        )}
      </header>
      <Banner chat={chat} />
      <div class={consoleView ? "layout wide" : "layout"}>
        <nav
          id="nav"
          aria-label={t.t("conversations")}
          class={drawer === "nav" ? "open" : undefined}
        >
          <button type="button" class="drawer-close" onClick={closeDrawer}>
            {t.t("closePanel")}
          </button>
          <ConversationNav chat={chat} onOpened={opened} />
          {/* In the nav, not the header: the header is full at 1100 px with a teacher's link. */}
          <p class="nav-inspector">
            <a
              class="inspector-link"
              href="#/inspector"
              aria-current={page === "inspector" ? "page" : undefined}
              aria-describedby="inspector-about"
            >
              {t.t("inspectorLink")}
            </a>
            <span id="inspector-about" class="hint">{t.t("inspectorAbout")}</span>
          </p>
          {phone && tools}
        </nav>
        <main id="main" aria-labelledby={consoleView ? `${page}-h` : "conv-title"}>
          {page === "console"
            ? <Loaded load={loadConsole} chat={chat} />
            : page === "inspector"
            ? <Loaded key={target} load={loadInspector} chat={chat} target={target} />
            : conv && (
              <>
                <div class="conv-head">
                  <h1 id="conv-title">
                    <bdi>{conv.name}</bdi>
                  </h1>
                  {chat.joined.has(conv.key) && conv.key !== DEFAULT_KEY && (
                    <button
                      type="button"
                      onClick={() => chat.leave(conv.key)}
                    >
                      {t.t("leave", { conv: conv.name })}
                    </button>
                  )}
                </div>
                <MessageLog chat={chat} conv={conv} visible={visible} />
                {conv.kind === "channel" && !chat.joined.has(conv.key)
                  ? (
                    <p class="composer read-only">
                      {t.t("readOnly")}{" "}
                      <button type="button" onClick={() => chat.join(conv.name)}>
                        {t.t("joinButton")}
                      </button>
                    </p>
                  )
                  : (
                    <Composer
                      chat={chat}
                      conv={conv}
                      maxBytes={chat.link.limits.maxLineBytes}
                    />
                  )}
              </>
            )}
        </main>
        {!consoleView && (
          <aside
            id="people"
            aria-labelledby="people-h"
            class={drawer === "people" ? "open" : undefined}
          >
            <button type="button" class="drawer-close" onClick={closeDrawer}>
              {t.t("closePanel")}
            </button>
            <PeopleList chat={chat} onOpened={opened} />
          </aside>
        )}
        {drawer && <div class="scrim" onClick={closeDrawer} aria-hidden="true" />}
      </div>
      <Shortcuts open={help} onClose={() => setHelp(false)} />
    </>
  );
}

// The console and the inspector are loaded when first shown, so a student's first visit stays
// within its budget (docs/web.md §10); the browser keeps the module once loaded.
const loadConsole = () => import("./on_demand.ts").then((m) => m.ConsoleView);
const loadInspector = () => import("./on_demand.ts").then((m) => m.InspectorView);

type View = (props: { chat: ChatModel; target?: number }) => VNode;

/** A view loaded on demand: "Chargement…" meanwhile, the network error if it fails. */
function Loaded(props: { load: () => Promise<View>; chat: ChatModel; target?: number }) {
  const t = useI18n();
  const [view, setView] = useState<{ View: View } | "failed">();
  useEffect(() => {
    let live = true;
    props.load().then(
      (View) => live && setView({ View }),
      () => live && setView("failed"),
    );
    return () => {
      live = false;
    };
  }, [props.load]);
  if (view === "failed") return <p class="error" role="alert">{t.t("err_network")}</p>;
  if (!view) return <p class="hint" role="status">{t.t("loading")}</p>;
  return <view.View chat={props.chat} target={props.target} />;
}

/** Status, language, shortcuts, logout: in the header, or in the drawer on phones. */
function Tools(props: {
  chat: ChatModel;
  page: Page;
  lang: Lang;
  onLang: (lang: Lang) => void;
  onHelp: () => void;
  drawer?: boolean;
  notify: boolean;
  onNotify: (on: boolean) => void;
}) {
  const t = useI18n();
  const { chat, page } = props;
  return (
    <div class={props.drawer ? "tools tools-drawer" : "tools tools-top"}>
      {chat.admin && (
        <a class="console-link" href={page === "console" ? "#/" : "#/console"}>
          {page === "console" ? t.t("chatLink") : t.t("consoleLink")}
        </a>
      )}
      <label class="field-inline">
        <span>{t.t("myStatus")}</span>
        <select
          value={chat.myStatus}
          disabled={chat.status.state !== "ready"}
          onChange={(e) => chat.setStatus(e.currentTarget.value)}
        >
          {MY_STATUSES.map((s) => <option key={s} value={s}>{t.t(`status_${s}`)}</option>)}
        </select>
      </label>
      <NotifyToggle chat={chat} on={props.notify} onChange={props.onNotify} />
      <LangSelect lang={props.lang} onChange={props.onLang} />
      <button
        type="button"
        class="icon-btn"
        aria-keyshortcuts="?"
        onClick={props.onHelp}
        title={t.t("shortcutsTitle")}
      >
        <span aria-hidden="true">?</span>
        <span class="sr-only">{t.t("shortcutsButton")}</span>
      </button>
      <button type="button" onClick={() => chat.logout()}>{t.t("logout")}</button>
    </div>
  );
}

/**
 * "Notifications": off until the student ticks it; the browser's permission is asked only then,
 * on that click (browsers refuse a request that no gesture started).
 */
function NotifyToggle(props: { chat: ChatModel; on: boolean; onChange: (on: boolean) => void }) {
  const t = useI18n();
  const supported = typeof Notification === "function";
  const toggle = async (wanted: boolean) => {
    if (!wanted) return props.onChange(false);
    if (!supported) return props.chat.tell(t.t("notifyUnsupported"));
    const permission = Notification.permission === "default"
      ? await Notification.requestPermission()
      : Notification.permission;
    if (permission === "granted") props.onChange(true);
    else {
      props.onChange(false);
      props.chat.tell(t.t("notifyDenied"));
    }
  };
  return (
    <label class="field-inline notify-toggle">
      <input
        type="checkbox"
        checked={props.on}
        disabled={!supported}
        onChange={(e) => void toggle(e.currentTarget.checked)}
      />
      <span>{t.t("notifyLabel")}</span>
    </label>
  );
}
