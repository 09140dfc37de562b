// The message box: Enter sends, Shift+Enter adds a line; a draft per conversation; waits out a
// teacher's mute with a countdown, the draft kept (docs/web.md §5, §7.3).
import { useEffect, useRef, useState } from "preact/hooks";
import type { ChatModel } from "../core/chat_model.ts";
import type { Conversation } from "../core/chat_state.ts";
import { useI18n, useNow } from "./hooks.ts";
import { SendIcon } from "./icons.tsx";

const encoder = new TextEncoder();
// The whole request must fit the line cap (64 KiB): leave room for the other fields.
const ENVELOPE_BYTES = 512;

/** Drafts per conversation, kept in page memory only. */
const drafts = new Map<string, string>();

/** The composer of the open conversation. */
export function Composer(props: { chat: ChatModel; conv: Conversation; maxBytes: number }) {
  const t = useI18n();
  const { chat, conv } = props;
  const [text, setText] = useState(drafts.get(conv.key) ?? "");
  const [tooLong, setTooLong] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const mutedUntil = chat.mutedUntil ?? 0;
  const now = useNow(mutedUntil > Date.now());
  const muted = mutedUntil > now;

  // Switching conversation: its own draft, and the focus (docs/web.md §7.3).
  useEffect(() => {
    setText(drafts.get(conv.key) ?? "");
    setTooLong(false);
    area.current?.focus({ preventScroll: true });
  }, [conv.key]);

  // A refused post (muted) comes back here.
  const restored = chat.restoredDraft;
  useEffect(() => {
    if (!restored) return;
    drafts.set(restored.conv, restored.text);
    if (restored.conv === conv.key) setText(restored.text);
  }, [restored?.n]);

  const update = (value: string) => {
    setText(value);
    drafts.set(conv.key, value);
    if (tooLong) setTooLong(false);
  };

  const send = () => {
    if (muted || text.trim() === "") return;
    if (encoder.encode(JSON.stringify(text)).length + ENVELOPE_BYTES > props.maxBytes) {
      setTooLong(true);
      return;
    }
    chat.send(conv.key, text);
    update("");
  };

  const rows = Math.min(6, Math.max(1, text.split("\n").length));
  const described = ["composer-hint", muted ? "composer-muted" : "", tooLong ? "composer-long" : ""]
    .filter(Boolean).join(" ");
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      {muted && (
        <p id="composer-muted" class="muted">
          {t.t("mutedBanner", { time: t.duration(mutedUntil - now) })}
        </p>
      )}
      {tooLong && <p id="composer-long" class="error" role="alert">{t.t("err_too_large")}</p>}
      <label for="composer" class="sr-only">{t.t("composerLabel", { conv: conv.name })}</label>
      <p id="composer-hint" class="sr-only">{t.t("composerHint")}</p>
      <div class="row">
        <textarea
          id="composer"
          ref={area}
          rows={rows}
          value={text}
          enterkeyhint="send"
          autocomplete="off"
          readOnly={muted}
          aria-disabled={muted ? "true" : undefined}
          aria-invalid={tooLong ? "true" : undefined}
          aria-describedby={described}
          placeholder={t.t("composerLabel", { conv: conv.name })}
          onInput={(e) => update(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey) {
              e.preventDefault();
              send();
            }
          }}
        />
        <button type="submit" class="send" disabled={muted} aria-label={t.t("send")}>
          <SendIcon />
        </button>
      </div>
    </form>
  );
}
