// The login / registration form. No socket is opened before it is sent (docs/web.md §11). What is
// missing or wrong in the form is said next to it, before anything is sent.
import { useEffect, useRef, useState } from "preact/hooks";
import type { ChatModel } from "../core/chat_model.ts";
import { describeError } from "../core/describe_error.ts";
import type { TextKey } from "../i18n/catalog.ts";
import { banEnd } from "./banner.tsx";
import { Field, FieldError } from "./field.tsx";
import { useI18n } from "./hooks.ts";

type FieldName = "user" | "pass" | "confirm";

/** Login screen; also shown while a saved session resumes. */
export function Login(props: { chat: ChatModel }) {
  const t = useI18n();
  const { chat } = props;
  const status = chat.status;
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState(status.user ?? "");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  /** A problem found in the form itself, and the field it is about. */
  const [local, setLocal] = useState<{ key: TextKey; field: FieldName } | undefined>(undefined);
  /** The server's last refusal, hidden once the student switches mode. */
  const [dismissed, setDismissed] = useState(false);
  const userRef = useRef<HTMLInputElement>(null);
  const passRef = useRef<HTMLInputElement>(null);
  const confirmRef = useRef<HTMLInputElement>(null);
  const busy = status.state !== "idle" && status.state !== "stopped";
  const reason = status.state === "idle" && !dismissed ? status.reason : undefined;
  const register = mode === "register";

  // The name comes back after a failure or an expired session; focus goes where typing resumes.
  useEffect(() => {
    if (status.state !== "idle") return;
    setDismissed(false);
    if (status.user) setUsername(status.user);
    setPassword("");
    setConfirm("");
    (status.user ? passRef : userRef).current?.focus();
  }, [status.state, status.reason]);

  const refs = { user: userRef, pass: passRef, confirm: confirmRef };
  const refuse = (key: TextKey, field: FieldName) => {
    setLocal({ key, field });
    refs[field].current?.focus();
  };

  const submit = (e: Event) => {
    e.preventDefault(); // form-action 'none': never a native submit
    if (busy) return;
    const name = username.trim();
    if (name === "") return refuse("errNoName", "user");
    if (password === "") return refuse("errNoPassword", "pass");
    if (register && confirm !== password) return refuse("errPasswordMismatch", "confirm");
    setLocal(undefined);
    if (register) chat.register(name, password);
    else chat.login(name, password);
  };

  const switchMode = () => {
    setMode(register ? "login" : "register");
    setLocal(undefined);
    setDismissed(true);
    setConfirm("");
  };

  const banned = reason?.code === "forbidden" && reason.until !== undefined;
  const error = local
    ? { text: t.t(local.key), detail: undefined }
    : banned
    ? { text: t.t("bannedUntilDate", { date: banEnd(t, reason.until ?? "") }), detail: undefined }
    : reason
    ? describeError(t, reason, "login")
    : undefined;
  const invalid = (field: FieldName): boolean => {
    if (local) return local.field === field;
    if (field === "user") return reason !== undefined && reason.code !== "network";
    if (field === "pass") return reason?.code === "auth_failed";
    return false;
  };
  const describedBy = (field: FieldName) =>
    error && (!local || local.field === field) ? "login-error" : undefined;
  return (
    <main class="login" aria-labelledby="login-h">
      <h1 id="login-h">{t.t(register ? "loginHeadingRegister" : "loginHeading")}</h1>
      <form onSubmit={submit} noValidate aria-busy={busy ? "true" : undefined}>
        <Field
          id="login-user"
          label={t.t("username")}
          input={{
            ref: userRef,
            name: "username",
            autocomplete: "username",
            autocapitalize: "none",
            spellcheck: false,
            required: true,
            maxLength: 64,
            value: username,
            onInput: (e) => setUsername(e.currentTarget.value),
          }}
          invalid={invalid("user")}
          describedBy={describedBy("user")}
        />
        <Field
          id="login-pass"
          label={t.t("password")}
          input={{
            ref: passRef,
            type: "password",
            name: "password",
            autocomplete: register ? "new-password" : "current-password",
            required: true,
            value: password,
            onInput: (e) => setPassword(e.currentTarget.value),
          }}
          invalid={invalid("pass")}
          describedBy={describedBy("pass")}
        />
        {register && (
          <Field
            id="login-pass2"
            label={t.t("passwordConfirm")}
            input={{
              ref: confirmRef,
              type: "password",
              name: "password-confirm",
              autocomplete: "new-password",
              required: true,
              value: confirm,
              onInput: (e) => setConfirm(e.currentTarget.value),
            }}
            invalid={invalid("confirm")}
            describedBy={describedBy("confirm")}
          />
        )}
        {error && (
          <FieldError id="login-error">
            {error.text}
            {error.detail && (
              <small class="detail">{t.t("errDetail", { text: error.detail })}</small>
            )}
          </FieldError>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t.t("working") : t.t(register ? "submitRegister" : "submitLogin")}
        </button>
      </form>
      <p class="switch">
        <button type="button" class="link" onClick={switchMode}>
          {t.t(register ? "modeLogin" : "modeRegister")}
        </button>
      </p>
    </main>
  );
}
