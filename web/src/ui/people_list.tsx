// Who is online (aside), or who is in the open channel (`who`): names with their status; a click
// opens the private conversation.
import type { ChatModel, Person } from "../core/chat_model.ts";
import type { I18n } from "../core/i18n.ts";
import { nameKey } from "../core/wire.ts";
import { useI18n } from "./hooks.ts";

const KNOWN = ["online", "away", "dnd"];

/** Known statuses get a label; any other (relayed verbatim) is shown as sent. */
export function statusLabel(t: I18n, state: string): string {
  const key = `status_${state.toLowerCase()}`;
  return t.has(key) ? t.t(key) : state;
}

/** The aside landmark's content. */
export function PeopleList(props: { chat: ChatModel; onOpened: () => void }) {
  const t = useI18n();
  const { chat } = props;
  const active = chat.state.active;
  const members = active !== undefined ? chat.members.get(active) : undefined;
  const channel = members && active !== undefined
    ? chat.state.conversations.get(active)
    : undefined;
  const people: Person[] = members && channel
    ? members.map((name) =>
      chat.people.get(nameKey(name)) ?? { name, state: "online", guest: false }
    ).sort((a, b) => t.collator.compare(a.name, b.name))
    : chat.sortedPeople();
  const me = chat.me ? nameKey(chat.me) : "";
  return (
    <>
      <h2 id="people-h">
        {channel ? t.t("membersHeading", { conv: channel.name }) : t.t("peopleHeading")}{" "}
        <span class="count">({t.num(people.length)})</span>
      </h2>
      <ul class="people" aria-labelledby="people-h">
        {people.map((p) => {
          const label = statusLabel(t, p.state);
          const self = nameKey(p.name) === me;
          return (
            <li key={nameKey(p.name)}>
              <button
                type="button"
                class="person"
                disabled={self}
                title={self ? undefined : t.t("writeTo", { name: p.name })}
                onClick={() => {
                  chat.openPrivate(p.name);
                  props.onOpened();
                }}
              >
                <span
                  class={`dot ${KNOWN.includes(p.state) ? p.state : "other"}`}
                  aria-hidden="true"
                />
                <bdi class="person-name">{p.name}</bdi>
                <span class="status">
                  <span class="sr-only">,</span> <bdi>{label}</bdi>
                  {self && ` (${t.t("you")})`}
                  {p.guest && `, ${t.t("guest")}`}
                </span>
              </button>
            </li>
          );
        })}
      </ul>
    </>
  );
}
