// The conversation list (nav): channels with unread badges, join/create, private conversations.
import { useState } from "preact/hooks";
import type { Client } from "../core/client.ts";
import type { Conversation } from "../core/store.ts";
import { useI18n } from "./hooks.ts";

/** Conversations in list order: channels as joined (#général first), then private ones. */
export function conversationOrder(client: Client): Conversation[] {
  const channels: Conversation[] = [];
  for (const key of client.joined.keys()) {
    const c = client.store.conversations.get(key);
    if (c) channels.push(c);
  }
  const privates = [...client.store.conversations.values()]
    .filter((c) => c.kind === "private")
    .sort((a, b) => client.i18n.collator.compare(a.name, b.name));
  return [...channels, ...privates];
}

function ConvButton(props: { conv: Conversation; active: boolean; onOpen: (key: string) => void }) {
  const t = useI18n();
  const { conv } = props;
  return (
    <li>
      <button
        type="button"
        class={`conv${conv.unread > 0 ? " has-unread" : ""}`}
        aria-current={props.active ? "true" : undefined}
        onClick={() => props.onOpen(conv.key)}
      >
        <bdi class="conv-name">{conv.name}</bdi>
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
export function ConversationNav(props: { client: Client; onOpened: () => void }) {
  const t = useI18n();
  const { client } = props;
  const [name, setName] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const all = conversationOrder(client);
  const channels = all.filter((c) => c.kind === "channel");
  const privates = all.filter((c) => c.kind === "private");
  const open = (key: string) => {
    client.open(key);
    props.onOpened();
  };
  const join = async (e: Event) => {
    e.preventDefault();
    if (name.trim() === "" || name.trim() === "#") return;
    const problem = await client.join(name);
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
          <ConvButton key={c.key} conv={c} active={c.key === client.store.active} onOpen={open} />
        ))}
      </ul>
      <form class="join" onSubmit={join}>
        <label for="join-input">{t.t("joinLabel")}</label>
        <div class="row">
          <input
            id="join-input"
            list="channel-list"
            autocomplete="off"
            autocapitalize="none"
            spellcheck={false}
            placeholder={t.t("joinPlaceholder")}
            value={name}
            onInput={(e) => {
              setName(e.currentTarget.value);
              setError(undefined);
            }}
            aria-invalid={error ? "true" : undefined}
            aria-describedby={error ? "join-error" : undefined}
          />
          <button type="submit">{t.t("joinButton")}</button>
        </div>
        <datalist id="channel-list">
          {client.channelList.filter((c) => !client.joined.has(c.key)).map((c) => (
            <option key={c.key} value={c.name}>{t.n("peopleCount", c.members)}</option>
          ))}
        </datalist>
        {error && <p id="join-error" class="error" role="alert">{error}</p>}
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
                active={c.key === client.store.active}
                onOpen={open}
              />
            ))}
          </ul>
        )}
    </>
  );
}
