// The login / registration form. No socket is opened before it is sent (WEB.md §1, §3).
import { useEffect, useRef, useState } from "preact/hooks";
import type { Client } from "../core/client.ts";
import { describeError } from "../core/describe_error.ts";
import { useI18n } from "./hooks.ts";

/** Login screen; also shown while a saved session resumes. */
export function Login(props: { client: Client }) {
  const t = useI18n();
  const { client } = props;
  const status = client.status;
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState(status.user ?? "");
  const [password, setPassword] = useState("");
  const userRef = useRef<HTMLInputElement>(null);
  const passRef = useRef<HTMLInputElement>(null);
  const busy = status.state !== "idle" && status.state !== "stopped";
  const reason = status.state === "idle" ? status.reason : undefined;

  // The name comes back after a failure or an expired session; focus goes where typing resumes.
  useEffect(() => {
    if (status.state !== "idle") return;
    if (status.user) setUsername(status.user);
    setPassword("");
    (status.user ? passRef : userRef).current?.focus();
  }, [status.state, reason]);

  const submit = (e: Event) => {
    e.preventDefault(); // form-action 'none': never a native submit
    if (busy) return;
    const name = username.trim();
    if (name === "" || password === "") return;
    if (mode === "register") client.register(name, password);
    else client.login(name, password);
  };

  const error = reason ? describeError(t, reason, "login") : undefined;
  return (
    <main class="login" aria-labelledby="login-h">
      <h1 id="login-h">{t.t("loginHeading")}</h1>
      <form onSubmit={submit} noValidate aria-busy={busy ? "true" : undefined}>
        <label for="login-user">{t.t("username")}</label>
        <input
          id="login-user"
          ref={userRef}
          name="username"
          autocomplete="username"
          autocapitalize="none"
          spellcheck={false}
          required
          maxLength={64}
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
          aria-invalid={error && reason?.code !== "network" ? "true" : undefined}
          aria-describedby={error ? "login-error" : undefined}
        />
        <label for="login-pass">{t.t("password")}</label>
        <input
          id="login-pass"
          ref={passRef}
          type="password"
          name="password"
          autocomplete={mode === "register" ? "new-password" : "current-password"}
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          aria-invalid={reason?.code === "auth_failed" ? "true" : undefined}
          aria-describedby={error ? "login-error" : undefined}
        />
        {error && (
          <p id="login-error" class="error" role="alert">
            {error.text}
            {error.detail && (
              <small class="detail">{t.t("errDetail", { text: error.detail })}</small>
            )}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t.t("working") : t.t(mode === "register" ? "submitRegister" : "submitLogin")}
        </button>
      </form>
      <p class="switch">
        <button
          type="button"
          class="link"
          onClick={() => setMode(mode === "login" ? "register" : "login")}
        >
          {t.t(mode === "login" ? "modeRegister" : "modeLogin")}
        </button>
      </p>
    </main>
  );
}
