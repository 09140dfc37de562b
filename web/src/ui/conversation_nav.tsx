// The conversation list (nav): channels with unread badges, join/create, private conversations
// (as the server lists them: last message, unread count) and a new one with anyone registered.
import { useRef, useState } from "preact/hooks";
import type { ChatModel } from "../core/chat_model.ts";
import type { Conversation } from "../core/chat_state.ts";
import { nameKey } from "../core/wire.ts";
import { Field } from "./field.tsx";
import { useI18n } from "./hooks.ts";

/** The last message's time, for ordering private conversations (newest first). */
function lastTime(c: Conversation): string {
  return c.order[c.order.length - 1]?.timestamp ?? "";
}

/**
 * Conversations in list order: channels as joined (#général first), then private ones, the most
 * recent first (as the server lists them).
 */
export function conversationOrder(chat: ChatModel): Conversation[] {
  const channels: Conversation[] = [];
  for (const key of chat.joined.keys()) {
    const c = chat.state.conversations.get(key);
    if (c) channels.push(c);
  }
  const privates = [...chat.state.conversations.values()]
    .filter((c) => c.kind === "private")
    .sort((a, b) => {
      const ta = lastTime(a);
      const tb = lastTime(b);
      return ta !== tb ? (ta < tb ? 1 : -1) : chat.i18n.collator.compare(a.name, b.name);
    });
  return [...channels, ...privates];
}

function ConvButton(
  props: { conv: Conversation; active: boolean; onOpen: (key: string) => void; me?: string },
) {
  const t = useI18n();
  const { conv } = props;
  const last = conv.kind === "private" ? conv.order[conv.order.length - 1] : undefined;
  const text = last ? last.content.slice(0, 120) : undefined;
  // Always with its sender, so the preview never reads as the message itself.
  const preview = last && text !== undefined
    ? props.me !== undefined && nameKey(last.from) === nameKey(props.me)
      ? t.t("lastFromYou", { text })
      : t.t("lastFrom", { name: last.from, text })
    : undefined;
  return (
    <li>
      <button
        type="button"
        class={`conv${conv.unread > 0 ? " has-unread" : ""}`}
        aria-current={props.active ? "true" : undefined}
        onClick={() => props.onOpen(conv.key)}
      >
        {preview === undefined ? <bdi class="conv-name">{conv.name}</bdi> : (
          <span class="conv-text">
            <bdi class="conv-name">{conv.name}</bdi>
            <span class="conv-last">
              <span class="sr-only">,</span> <bdi>{preview}</bdi>
            </span>
          </span>
        )}
        {conv.unread > 0 && (
          <>
            <span class="badge" aria-hidden="true">{conv.unread}</span>
            <span class="sr-only">, {t.n("badgeUnread", conv.unread)}</span>
          </>
        )}
      </button>
    </li>
  );
}

/** The nav landmark. */
export function ConversationNav(props: { chat: ChatModel; onOpened: () => void }) {
  const t = useI18n();
  const { chat } = props;
  const [name, setName] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const all = conversationOrder(chat);
  const channels = all.filter((c) => c.kind === "channel");
  const privates = all.filter((c) => c.kind === "private");
  const open = (key: string) => {
    chat.open(key);
    props.onOpened();
  };
  const join = async (e: Event) => {
    e.preventDefault();
    if (name.trim() === "" || name.trim() === "#") return;
    const problem = await chat.join(name);
    setError(problem);
    if (!problem) {
      setName("");
      props.onOpened();
    }
  };
  return (
    <>
      <h2 id="channels-h">{t.t("channelsHeading")}</h2>
      <ul class="convs" aria-labelledby="channels-h">
        {channels.map((c) => (
          <ConvButton key={c.key} conv={c} active={c.key === chat.state.active} onOpen={open} />
        ))}
      </ul>
      <form class="join" onSubmit={join}>
        <Field
          id="join-input"
          label={t.t("joinLabel")}
          input={{
            list: "channel-list",
            autocomplete: "off",
            autocapitalize: "none",
            spellcheck: false,
            placeholder: t.t("joinPlaceholder"),
            value: name,
            onInput: (e) => {
              setName(e.currentTarget.value);
              setError(undefined);
            },
          }}
          action={<button type="submit">{t.t("joinButton")}</button>}
          error={error ? { id: "join-error", text: error } : undefined}
        >
          <datalist id="channel-list">
            {chat.channelList.filter((c) => !chat.joined.has(c.key)).map((c) => (
              <option key={c.key} value={c.name}>{t.n("peopleCount", c.members)}</option>
            ))}
          </datalist>
        </Field>
      </form>
      <h2 id="privates-h">{t.t("privatesHeading")}</h2>
      {privates.length === 0
        ? <p class="hint">{t.t("noPrivates")}</p>
        : (
          <ul class="convs" aria-labelledby="privates-h">
            {privates.map((c) => (
              <ConvButton
                key={c.key}
                conv={c}
                active={c.key === chat.state.active}
                onOpen={open}
                me={chat.me}
              />
            ))}
          </ul>
        )}
      <NewPrivate chat={chat} onOpened={props.onOpened} />
    </>
  );
}

/**
 * "Nouvelle conversation": any registered name, online or not, completed from the server's
 * `directory` (docs/protocol.md §11.6) in a native datalist (arrow keys, Enter).
 */
function NewPrivate(props: { chat: ChatModel; onOpened: () => void }) {
  const t = useI18n();
  const { chat } = props;
  const [name, setName] = useState("");
  const [names, setNames] = useState<string[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const asked = useRef("");

  const complete = (prefix: string) => {
    clearTimeout(timer.current);
    // One request per pause in typing: `directory` counts against the request rate.
    timer.current = setTimeout(async () => {
      asked.current = prefix;
      const found = await chat.directory(prefix);
      if (asked.current === prefix) setNames(found);
    }, 150);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    const typed = name.trim();
    if (typed === "") return;
    const key = nameKey(typed);
    const known = names.find((n) => nameKey(n) === key) ??
      (await chat.directory(typed)).find((n) => nameKey(n) === key) ??
      chat.people.get(key)?.name;
    if (known === undefined) {
      setError(t.t("err_unknown_user"));
      return;
    }
    setName("");
    setNames([]);
    setError(undefined);
    chat.openPrivate(known);
    props.onOpened();
  };
  return (
    <form class="join new-private" onSubmit={submit}>
      <Field
        id="private-input"
        label={t.t("newPrivateLabel")}
        input={{
          list: "directory-list",
          autocomplete: "off",
          autocapitalize: "none",
          spellcheck: false,
          placeholder: t.t("newPrivatePlaceholder"),
          value: name,
          onInput: (e) => {
            const v = e.currentTarget.value;
            setName(v);
            setError(undefined);
            complete(v);
          },
        }}
        action={<button type="submit">{t.t("newPrivateButton")}</button>}
        hint={{ id: "private-hint", text: t.t("newPrivateHint") }}
        error={error ? { id: "private-error", text: error } : undefined}
      >
        <datalist id="directory-list">
          {names.map((n) => <option key={n} value={n} />)}
        </datalist>
      </Field>
    </form>
  );
}
