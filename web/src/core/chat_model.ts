// The chat page's model: the server link, the chat state, the people online, channels joined, the
// catch-up after a resume (docs/web.md §3.5), local echoes, and the texts for the live regions. No
// DOM here.
import { ProtocolError } from "../../../src/errors.ts";
import { parseChannel } from "../../../src/protocol/channel.ts";
import {
  errorInfo,
  type LinkStatus,
  type LoginInfo,
  ServerLink,
  type ServerLinkOptions,
  type Timers,
} from "./server_link.ts";
import { describeError } from "./describe_error.ts";
import { I18n, localTimestamp } from "./i18n.ts";
import { ChatState, compareMessages } from "./chat_state.ts";
import {
  DEFAULT_KEY,
  type ErrorInfo,
  isPrivate,
  type Line,
  nameKey,
  num,
  privateKey,
  readMessage,
  str,
  tryChannel,
  typeOf,
  type WireMessage,
} from "./wire.ts";

/** Someone online. */
export interface Person {
  name: string;
  state: string;
  guest: boolean;
  since?: string;
}

/** A channel in the server's `channels` list. */
export interface ChannelInfo {
  name: string;
  key: string;
  members: number;
}

/** A private conversation as the server lists it (docs/protocol.md §11.5). */
export interface ConversationSummary {
  with: string;
  last?: WireMessage;
  unread: number;
}

/** A desktop notification the page may show (the UI decides whether it is allowed). */
export interface Notice {
  title: string;
  body: string;
  /** The conversation to open on a click. */
  conv: string;
}

/** A text for a live region; `n` changes at every new text, even an identical one. */
export interface Announcement {
  text: string;
  n: number;
}

/** A catch-up stops after this many messages per conversation and shows a gap marker. */
export const CATCH_UP_CAP = 1000;
/**
 * Messages in a page when a conversation opens or pages back: the server's maximum
 * (docs/protocol.md §4.5), so a long conversation takes fewer requests.
 */
export const PAGE = 200;
/** At most one polite announcement every 2 s (docs/web.md §7.2). */
export const NOTICE_GAP_MS = 2000;
const DEFAULT_NAME = "#général";

/** Options of {@link ChatModel}: those of its {@link ServerLink}, without the events. */
export type ChatModelOptions = Omit<ServerLinkOptions, "events"> & {
  lang?: I18n;
  /** Local wall-clock timestamp for echoes; the page's clock by default. */
  localTime?: () => string;
};

/** Everything the chat page shows, and what it can do. */
export class ChatModel {
  readonly state: ChatState = new ChatState();
  readonly link: ServerLink;
  readonly people = new Map<string, Person>();
  /** Channels this page is in: key → name as first written. #général always. */
  readonly joined = new Map<string, string>([[DEFAULT_KEY, DEFAULT_NAME]]);
  channelList: ChannelInfo[] = [];
  me: string | undefined;
  admin = false;
  myStatus = "online";
  /** Timers clock ms until which the teacher's mute holds (the composer waits). */
  mutedUntil: number | undefined;
  /** A refused text to put back in the composer. */
  restoredDraft: { conv: string; text: string; n: number } | undefined;
  /** A resume batch or a history page is being applied (aria-busy on the log). */
  busy = false;
  notice: Announcement = { text: "", n: 0 };
  alert: Announcement = { text: "", n: 0 };
  i18n: I18n;
  /** Bumped at every change the page shows. */
  version = 0;
  /** A login from the form is under way. */
  fromForm = false;
  /** Members of channels other than #général, from `who` (conversation key → names). */
  readonly members = new Map<string, string[]>();
  /** Called for a mention of me or a private message while the page is hidden (opt-in). */
  onNotify: ((notice: Notice) => void) | undefined;
  /** Whether the page is hidden (document.hidden), for notifications. */
  hidden = false;

  readonly #timers: Timers;
  readonly #localTime: () => string;
  readonly #listeners = new Set<() => void>();
  readonly #lineListeners = new Set<(line: Line) => void>();
  #notifyQueued = false;
  /** Right after the login reply, private messages are the ones kept while away. */
  #offlineWindow = false;
  #newCounts = new Map<string, number>();
  #noticeText: string | undefined;
  #lastNoticeAt = -Infinity;
  #noticeTimer: number | undefined;
  #logins = 0;
  #lastState: LinkStatus["state"] = "idle";
  /**
   * Sends per conversation, in the order typed (docs/protocol.md §5.1: queue them):
   * the head is the only one out; the next leaves on its ack.
   */
  readonly #outbox = new Map<string, { id: string; body: Record<string, unknown> }[]>();
  /** Conversations whose head is out, or waiting out a rate limit: key → a token. */
  readonly #busyConvs = new Map<string, number>();
  #busyToken = 0;
  /** Per private conversation, the highest seq told to the server with `read`. */
  readonly #readMarks = new Map<string, number>();

  constructor(options: ChatModelOptions) {
    this.#timers = options.timers;
    this.i18n = options.lang ?? new I18n("fr");
    this.#localTime = options.localTime ?? (() => localTimestamp(new Date()));
    this.link = new ServerLink({
      ...options,
      events: {
        onStatus: (status) => this.#statusChanged(status),
        onLine: (line, matched) => this.#line(line, matched),
        onLogin: (s) => this.#loggedIn(s),
        onClosed: () => {
          this.#offlineWindow = false;
          this.state.markInDoubt();
          this.#changed();
        },
      },
    });
    this.state.ensure(DEFAULT_KEY, "channel", DEFAULT_NAME);
    this.state.setActive(DEFAULT_KEY);
  }

  /** The timers and clock the model runs on. */
  get timers(): Timers {
    return this.#timers;
  }

  /** The server link's status. */
  get status(): LinkStatus {
    return this.link.status;
  }

  /** At page load: resumes the tab's session if its token still works. */
  resumeSaved(): boolean {
    if (!this.link.resumeSaved()) return false;
    this.me = this.link.status.user;
    this.#changed();
    return true;
  }

  /** Calls `fn` (batched) after changes; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Calls `fn` with every unsolicited line (the console refreshes on `status`). */
  onLine(fn: (line: Line) => void): () => void {
    this.#lineListeners.add(fn);
    return () => this.#lineListeners.delete(fn);
  }

  /** Changes the language of the texts the model makes. */
  setLang(i18n: I18n): void {
    this.i18n = i18n;
    this.#changed();
  }

  // --- account

  /** Logs in from the form (the form stays shown until the session starts). */
  login(username: string, password: string): void {
    this.fromForm = true;
    this.link.login(username, password, false);
  }

  /** Registers, then logs in, from the form. */
  register(username: string, password: string): void {
    this.fromForm = true;
    this.link.login(username, password, true);
  }

  logout(): void {
    this.link.logout();
    this.#forget();
    this.#changed();
  }

  // --- conversations

  /** Shows a conversation; loads its newest page the first time. */
  open(key: string): void {
    if (!this.state.conversations.has(key)) return;
    this.state.setActive(key);
    this.#loadIfNeeded(key);
    void this.refreshMembers(key);
    this.#changed();
  }

  /** Opens (or starts) the private conversation with `name`. */
  openPrivate(name: string): void {
    const key = privateKey(name);
    this.state.ensure(key, "private", name);
    this.open(key);
  }

  /**
   * Joins (or creates) a channel and opens it.
   * @returns an error text to show next to the field, or undefined
   */
  async join(raw: string): Promise<string | undefined> {
    let channel: { key: string; name: string };
    try {
      channel = parseChannel(raw.trim());
    } catch (e) {
      return e instanceof ProtocolError ? e.text[this.i18n.lang] : this.i18n.t("err_bad_request");
    }
    if (!this.joined.has(channel.key)) {
      try {
        await this.#request({ type: "join", channel: channel.name });
      } catch (e) {
        return describeError(this.i18n, errorInfo(e)).text;
      }
      this.joined.set(channel.key, channel.name);
      this.state.ensure(channel.key, "channel", channel.name);
      void this.refreshChannels();
    }
    this.open(channel.key);
    return undefined;
  }

  /** Leaves a channel (not #général). */
  async leave(key: string): Promise<void> {
    const name = this.joined.get(key);
    if (name === undefined || key === DEFAULT_KEY) return;
    try {
      await this.#request({ type: "leave", channel: name });
    } catch (e) {
      this.#say("alert", describeError(this.i18n, errorInfo(e), "leave").text);
      return;
    }
    this.joined.delete(key);
    this.members.delete(key);
    this.state.remove(key);
    this.state.setActive(DEFAULT_KEY);
    void this.refreshChannels();
    this.#changed();
  }

  /** Pages back in a conversation (scroll to the top). */
  loadOlder(key: string): Promise<void> {
    const conv = this.state.conversations.get(key);
    const before = this.state.oldestSeq(key);
    if (!conv?.hasMore) return Promise.resolve();
    if (before === undefined) return this.#loadLatest(key);
    return this.#paging(key, async () => {
      const reply = await this.#request({ ...this.#target(key), limit: PAGE, before });
      this.state.addPage(key, readMessages(reply), {
        more: reply.more === true,
        direction: "older",
      });
    });
  }

  /** "Messages manquants, charger": goes on from the gap. */
  loadGap(key: string): Promise<void> {
    const after = this.state.conversations.get(key)?.gapAfterSeq;
    return after === undefined
      ? Promise.resolve()
      : this.#paging(key, () => this.#forward(key, after, new Map()));
  }

  /** Opens a channel read-only, without joining it (the console's "Historique"). */
  peek(name: string): void {
    const channel = tryChannel(name);
    if (!channel) return;
    this.state.ensure(channel.key, "channel", channel.name);
    this.open(channel.key);
  }

  async #paging(key: string, work: () => Promise<void>): Promise<void> {
    const conv = this.state.conversations.get(key);
    if (!conv || conv.loading || !this.link.isOpen) return;
    conv.loading = this.busy = true;
    this.#changed();
    try {
      await work();
    } catch (e) {
      this.#historyFailed(key, errorInfo(e));
    } finally {
      conv.loading = this.busy = false;
      this.state.touch(key);
      this.#changed();
    }
  }

  // --- sending

  /**
   * Sends a message: echoed at once as "envoi…", then sent in its conversation's turn (one out
   * at a time, so they never overtake each other); while disconnected it waits for the next
   * session. Refused: "Renvoyer".
   */
  send(key: string, text: string): void {
    const conv = this.state.conversations.get(key);
    if (!conv || text.trim() === "") return;
    const id = this.link.newId();
    this.state.addPending({ id, conv: key, text, state: "queued", timestamp: this.#localTime() });
    const body: Record<string, unknown> = conv.kind === "private"
      ? { type: "message", subtype: "private", to: conv.name, content: text }
      : key === DEFAULT_KEY
      ? { type: "message", subtype: "global", content: text }
      : { type: "message", subtype: "global", channel: conv.name, content: text };
    const queue = this.#outbox.get(key) ?? [];
    queue.push({ id, body });
    this.#outbox.set(key, queue);
    this.#pump(key);
    this.#changed();
  }

  /** "Renvoyer": the same text under a new id. */
  resend(id: string): void {
    const p = this.state.pending.get(id);
    if (!p || p.state !== "failed") return;
    this.state.dropPending(id);
    const queue = this.#outbox.get(p.conv);
    if (queue) this.#outbox.set(p.conv, queue.filter((item) => item.id !== id));
    this.send(p.conv, p.text);
  }

  /**
   * Sets one's own status (relayed verbatim to the others): shown at once, kept by the page and
   * sent again after a reconnection; put back if the server refuses it.
   */
  async setStatus(state: string): Promise<void> {
    const before = this.myStatus;
    this.#showStatus(state);
    try {
      await this.#request({ type: "status", state });
    } catch (e) {
      const info = errorInfo(e);
      if (info.code === "closed") return; // sent again by the next session's catch-up
      if (this.myStatus === state) this.#showStatus(before);
      this.#refused(info);
    }
  }

  #showStatus(state: string): void {
    this.myStatus = state;
    if (this.me) {
      const p = this.people.get(nameKey(this.me));
      if (p) this.people.set(nameKey(this.me), { ...p, state });
    }
    this.#changed();
  }

  /** Registered names starting with `prefix`, for completion (empty when unavailable). */
  async directory(prefix: string): Promise<string[]> {
    if (prefix.trim() === "" || !this.link.features.has("directory")) return [];
    try {
      const reply = await this.link.request({ type: "directory", prefix: prefix.trim() });
      const users = Array.isArray(reply.users) ? reply.users : [];
      return users.filter((u): u is string => typeof u === "string");
    } catch {
      return [];
    }
  }

  /** Refreshes the member list of a channel other than #général (`who`, never rate-limited). */
  async refreshMembers(key: string): Promise<void> {
    const name = this.joined.get(key);
    if (name === undefined || key === DEFAULT_KEY || !this.link.isOpen) return;
    try {
      const reply = await this.link.request({ type: "who", channel: name });
      const users = Array.isArray(reply.users) ? reply.users : [];
      this.members.set(key, users.filter((u): u is string => typeof u === "string"));
      this.#changed();
    } catch {
      // the list stays as it was
    }
  }

  /** Asks the server's channel list (member counts). */
  async refreshChannels(): Promise<void> {
    try {
      const reply = await this.#request({ type: "channels" });
      this.channelList = readChannels(reply);
      this.#changed();
    } catch {
      // the list stays as it was
    }
  }

  /** A request, retried after `retry_after_ms` when rate-limited (three times at most). */
  request(body: Readonly<Record<string, unknown>>): Promise<Line> {
    return this.#request(body);
  }

  /** The unsorted people, sorted by name in the page's language. */
  sortedPeople(): Person[] {
    return [...this.people.values()].sort((a, b) => this.i18n.collator.compare(a.name, b.name));
  }

  /** Says something in the alert region (a refusal the page itself found). */
  tell(text: string): void {
    this.#say("alert", text);
  }

  /** Stops timers (tests, unload). */
  dispose(): void {
    this.link.dispose();
    if (this.#noticeTimer !== undefined) this.#timers.clearTimeout(this.#noticeTimer);
  }

  // --- internals

  #changed(): void {
    this.version++;
    if (this.#notifyQueued) return;
    this.#notifyQueued = true;
    queueMicrotask(() => {
      this.#notifyQueued = false;
      this.#syncRead();
      for (const fn of this.#listeners) fn();
    });
  }

  #statusChanged(status: LinkStatus): void {
    const before = this.#lastState;
    this.#lastState = status.state;
    if (status.state === "idle") this.fromForm = false;
    if (status.state !== before && status.reason) {
      if (status.state === "stopped") {
        this.#say("alert", describeError(this.i18n, status.reason, "close").text);
      } else if (status.state === "reconnecting" && before !== "connecting") {
        this.#say("notice", this.i18n.t("lostRetrying"));
      }
    }
    this.#changed();
  }

  #forget(): void {
    this.state.clear();
    this.people.clear();
    this.joined.clear();
    this.joined.set(DEFAULT_KEY, DEFAULT_NAME);
    this.channelList = [];
    this.me = undefined;
    this.admin = false;
    this.myStatus = "online";
    this.mutedUntil = undefined;
    this.members.clear();
    this.#outbox.clear();
    this.#busyConvs.clear();
    this.#readMarks.clear();
    this.state.ensure(DEFAULT_KEY, "channel", DEFAULT_NAME);
    this.state.setActive(DEFAULT_KEY);
  }

  async #request(body: Readonly<Record<string, unknown>>, tries = 3): Promise<Line> {
    for (let attempt = 0;; attempt++) {
      try {
        return await this.link.request(body);
      } catch (e) {
        const info = errorInfo(e);
        if (info.code !== "rate_limited" || info.retryAfterMs === undefined || attempt >= tries) {
          throw e;
        }
        await this.#sleep(info.retryAfterMs);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#timers.setTimeout(resolve, ms));
  }

  /** Sends the head of a conversation's queue when nothing of it is out and the page is ready. */
  #pump(key: string): void {
    if (this.#busyConvs.has(key) || !this.link.isOpen) return;
    if (this.link.status.state !== "ready") return; // sends in doubt are settled first
    const head = this.#outbox.get(key)?.[0];
    if (!head) return;
    const p = this.state.pending.get(head.id);
    if (!p || p.state !== "queued") return;
    const token = ++this.#busyToken;
    this.#busyConvs.set(key, token);
    this.state.setState(head.id, "sending");
    const done = () => {
      if (this.#busyConvs.get(key) === token) this.#busyConvs.delete(key);
    };
    const next = () => {
      const queue = this.#outbox.get(key);
      if (queue?.[0]?.id === head.id) queue.shift();
      done();
      this.#pump(key);
    };
    this.link.request(head.body, head.id).then(
      (ack) => {
        this.state.ack(
          head.id,
          num(ack, "seq") ?? 0,
          str(ack, "timestamp") ?? this.#localTime(),
          this.me ?? "",
        );
        next();
        this.#changed();
      },
      (e) => {
        const info = errorInfo(e);
        if (info.code === "closed") {
          done(); // in doubt: the catch-up settles it, then the queue goes on
          return;
        }
        if (info.code === "rate_limited" && info.retryAfterMs !== undefined) {
          // Not carried out (docs/protocol.md §5.1): the same message again after the wait.
          this.state.setState(head.id, "queued");
          this.#timers.setTimeout(() => {
            done();
            this.#pump(key);
          }, info.retryAfterMs);
          this.#changed();
          return;
        }
        if (info.code === "forbidden" && info.retryAfterMs !== undefined) {
          // Muted: this text and the ones waiting behind it go back to the composer.
          const queue = this.#outbox.get(key) ?? [];
          const texts: string[] = [];
          for (const item of queue.splice(0)) {
            const waiting = this.state.pending.get(item.id);
            if (waiting && waiting.state !== "failed") {
              texts.push(waiting.text);
              this.state.dropPending(item.id);
            }
          }
          done();
          if (texts.length > 0) {
            this.restoredDraft = {
              conv: key,
              text: texts.join("\n"),
              n: (this.restoredDraft?.n ?? 0) + 1,
            };
          }
          this.#refused(info);
          return;
        }
        this.state.fail(head.id, info);
        const conv = this.state.conversations.get(key);
        this.#say(
          "alert",
          this.i18n.t("sendFailed", {
            conv: conv?.name ?? "",
            reason: describeError(this.i18n, info, "send").text,
          }),
        );
        next();
        this.#changed();
      },
    );
  }

  /** After a catch-up: sends found stored leave the queues; every queue starts again. */
  #resumeSends(stored: ReadonlySet<string>): void {
    for (const [key, queue] of this.#outbox) {
      const kept = queue.filter((item) => {
        const p = this.state.pending.get(item.id);
        return !stored.has(item.id) && p !== undefined && p.state !== "failed";
      });
      if (kept.length > 0) this.#outbox.set(key, kept);
      else this.#outbox.delete(key);
    }
    for (const key of [...this.#outbox.keys()]) this.#pump(key);
  }

  /** A refusal shown as an alert; a mute also starts the composer's countdown. */
  #refused(info: ErrorInfo): void {
    if (info.code === "forbidden" && info.retryAfterMs !== undefined) {
      this.mutedUntil = this.#timers.now() + info.retryAfterMs;
    }
    this.#say("alert", describeError(this.i18n, info, "send").text);
    this.#changed();
  }

  #line(line: Line, matched: boolean): void {
    const type = typeOf(line);
    if (matched) {
      this.#offlineWindow = false;
      return;
    }
    if (type === "message") {
      const m = readMessage(line);
      const offline = this.#offlineWindow && m !== undefined && isPrivate(m);
      if (!offline) this.#offlineWindow = false;
      if (m) this.#message(m, offline);
    } else {
      this.#offlineWindow = false;
      if (type === "status") this.#status(line);
      else if (type === "muted") this.#muted(line);
    }
    for (const fn of this.#lineListeners) fn(line);
  }

  #message(m: WireMessage, offline: boolean): void {
    const own = this.me !== undefined && nameKey(m.from) === nameKey(this.me);
    const key = this.#conversationOf(m, own);
    const added = this.state.upsert(key, m, { fresh: true, offline, own });
    if (this.link.status.state === "ready") {
      const conv = this.state.conversations.get(key);
      if (conv?.loaded) conv.syncedSeq = this.state.newestSeq(key);
    }
    if (added && !own && !(key === this.state.active && this.state.viewing)) this.#queueNew(key);
    if (added && !own && !offline) this.#maybeNotify(key, m);
    const members = this.members.get(key);
    if (members && !members.some((n) => nameKey(n) === nameKey(m.from))) {
      void this.refreshMembers(key); // posting joins the channel (docs/protocol.md §4.4)
    }
    this.#changed();
  }

  #maybeNotify(key: string, m: WireMessage): void {
    if (!this.onNotify || !this.hidden || this.me === undefined) return;
    if (!shouldNotify(m, this.me)) return;
    const conv = this.state.conversations.get(key);
    this.onNotify({
      title: isPrivate(m) ? m.from : `${m.from} (${conv?.name ?? ""})`,
      body: m.content,
      conv: key,
    });
  }

  #conversationOf(m: WireMessage, own: boolean): string {
    if (isPrivate(m)) {
      const peer = own ? m.to ?? "" : m.from;
      const key = privateKey(peer);
      const conv = this.state.ensure(key, "private", peer);
      if (!own && conv.name !== m.from) {
        conv.name = m.from; // as registered
        this.state.touch(key);
      }
      return key;
    }
    // A channel we are not in means a legacy sender: the server routed it to #général.
    const channel = tryChannel(m.channel);
    return channel && this.joined.has(channel.key) ? channel.key : DEFAULT_KEY;
  }

  /** The server says our mute started, changed or ended (docs/protocol.md §11.4). */
  #muted(line: Line): void {
    const remaining = num(line, "remaining_ms");
    if (line.until === null || remaining === undefined || remaining <= 0) {
      if (this.mutedUntil !== undefined) this.#say("notice", this.i18n.t("unmuted"));
      this.mutedUntil = undefined;
    } else {
      this.mutedUntil = this.#timers.now() + remaining;
    }
    this.#changed();
  }

  #status(line: Line): void {
    const user = str(line, "user");
    const state = str(line, "state");
    if (user === undefined || state === undefined) return;
    const key = nameKey(user);
    if (state.toLowerCase() === "offline") {
      this.people.delete(key);
      for (const [channel, names] of this.members) {
        if (names.some((n) => nameKey(n) === key)) void this.refreshMembers(channel);
      }
    } else {
      const known = this.people.get(key);
      this.people.set(key, { guest: false, ...known, name: user, state });
      // Our own other tab: the account's status is one.
      if (this.me !== undefined && key === nameKey(this.me)) this.myStatus = state;
    }
    this.#changed();
  }

  #loggedIn(s: LoginInfo): void {
    const login = ++this.#logins;
    if (this.me === undefined || nameKey(this.me) !== nameKey(s.user)) this.#forget();
    this.me = s.user;
    this.admin = s.admin;
    this.fromForm = false;
    this.#offlineWindow = true;
    if (!this.state.active) this.state.setActive(DEFAULT_KEY);
    this.#changed();
    void this.#catchUp(login, s.resumed);
  }

  /** After login or resume: channels, people, then every conversation up to date. */
  async #catchUp(login: number, resumed: boolean): Promise<void> {
    this.busy = true;
    this.#changed();
    const fresh = new Map<string, Set<number>>();
    let stored = new Set<string>();
    this.#busyConvs.clear(); // what was out belongs to the old socket
    this.#readMarks.clear(); // told again if need be: a mark never goes back on the server
    try {
      for (const [key, name] of [...this.joined]) {
        if (key === DEFAULT_KEY) continue;
        try {
          await this.#request({ type: "join", channel: name });
        } catch (e) {
          if (errorInfo(e).code === "closed") throw e;
          this.joined.delete(key); // refused now: drop it
          this.state.remove(key);
        }
      }
      this.#users(await this.#request({ type: "users" }));
      void this.refreshChannels();
      if (this.myStatus !== "online") {
        await this.#request({ type: "status", state: this.myStatus }).catch(() => {});
      }
      for (const conv of [...this.state.conversations.values()]) {
        if (!conv.loaded) {
          if (conv.key === this.state.active) await this.#loadLatest(conv.key);
          continue;
        }
        if (conv.syncedSeq === undefined) await this.#loadLatest(conv.key);
        else if (conv.kind === "channel") await this.#forward(conv.key, conv.syncedSeq, fresh);
        else await this.#backward(conv.key, conv.syncedSeq, fresh);
      }
      if (login !== this.#logins) return;
      await this.#loadConversations();
      if (login !== this.#logins) return;
      stored = this.me ? this.state.settleInDoubt(this.me, fresh) : new Set();
    } catch {
      return; // the socket is gone: the next session starts again from the same marks
    } finally {
      if (login === this.#logins) {
        this.busy = false;
        this.#changed();
      }
    }
    this.link.markReady();
    this.#resumeSends(stored);
    const active = this.state.active;
    if (active !== undefined) void this.refreshMembers(active);
    if (resumed) this.#say("notice", this.i18n.t("reconnected"));
    this.#changed();
  }

  /**
   * The account's private conversations from the server (docs/protocol.md §11.5): partners, last
   * message and unread counts, so they survive a reload even when the partner has left.
   */
  async #loadConversations(): Promise<void> {
    if (!this.link.features.has("conversations")) return;
    let reply: Line;
    try {
      reply = await this.#request({ type: "conversations" });
    } catch (e) {
      if (errorInfo(e).code === "closed") throw e;
      return; // a guest: none
    }
    for (const c of readConversations(reply)) {
      const key = privateKey(c.with);
      const conv = this.state.ensure(key, "private", c.with);
      conv.name = c.with;
      if (c.last) this.state.upsert(key, c.last);
      const seen = key === this.state.active && this.state.viewing;
      if (!seen && c.unread !== conv.unread) {
        conv.unread = c.unread;
        if (c.unread === 0) conv.markerSeq = undefined;
      }
      this.state.touch(key);
    }
    this.#changed();
  }

  /** Tells the server what the open private conversation has been read up to. */
  #syncRead(): void {
    const key = this.state.active;
    if (key === undefined || !this.state.viewing) return;
    const conv = this.state.conversations.get(key);
    if (!conv || conv.kind !== "private" || conv.order.length === 0) return;
    if (this.link.status.state !== "ready" || !this.link.features.has("conversations")) return;
    // Only the partner's messages count as unread: our own sends need no mark (and each `read`
    // counts against the request rate, docs/protocol.md §5.1).
    const me = nameKey(this.me ?? "");
    let seq = 0;
    for (const m of conv.order) if (m.seq > seq && nameKey(m.from) !== me) seq = m.seq;
    if (seq <= (this.#readMarks.get(key) ?? 0)) return;
    this.#readMarks.set(key, seq);
    this.#request({ type: "read", with: conv.name, seq }).catch((e) => {
      // Lost with its socket: told again by the next session. Refused: not asked again.
      if (errorInfo(e).code === "closed" && this.#readMarks.get(key) === seq) {
        this.#readMarks.delete(key);
      }
    });
  }

  #users(reply: Line): void {
    this.people.clear();
    const details = Array.isArray(reply.details) ? reply.details as Line[] : [];
    const users = Array.isArray(reply.users) ? reply.users : [];
    for (const u of users) {
      if (typeof u !== "string") continue;
      this.people.set(nameKey(u), { name: u, state: "online", guest: false });
    }
    for (const d of details) {
      const user = d && typeof d === "object" ? str(d, "user") : undefined;
      if (user === undefined) continue;
      this.people.set(nameKey(user), {
        name: user,
        state: str(d, "state") ?? "online",
        guest: d.guest === true,
        since: str(d, "since"),
      });
    }
    if (this.me) {
      const mine = this.people.get(nameKey(this.me));
      if (mine) this.people.set(nameKey(this.me), { ...mine, state: this.myStatus });
    }
    this.#changed();
  }

  #target(key: string): Record<string, unknown> {
    const conv = this.state.conversations.get(key);
    return conv?.kind === "private"
      ? { type: "history", with: conv.name }
      : { type: "history", channel: conv?.name ?? DEFAULT_NAME };
  }

  #loadIfNeeded(key: string): void {
    const conv = this.state.conversations.get(key);
    if (conv && !conv.loaded && !conv.loading && this.link.isOpen) void this.#loadLatest(key);
  }

  /** The newest page; `fresh` during a catch-up (its messages may be unread). */
  async #loadLatest(key: string, fresh = false): Promise<void> {
    const conv = this.state.conversations.get(key);
    if (!conv || conv.loading) return;
    conv.loading = true;
    this.#changed();
    try {
      const reply = await this.#request({ ...this.#target(key), limit: PAGE });
      const messages = readMessages(reply);
      if (fresh) { for (const m of messages) this.#upsertFresh(key, m); }
      this.state.addPage(key, messages, { more: reply.more === true, direction: "latest" });
      // 0: an empty conversation, caught up from its beginning next time.
      conv.syncedSeq = this.state.newestSeq(key) ?? 0;
    } catch (e) {
      const info = errorInfo(e);
      if (info.code === "closed") throw e;
      this.#historyFailed(key, info);
    } finally {
      conv.loading = false;
      this.state.touch(key);
      this.#changed();
    }
  }

  #historyFailed(key: string, info: ErrorInfo): void {
    const conv = this.state.conversations.get(key);
    if (!conv || info.code === "closed") return;
    // A guest's private history is refused: nothing older to ask for.
    conv.loaded = true;
    conv.hasMore = false;
    this.state.touch(key);
  }

  /** Forward catch-up: `after` the last seq held, while `more`, up to the cap. */
  async #forward(key: string, after: number, fresh: Map<string, Set<number>>): Promise<void> {
    const conv = this.state.conversations.get(key);
    if (!conv) return;
    const seen = fresh.get(key) ?? new Set<number>();
    fresh.set(key, seen);
    let cursor = after;
    let count = 0;
    const limit = this.link.limits.historyMax;
    for (;;) {
      const reply = await this.#request({ ...this.#target(key), after: cursor, limit });
      const messages = readMessages(reply);
      for (const m of messages) {
        if (this.#upsertFresh(key, m)) seen.add(m.seq);
      }
      count += messages.length;
      if (messages.length > 0) cursor = messages[messages.length - 1].seq;
      if (reply.more !== true || messages.length === 0) {
        conv.gapAfterSeq = undefined;
        break;
      }
      if (count >= CATCH_UP_CAP) {
        conv.gapAfterSeq = cursor;
        break;
      }
    }
    conv.syncedSeq = conv.gapAfterSeq ?? this.state.newestSeq(key);
    this.state.touch(key);
  }

  /** Backward catch-up: newest pages until the last message held, up to the cap. */
  async #backward(key: string, synced: number, fresh: Map<string, Set<number>>): Promise<void> {
    const conv = this.state.conversations.get(key);
    const mark = conv?.bySeq.get(synced);
    if (!conv || !mark) return this.#loadLatest(key, true);
    const seen = fresh.get(key) ?? new Set<number>();
    fresh.set(key, seen);
    let before: number | undefined;
    let count = 0;
    for (;;) {
      const page: Record<string, unknown> = { ...this.#target(key), limit: PAGE };
      if (before !== undefined) page.before = before;
      const reply = await this.#request(page);
      const messages = readMessages(reply);
      let reached = false;
      for (const m of messages) {
        if (compareMessages({ ...m, offline: false }, mark) <= 0) reached = true;
        else if (this.#upsertFresh(key, m)) seen.add(m.seq);
      }
      count += messages.length;
      if (reached || reply.more !== true || messages.length === 0) break;
      if (count >= CATCH_UP_CAP) {
        this.state.dropOlderThan(key, messages[0].seq); // too far behind: start afresh
        break;
      }
      before = messages[0].seq;
    }
    conv.syncedSeq = this.state.newestSeq(key);
    this.state.touch(key);
  }

  #upsertFresh(key: string, m: WireMessage): boolean {
    const own = this.me !== undefined && nameKey(m.from) === nameKey(this.me);
    const added = this.state.upsert(key, m, { fresh: true, own });
    if (added && !own && !(key === this.state.active && this.state.viewing)) this.#queueNew(key);
    return added;
  }

  // --- live regions

  #say(region: "notice" | "alert", text: string): void {
    if (region === "alert") {
      this.alert = { text, n: this.alert.n + 1 };
      this.#changed();
      return;
    }
    this.#noticeText = text;
    this.#flushSoon();
  }

  #queueNew(key: string): void {
    this.#newCounts.set(key, (this.#newCounts.get(key) ?? 0) + 1);
    this.#flushSoon();
  }

  #flushSoon(): void {
    if (this.#noticeTimer !== undefined) return;
    const wait = Math.max(0, this.#lastNoticeAt + NOTICE_GAP_MS - this.#timers.now());
    this.#noticeTimer = this.#timers.setTimeout(() => {
      this.#noticeTimer = undefined;
      this.#flushNotice();
    }, wait);
  }

  #flushNotice(): void {
    const parts: string[] = [];
    if (this.#noticeText !== undefined) parts.push(this.#noticeText);
    for (const [key, n] of this.#newCounts) {
      const conv = this.state.conversations.get(key);
      if (conv) parts.push(this.i18n.n("newIn", n, { conv: conv.name }));
    }
    this.#noticeText = undefined;
    this.#newCounts.clear();
    if (parts.length === 0) return;
    this.#lastNoticeAt = this.#timers.now();
    this.notice = { text: parts.join(". "), n: this.notice.n + 1 };
    this.#changed();
  }
}

/** The messages of a `history` reply, readable ones only. */
export function readMessages(reply: Line): WireMessage[] {
  const list = Array.isArray(reply.messages) ? reply.messages : [];
  const out: WireMessage[] = [];
  for (const item of list) {
    if (item && typeof item === "object") {
      const m = readMessage(item as Line);
      if (m) out.push(m);
    }
  }
  return out;
}

/** The channels of a `channels` reply. */
export function readChannels(reply: Line): ChannelInfo[] {
  const list = Array.isArray(reply.channels) ? reply.channels : [];
  const out: ChannelInfo[] = [];
  for (const item of list) {
    if (!item || typeof item !== "object") continue;
    const name = str(item as Line, "name");
    const channel = name === undefined ? undefined : tryChannel(name);
    if (name === undefined || !channel) continue;
    out.push({ name, key: channel.key, members: num(item as Line, "members") ?? 0 });
  }
  return out;
}

/** The conversations of a `conversations` reply, newest first as sent. */
export function readConversations(reply: Line): ConversationSummary[] {
  const list = Array.isArray(reply.conversations) ? reply.conversations : [];
  const out: ConversationSummary[] = [];
  for (const item of list) {
    if (!item || typeof item !== "object") continue;
    const peer = str(item as Line, "with");
    if (peer === undefined || peer === "") continue;
    const last = (item as Line).last;
    out.push({
      with: peer,
      last: last && typeof last === "object" ? readMessage(last as Line) : undefined,
      unread: Math.max(0, num(item as Line, "unread") ?? 0),
    });
  }
  return out;
}

/**
 * Whether a message from someone else calls for a desktop notification: a private message, or
 * one naming `me` as a whole word, in any letter case ("Alice," and "@alice" do; "Alicette" does
 * not).
 */
export function shouldNotify(
  m: { content: string; subtype?: string; to?: string },
  me: string,
): boolean {
  if (isPrivate(m)) return true;
  const name = me.toLocaleLowerCase();
  if (name === "") return false;
  const text = m.content.toLocaleLowerCase();
  const word = /[\p{L}\p{N}_]/u;
  for (let i = text.indexOf(name); i >= 0; i = text.indexOf(name, i + 1)) {
    const before = text[i - 1];
    const after = text[i + name.length];
    if (
      (before === undefined || !word.test(before)) && (after === undefined || !word.test(after))
    ) {
      return true;
    }
  }
  return false;
}
