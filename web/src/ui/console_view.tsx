// The teacher console at #/console (WEB.md §6): live figures, who is connected, kick, mute, ban
// and unban, announce, channels (their history opens read-only in the chat), export. Hiding it
// is cosmetic: the server answers `forbidden` to anyone else.
import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import type { Client } from "../core/client.ts";
import { ConsoleModel, type SessionRow } from "../core/console_model.ts";
import { errorInfo } from "../core/connection.ts";
import { describeError } from "../core/describe_error.ts";
import { parseTimestamp } from "../core/i18n.ts";
import { Dialog } from "./dialog.tsx";
import { useI18n, useNow } from "./hooks.ts";
import { statusLabel } from "./people_list.tsx";
import { Sparkline } from "./sparkline.tsx";

const MUTE_MINUTES = [5, 15, 60];
const BAN_DAYS = [1 / 24, 1, 7, 30];
const COLUMNS: [keyof SessionRow, Parameters<ReturnType<typeof useI18n>["t"]>[0]][] = [
  ["user", "colName"],
  ["guest", "colGuest"],
  ["state", "colStatus"],
  ["transport", "colTransport"],
  ["address", "colAddress"],
  ["since", "colSince"],
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

/** The console; `client.admin` decides whether it is offered. */
export function ConsoleView(props: { client: Client }) {
  const t = useI18n();
  const { client } = props;
  const [, setTick] = useState(0);
  const model = useMemo(
    () =>
      new ConsoleModel({
        request: (body) => client.request(body),
        timers: client.timers,
        onLine: (fn) => client.onLine(fn),
        onChange: () => setTick((n) => n + 1),
      }),
    [client],
  );
  const ready = client.status.state === "ready";
  useEffect(() => {
    if (!client.admin || !ready) return;
    model.start();
    void client.refreshChannels();
    return () => model.stop();
  }, [client.admin, ready]);

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

  return (
    <section class="console" aria-labelledby="console-h">
      <h1 id="console-h">{t.t("consoleHeading")}</h1>
      {!client.admin ? <p>{t.t("notAdmin")}</p> : (
        <>
          <p class="console-feedback" role="status">{done}</p>
          <p class="console-feedback error" role="alert">{failed}</p>
          <Live model={model} />
          <Connected model={model} act={act} />
          <Sanctions model={model} act={act} />
          <Announce model={model} act={act} />
          <Channels client={client} />
          <Export model={model} client={client} act={act} />
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
        <p class="hint">{t.t("startedAt", { time: t.until(stats.startedAt) })}</p>
      )}
    </Card>
  );
}

function Connected(props: { model: ConsoleModel; act: Act }) {
  const t = useI18n();
  const { model, act } = props;
  const [sort, setSort] = useState<[keyof SessionRow, number]>(["user", 1]);
  const [banned, setBanned] = useState<string>();
  const [banFor, setBanFor] = useState(3600);
  const [muteFor, setMuteFor] = useState<Record<string, number>>({});
  const rows = [...model.sessions].sort((a, b) =>
    sort[1] * t.collator.compare(String(a[sort[0]]), String(b[sort[0]]))
  );
  const cells = (r: SessionRow) => [
    r.guest ? t.t("yes") : t.t("no"),
    statusLabel(t, r.state),
    r.transport,
    r.address,
    t.until(r.since),
  ];
  return (
    <Card id="connected-h" title={`${t.t("connectedHeading")} (${rows.length})`}>
      {rows.length === 0 ? <p class="hint">{t.t("nobody")}</p> : (
        <div class="table-wrap">
          <table>
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
                const minutes = muteFor[r.user] ?? MUTE_MINUTES[0];
                return (
                  <tr key={i}>
                    <th scope="row">
                      <bdi>{r.user}</bdi>
                    </th>
                    {cells(r).map((v, j) => (
                      <td key={j}>
                        <bdi>{v}</bdi>
                      </td>
                    ))}
                    <td class="actions">
                      <button
                        type="button"
                        onClick={() =>
                          act(() =>
                            model.kick(r.user).then(() => t.t("kickDone", { name: r.user }))
                          )}
                      >
                        {t.t("kick")}
                      </button>
                      <select
                        aria-label={t.t("muteFor", { name: r.user })}
                        value={minutes}
                        onChange={(e) =>
                          setMuteFor({ ...muteFor, [r.user]: Number(e.currentTarget.value) })}
                      >
                        {MUTE_MINUTES.map((m) => (
                          <option key={m} value={m}>{t.duration(m * 60_000)}</option>
                        ))}
                      </select>
                      <button
                        type="button"
                        onClick={() =>
                          act(() =>
                            model.mute(r.user, minutes * 60).then((reply) =>
                              t.t("muteDone", { name: r.user, time: t.until(String(reply.until)) })
                            )
                          )}
                      >
                        {t.t("mute")}
                      </button>
                      <button
                        type="button"
                        onClick={() =>
                          act(() =>
                            model.mute(r.user, 1).then(() => t.t("unmuteDone", { name: r.user }))
                          )}
                      >
                        {t.t("unmute")}
                      </button>
                      <button type="button" class="danger" onClick={() => setBanned(r.user)}>
                        {t.t("ban")}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={banned !== undefined} onClose={() => setBanned(undefined)} labelledBy="ban-h">
        <h2 id="ban-h">{t.t("banConfirmTitle", { name: banned ?? "" })}</h2>
        <p>{t.t("banConfirmText")}</p>
        <label for="ban-for">{t.t("banFor")}</label>{" "}
        <select
          id="ban-for"
          value={banFor}
          onChange={(e) => setBanFor(Number(e.currentTarget.value))}
        >
          {BAN_DAYS.map((d) => (
            <option key={d} value={d * 86400}>{t.duration(d * 86_400_000)}</option>
          ))}
        </select>
        <div class="actions">
          <button type="button" onClick={() => setBanned(undefined)}>{t.t("cancel")}</button>
          <button
            type="button"
            class="danger"
            onClick={() => {
              const name = banned ?? "";
              setBanned(undefined);
              act(() =>
                model.ban(name, banFor).then((reply) =>
                  t.t("banDone", { name, time: t.until(String(reply.until)) })
                )
              );
            }}
          >
            {t.t("banConfirm")}
          </button>
        </div>
      </Dialog>
    </Card>
  );
}

function Sanctions(props: { model: ConsoleModel; act: Act }) {
  const t = useI18n();
  const { model, act } = props;
  const now = useNow(true, 15_000);
  return (
    <Card id="bans-h" title={t.t("bansHeading")}>
      {model.bans.length === 0 ? <p class="hint">{t.t("noBans")}</p> : (
        <ul class="sanctions">
          {model.bans.map(({ user, until }) => (
            <li key={user}>
              <bdi>{user}</bdi>{" "}
              <span class="hint">
                {t.until(until)},{" "}
                {t.t("timeLeft", { time: t.duration(parseTimestamp(until) - now) })}
              </span>{" "}
              <button
                type="button"
                onClick={() =>
                  act(() => model.unban(user).then(() => t.t("unbanDone", { name: user })))}
              >
                {t.t("unban")}
              </button>
            </li>
          ))}
        </ul>
      )}
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

function Channels(props: { client: Client }) {
  const t = useI18n();
  const { client } = props;
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
          {client.channelList.map((c) => (
            <tr key={c.key}>
              <th scope="row">
                <bdi>{c.name}</bdi>
              </th>
              <td>{c.members}</td>
              <td>
                <button
                  type="button"
                  onClick={() => {
                    client.peek(c.name); // read-only in the chat until joined
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

function Export(props: { model: ConsoleModel; client: Client; act: Act }) {
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
