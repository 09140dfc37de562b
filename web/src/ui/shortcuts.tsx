// The keyboard shortcut list (`?`). Never Ctrl+Alt: it is AltGr on AZERTY (docs/web.md §7.3).
import { Dialog } from "./dialog.tsx";
import { useI18n } from "./hooks.ts";

/** The shortcuts dialog. */
export function Shortcuts(props: { open: boolean; onClose: () => void }) {
  const t = useI18n();
  const rows: [string, string][] = [
    ["Entrée|Enter", t.t("kbSend")],
    ["Maj+Entrée|Shift+Enter", t.t("kbNewline")],
    ["Alt+↑ / Alt+↓", t.t("kbPrevNext")],
    ["Alt+Maj+↑ / Alt+Maj+↓|Alt+Shift+↑ / Alt+Shift+↓", t.t("kbUnread")],
    ["Échap|Esc", t.t("kbEscape")],
    ["?", t.t("kbHelp")],
  ];
  const keys = (k: string) => (k.split("|")[t.lang === "fr" ? 0 : 1] ?? k.split("|")[0]);
  return (
    <Dialog open={props.open} onClose={props.onClose} labelledBy="shortcuts-h">
      <h2 id="shortcuts-h">{t.t("shortcutsTitle")}</h2>
      <dl class="shortcuts">
        {rows.map(([k, what]) => (
          <div key={k}>
            <dt>
              <kbd>{keys(k)}</kbd>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
      <button type="button" class="primary" onClick={props.onClose}>{t.t("close")}</button>
    </Dialog>
  );
}
