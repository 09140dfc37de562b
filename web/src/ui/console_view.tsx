// The teacher console at #/console (docs/web.md §9): live figures, who is connected, every
// connection's protocol health with a way into the inspector (§12), kick, mute, ban and unban, running mutes and bans, sanctions on names that are not connected (completed from
// `directory`), announce, channels (their history opens read-only in the chat), export. Hiding it
// is cosmetic: the server answers `forbidden` to anyone else, and to a teacher acting on their own
// name (docs/protocol.md §11.7), whose row offers no action.
import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import type { ChatModel } from "../core/chat_model.ts";
import {
  ConsoleModel,
  isSelf,
  type SessionRow,
  sinceText,
  whenText,
} from "../core/console_model.ts";
import { errorInfo } from "../core/server_link.ts";
import { describeError } from "../core/describe_error.ts";
import { parseTimestamp } from "../core/i18n.ts";
import { Dialog } from "./dialog.tsx";
import type { ConnInfo } from "../core/inspector_model.ts";
import { ConnCard, useInspectorTexts } from "./inspector_view.tsx";
import { useI18n, useNow } from "./hooks.ts";
import { statusLabel } from "./people_list.tsx";
import { Sparkline } from "./sparkline.tsx";

const MUTE_MINUTES = [5, 15, 60];
const BAN_DAYS = [1 / 24, 1, 7, 30];
/** Durations offered for a name typed in: the mutes', then the bans' (seconds). */
const SANCTION_SECONDS = [
  ...new Set([...MUTE_MINUTES.map((m) => m * 60), ...BAN_DAYS.map((d) => d * 86400)]),
];
const COLUMNS: [keyof SessionRow, Parameters<ReturnType<typeof useI18n>["t"]>[0]][] = [
  ["user", "colName"],
  ["guest", "colGuest"],
  ["state", "colStatus"],
  ["transport", "colTransport"],
  ["address", "colAddress"],
  ["since", "colConnectedFor"],
];

/** Runs an action; its outcome text goes to the console's status (or alert) line. */
type Act = (work: () => Promise<string>) => void;

function Card(props: { id: string; title: string; children: ComponentChildren }) {
  return (
    <section class="card" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** Asks for a ban's confirmation: the name, and the duration offered first (seconds). */
type AskBan = (name: string, seconds?: number) => void;

/** The console; `chat.admin` decides whether it is offered. */
export function ConsoleView(props: { chat: ChatModel }) {
  const t = useI18n();
  const { chat } = props;
  const [, setTick] = useState(0);
  const model = useMemo(
    () =>
      new ConsoleModel({
        request: (body) => chat.request(body),
        timers: chat.timers,
        onLine: (fn) => chat.onLine(fn),
        onChange: () => setTick((n) => n + 1),
      }),
    [chat],
  );
  const ready = chat.status.state === "ready";
  useEffect(() => {
    if (!chat.admin || !ready) return;
    model.start();
    void chat.refreshChannels();
    return () => model.stop();
  }, [chat.admin, ready]);

  const [done, setDone] = useState("");
  const [failed, setFailed] = useState("");
  const act: Act = (work) => {
    setDone("");
    setFailed("");
    work().then(setDone, (e) => {
      const d = describeError(t, errorInfo(e), "admin");
      setFailed(d.detail ? `${d.text} (${d.detail})` : d.text);
    });
  };
  const [banned, setBanned] = useState<{ name: string; seconds: number }>();
  const askBan: AskBan = (name, seconds = 3600) => setBanned({ name, seconds });

  return (
    <section class="console" aria-labelledby="console-h">
      {/* The skip link's target on this page (app.tsx): the heading takes the focus. */}
      <h1 id="console-h" tabIndex={-1}>{t.t("consoleHeading")}</h1>
      {!chat.admin ? <p>{t.t("notAdmin")}</p> : (
        <>
          <p class="console-feedback" role="status">{done}</p>
          <p class="console-feedback error" role="alert">{failed}</p>
          <Live model={model} />
          <Connected model={model} me={chat.me} act={act} askBan={askBan} />
          <Connections model={model} me={chat.me} />
          <Mutes model={model} act={act} />
          <Sanctions model={model} act={act} />
          <ByName
            model={model}
            me={chat.me}
            act={act}
            askBan={askBan}
            refuse={(text) => {
              setDone("");
              setFailed(text);
            }}
          />
          <Announce model={model} act={act} />
          <Channels chat={chat} />
          <Export model={model} chat={chat} act={act} />
          <BanDialog
            model={model}
            act={act}
            banned={banned}
            onClose={() => setBanned(undefined)}
          />
        </>
      )}
    </section>
  );
}

function Live(props: { model: ConsoleModel }) {
  const t = useI18n();
  const { stats, rate, spark } = props.model;
  const c = stats?.connections ?? {};
  const hits = Object.entries(stats?.limitHits ?? {}).filter(([, n]) => n > 0);
  const figures: [string, ComponentChildren][] = [
    [t.t("connectionsLabel"), `TCP ${c.tcp ?? 0} · TLS ${c.tls ?? 0} · WS ${c.ws ?? 0}`],
    [
      t.t("sessionsLabel"),
      `${stats?.sessions.user ?? 0} ${t.t("usersLabel")} · ${stats?.sessions.guest ?? 0} ${
        t.t("guestsLabel")
      }`,
    ],
    [
      t.t("messagesPerSecond"),
      <span key="rate">
        {rate === undefined ? "–" : t.num(Math.round(rate * 10) / 10)}{" "}
        <Sparkline values={spark} label={t.t("sparklineLabel")} />
      </span>,
    ],
    [t.t("messagesTotal"), t.num(stats?.messages ?? 0)],
    [t.t("limitHits"), hits.map(([k, n]) => `${k} ${n}`).join(" · ") || "0"],
  ];
  return (
    <Card id="live-h" title={t.t("liveHeading")}>
      <dl class="figures">
        {figures.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      {stats?.startedAt && (
        <p class="hint started">
          {t.t("startedWhen", {
            when: whenText(t, stats.startedAt),
            time: sinceText(t, stats.startedAt),
          })}
        </p>
      )}
    </Card>
  );
}

function Connected(props: { model: ConsoleModel; me?: string; act: Act; askBan: AskBan }) {
  const t = useI18n();
  const { model, act } = props;
  const [sort, setSort] = useState<[keyof SessionRow, number]>(["user", 1]);
  const [minutes, setMinutes] = useState(MUTE_MINUTES[0]);
  useNow(true, 30_000); // "connected for" moves on
  const rows = [...model.sessions].sort((a, b) =>
    sort[1] * t.collator.compare(String(a[sort[0]]), String(b[sort[0]]))
  );
  const labels = Object.fromEntries(COLUMNS.map(([key, label]) => [key, t.t(label)]));
  return (
    <Card id="connected-h" title={`${t.t("connectedHeading")} (${rows.length})`}>
      {rows.length === 0 ? <p class="hint">{t.t("nobody")}</p> : (
        <>
          <p class="mute-duration">
            <label for="mute-minutes">{t.t("muteDuration")}</label>{" "}
            <select
              id="mute-minutes"
              value={minutes}
              onChange={(e) => setMinutes(Number(e.currentTarget.value))}
            >
              {MUTE_MINUTES.map((m) => <option key={m} value={m}>{t.duration(m * 60_000)}</option>)}
            </select>
          </p>
          <div class="table-wrap">
            <table class="people-table">
              <thead>
                <tr>
                  {COLUMNS.map(([key, label]) => (
                    <th
                      key={key}
                      scope="col"
                      aria-sort={sort[0] !== key
                        ? undefined
                        : sort[1] > 0
                        ? "ascending"
                        : "descending"}
                    >
                      <button
                        type="button"
                        class="link"
                        onClick={() => setSort([key, sort[0] === key ? -sort[1] : 1])}
                      >
                        {t.t(label)}
                      </button>
                    </th>
                  ))}
                  <th scope="col">{t.t("colActions")}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r, i) => {
                  const muted = model.muteOf(r.user);
                  const self = isSelf(r.user, props.me);
                  const cells: [keyof SessionRow, string][] = [
                    ["guest", r.guest ? t.t("yes") : t.t("no")],
                    ["state", statusLabel(t, r.state)],
                    ["transport", r.transport],
                    ["address", r.address],
                    ["since", sinceText(t, r.since)],
                  ];
                  return (
                    <tr key={i} data-self={self ? "" : undefined}>
                      <th scope="row">
                        <bdi>{r.user}</bdi>
                        {muted && <span class="tag muted-tag">{t.t("mutedTag")}</span>}
                      </th>
                      {cells.map(([key, v]) => (
                        <td key={key} class={`col-${key}`} data-label={labels[key]}>
                          {key === "since"
                            ? <time dateTime={r.since} title={whenText(t, r.since)}>{v}</time>
                            : <bdi>{v}</bdi>}
                        </td>
                      ))}
                      <td class="actions">
                        {self ? <span class="hint">{t.t("selfRow")}</span> : (
                          <>
                            <button
                              type="button"
                              onClick={() =>
                                act(() =>
                                  model.kick(r.user).then(() => t.t("kickDone", { name: r.user }))
                                )}
                            >
                              {t.t("kick")}
                            </button>
                            {muted
                              ? (
                                <button
                                  type="button"
                                  onClick={() =>
                                    act(() =>
                                      model.unmute(r.user).then(() =>
                                        t.t("unmuteDone", { name: r.user })
                                      )
                                    )}
                                >
                                  {t.t("unmute")}
                                </button>
                              )
                              : (
                                <button
                                  type="button"
                                  onClick={() =>
                                    act(() =>
                                      model.mute(r.user, minutes * 60).then((reply) =>
                                        t.t("muteDoneWhen", {
                                          name: r.user,
                                          when: whenText(t, String(reply.until)),
                                        })
                                      )
                                    )}
                                >
                                  {t.t("mute")}
                                </button>
                              )}
                            <button
                              type="button"
                              class="danger"
                              onClick={() => props.askBan(r.user)}
                            >
                              {t.t("ban")}
                            </button>
                          </>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Card>
  );
}

/** Every connection, identified or not, with its protocol health and the way into the inspector. */
function Connections(props: { model: ConsoleModel; me?: string }) {
  const t = useInspectorTexts();
  const list = props.model.connections;
  // The teacher's own web pages: the server refuses to inspect the page asking (docs/protocol.md
  // §11.8), and which of them is this one, the page cannot tell.
  const own = (c: ConnInfo) =>
    c.transport === "ws" && c.helloed && c.name !== undefined && isSelf(c.name, props.me);
  return (
    <Card id="conns-h" title={`${t.t("connectionsHeading")} (${list.length})`}>
      <p class="hint">{t.t("connectionsHint")}</p>
      {list.length === 0 ? <p class="hint">{t.t("noConnections")}</p> : (
        <ul class="conn-list">
          {list.map((c) => (
            <ConnCard key={c.conn} info={c}>
              {own(c) ? <p class="hint">{t.t("ownWebConn")}</p> : (
                <a
                  class="button"
                  href={`#/inspector/${c.conn}`}
                  aria-label={t.t("inspectConn", { n: c.conn })}
                >
                  {t.t("inspect")}
                </a>
              )}
            </ConnCard>
          ))}
        </ul>
      )}
    </Card>
  );
}

function BanDialog(
  props: {
    model: ConsoleModel;
    act: Act;
    banned: { name: string; seconds: number } | undefined;
    onClose: () => void;
  },
) {
  const t = useI18n();
  const { banned } = props;
  const [banFor, setBanFor] = useState(3600);
  useEffect(() => {
    if (banned) setBanFor(banned.seconds);
  }, [banned]);
  const offered = [...new Set([...BAN_DAYS.map((d) => d * 86400), banFor])].sort((a, b) => a - b);
  return (
    <Dialog open={banned !== undefined} onClose={props.onClose} labelledBy="ban-h">
      <h2 id="ban-h">{t.t("banConfirmTitle", { name: banned?.name ?? "" })}</h2>
      <p>{t.t("banConfirmText")}</p>
      <label for="ban-for">{t.t("banFor")}</label>{" "}
      <select
        id="ban-for"
        value={banFor}
        onChange={(e) => setBanFor(Number(e.currentTarget.value))}
      >
        {offered.map((s) => <option key={s} value={s}>{t.duration(s * 1000)}</option>)}
      </select>
      <div class="actions">
        <button type="button" onClick={props.onClose}>{t.t("cancel")}</button>
        <button
          type="button"
          class="danger"
          onClick={() => {
            const name = banned?.name ?? "";
            props.onClose();
            props.act(() =>
              props.model.ban(name, banFor).then((reply) =>
                t.t("banDoneWhen", { name, when: whenText(t, String(reply.until)) })
              )
            );
          }}
        >
          {t.t("banConfirm")}
        </button>
      </div>
    </Dialog>
  );
}

/** One running sanction: the name as the server spells it, its end, and the button lifting it. */
function SanctionItem(
  props: {
    user: string;
    until: string;
    now: number;
    lift: string;
    liftLabel: string;
    onLift: () => void;
  },
) {
  const t = useI18n();
  return (
    <li>
      <bdi class="who">{props.user}</bdi>{" "}
      <span class="hint">
        {t.t("endsWhen", {
          when: whenText(t, props.until),
          time: t.duration(parseTimestamp(props.until) - props.now),
        })}
      </span>{" "}
      <button type="button" aria-label={props.liftLabel} onClick={props.onLift}>
        {props.lift}
      </button>
    </li>
  );
}

function Mutes(props: { model: ConsoleModel; act: Act }) {
  const t = useI18n();
  const { model, act } = props;
  useNow(true, 15_000); // re-rendered so that times left go down
  const now = Date.now(); // now, not when the last tick was: a new mute reads its full length
  // A mute that ran out since the last `mutes` reply is not shown while the next one comes.
  const mutes = model.mutes.filter((m) => parseTimestamp(m.until) > now);
  return (
    <Card id="mutes-h" title={t.t("mutesHeading")}>
      {mutes.length === 0 ? <p class="hint">{t.t("noMutes")}</p> : (
        <ul class="sanctions mutes">
          {mutes.map(({ user, until }) => (
            <SanctionItem
              key={user}
              user={user}
              until={until}
              now={now}
              lift={t.t("liftMute")}
              liftLabel={t.t("liftMuteOf", { name: user })}
              onLift={() =>
                act(() => model.unmute(user).then(() => t.t("unmuteDone", { name: user })))}
            />
          ))}
        </ul>
      )}
    </Card>
  );
}

function Sanctions(props: { model: ConsoleModel; act: Act }) {
  const t = useI18n();
  const { model, act } = props;
  useNow(true, 15_000);
  const now = Date.now();
  return (
    <Card id="bans-h" title={t.t("bansHeading")}>
      {model.bans.length === 0 ? <p class="hint">{t.t("noBans")}</p> : (
        <ul class="sanctions bans">
          {model.bans.map(({ user, until }) => (
            <SanctionItem
              key={user}
              user={user}
              until={until}
              now={now}
              lift={t.t("unban")}
              liftLabel={t.t("unbanOf", { name: user })}
              onLift={() =>
                act(() => model.unban(user).then(() => t.t("unbanDone", { name: user })))}
            />
          ))}
        </ul>
      )}
    </Card>
  );
}

/** Mute or ban a name typed in, online or not; registered names are completed as it is typed. */
function ByName(
  props: {
    model: ConsoleModel;
    me?: string;
    act: Act;
    askBan: AskBan;
    /** Shows why nothing was sent. */
    refuse: (text: string) => void;
  },
) {
  const t = useI18n();
  const { model } = props;
  const [name, setName] = useState("");
  const [seconds, setSeconds] = useState(SANCTION_SECONDS[0]);
  const user = name.trim();
  // One's own name is not offered: the server refuses it (docs/protocol.md §11.7).
  const names = model.names.filter((n) => !isSelf(n, props.me));
  // Typed in full anyway: said here, as the server's refusal would read "teachers only".
  const self = isSelf(user, props.me);
  return (
    <Card id="by-name-h" title={t.t("sanctionHeading")}>
      <form
        class="by-name"
        onSubmit={(e) => {
          e.preventDefault();
          if (!user) return;
          if (self) return props.refuse(t.t("notOnYourself"));
          props.act(() =>
            model.mute(user, seconds).then((reply) => {
              setName("");
              model.complete("");
              return t.t("muteDoneWhen", { name: user, when: whenText(t, String(reply.until)) });
            })
          );
        }}
      >
        <label for="by-name-user">{t.t("sanctionName")}</label>
        <input
          id="by-name-user"
          list="by-name-list"
          autocomplete="off"
          spellcheck={false}
          aria-describedby="by-name-hint"
          value={name}
          onInput={(e) => {
            setName(e.currentTarget.value);
            model.complete(e.currentTarget.value);
          }}
        />
        <datalist id="by-name-list">
          {names.map((n) => <option key={n} value={n} />)}
        </datalist>
        <p id="by-name-hint" class="hint">{t.t("sanctionHint")}</p>
        <label for="by-name-for">{t.t("sanctionDuration")}</label>
        <select
          id="by-name-for"
          value={seconds}
          onChange={(e) => setSeconds(Number(e.currentTarget.value))}
        >
          {SANCTION_SECONDS.map((s) => <option key={s} value={s}>{t.duration(s * 1000)}</option>)}
        </select>
        <div class="actions">
          <button type="submit" disabled={!user}>{t.t("mute")}</button>
          <button
            type="button"
            class="danger"
            disabled={!user}
            onClick={() => self ? props.refuse(t.t("notOnYourself")) : props.askBan(user, seconds)}
          >
            {t.t("banAsk")}
          </button>
        </div>
      </form>
    </Card>
  );
}

function Announce(props: { model: ConsoleModel; act: Act }) {
  const t = useI18n();
  const [text, setText] = useState("");
  const content = text.trim();
  return (
    <Card id="announce-h" title={t.t("announceHeading")}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (content) {
            props.act(() =>
              props.model.announce(content).then(() => {
                setText("");
                return t.t("announceDone");
              })
            );
          }
        }}
      >
        <label for="announce-text">{t.t("announceLabel")}</label>
        <textarea
          id="announce-text"
          rows={2}
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
        />
        {content && (
          <ul class="messages preview" aria-label={t.t("announcePreview")}>
            <li class="msg announce">
              <strong class="tag announce-tag">{t.t("announceTag")}</strong>
              <bdi class="text">
                {content}
              </bdi>
            </li>
          </ul>
        )}
        <button type="submit" class="primary" disabled={!content}>{t.t("announceSend")}</button>
      </form>
    </Card>
  );
}

function Channels(props: { chat: ChatModel }) {
  const t = useI18n();
  const { chat } = props;
  return (
    <Card id="chan-h" title={t.t("channelsConsoleHeading")}>
      <table>
        <thead>
          <tr>
            <th scope="col">{t.t("colChannel")}</th>
            <th scope="col">{t.t("colMembers")}</th>
            <th scope="col">{t.t("colActions")}</th>
          </tr>
        </thead>
        <tbody>
          {chat.channelList.map((c) => (
            <tr key={c.key}>
              <th scope="row">
                <bdi>{c.name}</bdi>
              </th>
              <td>{c.members}</td>
              <td>
                <button
                  type="button"
                  onClick={() => {
                    chat.peek(c.name); // read-only in the chat until joined
                    location.hash = "#/";
                  }}
                >
                  {t.t("showHistory")}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

function Export(props: { model: ConsoleModel; chat: ChatModel; act: Act }) {
  const t = useI18n();
  const [format, setFormat] = useState("csv");
  const [channel, setChannel] = useState("");
  const [bom, setBom] = useState(true);
  return (
    <Card id="export-h" title={t.t("exportHeading")}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          props.act(() =>
            props.model.exportTicket(format === "json" ? "json" : "csv", channel, bom).then(
              (url) => {
                download(url);
                return t.t("exportStarted");
              },
            )
          );
        }}
      >
        <label for="export-format">{t.t("exportFormat")}</label>
        <select
          id="export-format"
          value={format}
          onChange={(e) => setFormat(e.currentTarget.value)}
        >
          <option value="csv">CSV</option>
          <option value="json">JSON</option>
        </select>
        <label for="export-channel">{t.t("exportChannel")}</label>
        <input
          id="export-channel"
          autocomplete="off"
          value={channel}
          onInput={(e) => setChannel(e.currentTarget.value)}
        />
        {format === "csv" && (
          <label class="check">
            <input
              type="checkbox"
              checked={bom}
              onChange={(e) => setBom(e.currentTarget.checked)}
            />
            {t.t("exportBom")}
          </label>
        )}
        <button type="submit" class="primary">{t.t("exportButton")}</button>
      </form>
    </Card>
  );
}

/** Follows a one-time export URL of this origin as a download: the page stays. */
function download(url: string): void {
  const target = new URL(url, location.href);
  if (target.origin !== location.origin) throw new Error("Export URL on another origin");
  const a = document.createElement("a");
  a.href = target.href;
  a.download = "";
  document.body.append(a);
  a.click();
  a.remove();
}
