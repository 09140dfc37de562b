// The inspector at #/inspector, and at #/inspector/<n> for one connection from the teacher console
// (docs/web.md §12): the connections watched with their protocol health, and the log of their lines
// with the server's reading of each and a hint in words. The state is core/inspector_model.ts;
// this file only shows it. Lines are text nodes in a <pre>: selectable, wrapped, never markup.
import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ChatModel } from "../core/chat_model.ts";
import {
  around,
  clockTime,
  type ConnInfo,
  type Entry,
  type Health,
  hintText,
  InspectorModel,
  type InspectorTexts,
  inspectorTexts,
  MAX_ENTRIES,
} from "../core/inspector_model.ts";
import { whenText } from "../core/console_model.ts";
import { describeError } from "../core/describe_error.ts";
import { useI18n } from "./hooks.ts";

/** The inspector's texts in the page's language. */
export function useInspectorTexts(): InspectorTexts {
  const i18n = useI18n();
  return useMemo(() => inspectorTexts(i18n), [i18n]);
}

/** The inspector; `target` is a connection's number (a teacher's choice from the console). */
export function InspectorView(props: { chat: ChatModel; target?: number }) {
  const t = useInspectorTexts();
  const { chat, target } = props;
  const [, setTick] = useState(0);
  const model = useMemo(
    () =>
      new InspectorModel({
        request: (body) => chat.request(body),
        onLine: (fn) => chat.onLine(fn),
        onChange: () => setTick((n) => n + 1),
        timers: chat.timers,
        target,
        admin: chat.admin,
      }),
    [chat, target, chat.admin],
  );
  // Asked again after each reconnection (the server forgot the watch with the old socket), and
  // `uninspect` when the view is left.
  const ready = chat.status.state === "ready";
  useEffect(() => {
    if (!ready) return;
    void model.start();
    return () => model.stop();
  }, [model, ready]);

  const conns = model.connections();
  const mine = target === undefined;
  return (
    <section class="inspector" aria-labelledby="inspector-h">
      {/* The skip link's target on this page (app.tsx). */}
      <h1 id="inspector-h" tabIndex={-1}>
        {mine ? t.t("inspectorHeading") : t.t("inspectorHeadingConn", { n: target })}
      </h1>
      <p class="hint">{mine ? t.t("inspectorIntro") : t.t("inspectorIntroConn")}</p>
      {!mine && (
        <p>
          <a href="#/console">{t.t("backToConsole")}</a>
        </p>
      )}
      {model.refused && (
        <p class="error" role="alert">
          {t.t("inspectorRefused", {
            reason: describeError(t.i18n, { code: model.refused }, "admin").text,
          })}
        </p>
      )}
      {!mine && (model.gone || conns.some((c) => c.state === "closed")) && (
        <p class="console-feedback error" role="status">{t.t("inspectorGone")}</p>
      )}
      <section class="card" aria-labelledby="conns-h">
        <h2 id="conns-h">{mine ? t.t("inspectorConnsHeading") : t.t("inspectorConnHeading")}</h2>
        {conns.length === 0
          ? <p class="hint">{mine ? t.t("noOtherConns") : ""}</p>
          : (
            <ul class="conn-list">
              {conns.map((c) => <ConnCard key={c.key} info={c} />)}
            </ul>
          )}
      </section>
      <Log model={model} chat={chat} mine={mine} multi={conns.length > 1} />
    </section>
  );
}

/** One connection: its number, state, transport, address, opening time and figures. */
export function ConnCard(props: { info: ConnInfo; children?: ComponentChildren }) {
  const t = useInspectorTexts();
  const c = props.info;
  const state = `connState_${c.state}`;
  return (
    <li class="conn-card" data-state={c.state}>
      <p class="conn-title">
        <strong>{t.t("connNumber", { n: c.conn })}</strong>
        {c.name !== undefined && (
          <>
            {" · "}
            <bdi>{c.name}</bdi>
          </>
        )}
        <span class="tag">{t.has(state) ? t.t(state) : c.state}</span>
      </p>
      <p class="conn-where">
        {c.transport.toUpperCase()} · <bdi>{c.address}</bdi> ·{" "}
        <time dateTime={c.since}>{t.t("connSince", { when: whenText(t.i18n, c.since) })}</time>
      </p>
      <HealthFigures health={c.health} />
      {props.children}
    </li>
  );
}

/** A connection's protocol health: the five counts and the last error with its time. */
export function HealthFigures(props: { health: Health }) {
  const t = useInspectorTexts();
  const h = props.health;
  const figures: [string, number][] = [
    [t.t("healthLines"), h.lines],
    [t.t("healthErrors"), h.errors],
    [t.t("healthBadJson"), h.badJson],
    [t.t("healthUnknownTypes"), h.unknownTypes],
    [t.t("healthLimits"), h.limits],
  ];
  return (
    <dl class="health">
      {figures.map(([label, n], i) => (
        <div key={label} data-bad={i > 0 && n > 0 ? "" : undefined}>
          <dt>{label}</dt>
          <dd>{t.i18n.num(n)}</dd>
        </div>
      ))}
      <div class="last-error">
        <dt>{t.t("healthLastError")}</dt>
        <dd>
          {h.lastError
            ? (
              <>
                {t.t("healthLastErrorAt", {
                  code: h.lastError.code,
                  time: clockTime(h.lastError.at),
                })}{" "}
                <span class="detail">
                  <bdi>{h.lastError.text}</bdi>
                </span>
              </>
            )
            : t.t("healthNone")}
        </dd>
      </div>
    </dl>
  );
}

function Log(props: { model: InspectorModel; chat: ChatModel; mine: boolean; multi: boolean }) {
  const t = useInspectorTexts();
  const { model, mine } = props;
  const entries = model.entries;
  // The log follows the newest line while the reader is at its bottom, and stays put otherwise.
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    const el = box.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  });
  // Each line says which connection it is from when there are several; a number the server gave
  // again after a restart is told apart by the connection's opening time.
  const conns = [...model.conns.values()];
  const labels = new Map(conns.map((c) => {
    const label = t.t("connNumber", { n: c.conn });
    const twice = conns.some((o) => o !== c && o.conn === c.conn);
    return [c.key, twice ? `${label} · ${clockTime(c.since)}` : label];
  }));
  return (
    <section class="card wire-card" aria-labelledby="wire-h">
      <div class="wire-head">
        <h2 id="wire-h">{t.t("inspectorLinesHeading")}</h2>
        <div class="wire-tools">
          <button
            type="button"
            aria-pressed={model.paused ? "true" : "false"}
            onClick={() => model.paused ? model.resume() : model.pause()}
          >
            {model.paused ? t.t("inspectorResume") : t.t("inspectorPause")}
          </button>
          <button type="button" onClick={() => model.clear()} disabled={entries.length === 0}>
            {t.t("inspectorClear")}
          </button>
        </div>
      </div>
      <p class="hint" role="status">
        {model.paused
          ? `${t.t("inspectorPaused")} ${t.n("inspectorHeld", model.held)}`
          : t.t("inspectorKept", { n: MAX_ENTRIES })}
      </p>
      {entries.length === 0
        ? (
          <p class="wire-empty">
            {mine
              ? t.t("inspectorEmpty", { name: props.chat.me ?? "" })
              : t.t("inspectorEmptyConn")}
          </p>
        )
        : (
          // A log read at one's pace: not spoken line by line (aria-live off), reachable by Tab to
          // scroll with the keyboard.
          <div
            ref={box}
            class="wire"
            role="log"
            aria-live="off"
            aria-labelledby="wire-h"
            tabIndex={0}
            onScroll={(e) => {
              const el = e.currentTarget;
              atBottom.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 24;
            }}
          >
            <ol>
              {entries.map((e) => (
                <WireLine
                  key={e.id}
                  entry={e}
                  mine={mine}
                  conn={props.multi ? labels.get(e.conn) : undefined}
                  t={t}
                />
              ))}
            </ol>
          </div>
        )}
    </section>
  );
}

function WireLine(props: { entry: Entry; mine: boolean; conn?: string; t: InspectorTexts }) {
  const { t } = props;
  const e = props.entry;
  const r = e.reading;
  const dir = e.dir === "in"
    ? (props.mine ? t.t("dirInMine") : t.t("dirIn"))
    : (props.mine ? t.t("dirOutMine") : t.t("dirOut"));
  const refused = e.reply !== undefined || r?.error !== undefined || r?.limit !== undefined;
  const stop = r?.hint?.kind === "bad_json" ? r.hint.position : undefined;
  return (
    <li
      class="wire-line"
      data-dir={e.dir}
      data-error={refused ? "" : undefined}
      data-partial={e.partial ? "" : undefined}
    >
      <p class="wire-meta">
        <time dateTime={e.at} title={e.at}>{clockTime(e.at)}</time>
        <span class="dir">{dir}</span>
        {props.conn !== undefined && <span class="tag">{props.conn}</span>}
        {e.partial && !e.unfinished && <span class="flag wait">{t.t("partialLine")}</span>}
        {e.unfinished && <span class="flag wait">{t.t("unfinishedLine")}</span>}
        {e.reply && <span class="flag bad">{t.t("errorReply")}</span>}
      </p>
      {stop === undefined
        ? <pre class="wire-text">{e.line}</pre>
        : <StoppedAt line={e.line} position={stop} t={t} />}
      {r?.request !== undefined && <p class="reading">{t.t("readAs", { type: r.request })}</p>}
      {r?.error && (
        <p class="reading bad">
          {t.t("readRefused", { code: r.error.code, text: r.error.text })}
        </p>
      )}
      {r?.limit !== undefined && <p class="reading bad">{t.t("limitHit", { limit: r.limit })}</p>}
      {r?.hint && (
        <p class="advice">
          <strong>{t.t("hintLabel")}</strong> {hintText(t, r.hint)}
        </p>
      )}
    </li>
  );
}

/** The line with the character where JSON parsing stopped marked (or the end of the line). */
function StoppedAt(props: { line: string; position: number; t: InspectorTexts }) {
  const { before, at, after } = around(props.line, props.position, Infinity);
  const title = props.t.t("jsonStop");
  // The end of the line is marked by generated text (style.css): copying the line never takes it.
  const mark = at === ""
    ? <mark class="stop end" title={title} data-label={props.t.t("jsonEnd")} />
    : <mark class="stop" title={title}>{at}</mark>;
  return <pre class="wire-text">{before}{mark}{after}</pre>;
}
