// HTTP endpoint for operators: Request → Response for /metrics, /healthz and /readyz.
import type { Metrics } from "./metrics.ts";

/** What the HTTP handler asks of the running server. */
export interface HttpDeps {
  metrics: Metrics;
  /** Whether the chat listener is accepting and the store answers. */
  ready(): Promise<boolean>;
}

/**
 * The handler served by `Deno.serve` on the metrics port: `/metrics` in the Prometheus text
 * format, `/healthz` (the process is up: for restarts) and `/readyz` (the listener and the store
 * work: for traffic). Anything else is 404; only GET and HEAD are allowed.
 */
export function httpHandler(deps: HttpDeps): (req: Request) => Promise<Response> {
  return async (req) => {
    const { pathname } = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    switch (pathname) {
      case "/metrics":
        return new Response(await deps.metrics.text(), {
          headers: { "content-type": deps.metrics.contentType },
        });
      case "/healthz":
        return new Response("ok\n");
      case "/readyz": {
        const ready = await deps.ready().catch(() => false);
        return new Response(ready ? "ready\n" : "not ready\n", { status: ready ? 200 : 503 });
      }
      default:
        return new Response("Not found: try /metrics, /healthz or /readyz\n", { status: 404 });
    }
  };
}

/** Serves {@link httpHandler} on `hostname:port` (port 0 picks one); `shutdown()` stops it. */
export function serveHttp(
  options: { hostname: string; port: number },
  deps: HttpDeps,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ ...options, onListen: () => {} }, httpHandler(deps));
}
