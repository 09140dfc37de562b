// The web listener: the web app's files, the chat over WebSocket at /ws (into the same
// connections as TCP), and the teacher console's export downloads; strict headers on everything.
//
// On node:http rather than Deno.serve: only node:http hands over the socket of an upgrade, which
// the WebSocket connections write their coalesced frames to (see ws_conn.ts).
import { getLogger } from "@logtape/logtape";
import ipaddr from "ipaddr.js";
import { AddressSet, plainAddress } from "../address_set.ts";
import { Buffer } from "node:buffer";
import http from "node:http";
import https from "node:https";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
// @ts-types="@types/ws"
import { WebSocketServer } from "ws";
import type { Events } from "../events.ts";
import type { ExportTickets } from "../session/export_tickets.ts";
import { exportStream } from "../store/export.ts";
import type { MessageStore } from "../store/store.ts";
import type { ConnTable } from "./conn_table.ts";
import { WsConn, type WsConnOptions } from "./ws_conn.ts";

const log = getLogger(["classcord", "http"]);

/** One file of the web app, ready to serve. */
interface Asset {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
  /** Content-hashed names never change: cached for a year; index.html is checked every time. */
  immutable: boolean;
  /**
   * The same bytes compressed once at start (brotli at its best level, gzip at 9), kept only
   * where they are smaller: each request then costs a lookup, never a compression.
   */
  encoded: { br?: Uint8Array; gzip?: Uint8Array };
}

/** Types worth compressing: text. Images of the app are already compressed formats. */
const COMPRESSIBLE = /^(text\/|application\/(json|manifest\+json)|image\/svg\+xml)/;

/** The encodings of a file smaller than its bytes, best first. */
function encodings(body: Uint8Array, type: string): Asset["encoded"] {
  if (!COMPRESSIBLE.test(type) || body.length < 256) return {};
  const encoded: Asset["encoded"] = {};
  const br = brotliCompressSync(body, {
    params: {
      [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY,
      [zlib.BROTLI_PARAM_SIZE_HINT]: body.length,
    },
  });
  if (br.length < body.length) encoded.br = new Uint8Array(br);
  const gzip = gzipSync(body, { level: 9 });
  if (gzip.length < body.length) encoded.gzip = new Uint8Array(gzip);
  return encoded;
}

/**
 * The encoding to send for an `Accept-Encoding` header (RFC 9110 §12.5.3): brotli, then gzip,
 * then none, skipping those the client refuses with `q=0` or does not name.
 */
export function chooseEncoding(
  accept: string | undefined,
  available: Asset["encoded"],
): "br" | "gzip" | undefined {
  if (!accept) return undefined;
  const weights = new Map<string, number>();
  for (const part of accept.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(name.trim(), Number.isFinite(weight) ? weight : 0);
  }
  const accepted = (name: string) => (weights.get(name) ?? weights.get("*") ?? 0) > 0;
  if (available.br && accepted("br")) return "br";
  if (available.gzip && accepted("gzip")) return "gzip";
  return undefined;
}

/** An HTTP answer before it is written: status, headers, body. */
interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Uint8Array | ReadableStream<Uint8Array> | string;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  json: "application/json",
  webmanifest: "application/manifest+json",
  map: "application/json",
};

/**
 * The built web app (`deno task web:build` writes it to dist/web/), read once at start, with
 * the compiled binary's embedded copy as the same files.
 *
 * @throws {Error} naming the task to run when the app is not built
 */
export async function loadAssets(root: URL): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  const walk = async (dir: URL, prefix: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) await walk(url, `${prefix}${entry.name}/`);
      else if (entry.isFile) {
        const body = await Deno.readFile(url);
        const digest = await crypto.subtle.digest("SHA-256", body);
        const etag = `"${
          Array.from(new Uint8Array(digest).subarray(0, 12), (b) => b.toString(16).padStart(2, "0"))
            .join("")
        }"`;
        const ext = entry.name.slice(entry.name.lastIndexOf(".") + 1).toLowerCase();
        const type = TYPES[ext] ?? "application/octet-stream";
        assets.set(`${prefix}${entry.name}`, {
          body,
          type,
          etag,
          immutable: entry.name !== "index.html",
          encoded: encodings(body, type),
        });
      }
    }
  };
  try {
    await walk(root, "/");
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (!assets.has("/index.html")) {
    throw new Error(
      `The web app is not built (no ${new URL("index.html", root).pathname}): ` +
        "run deno task web:build, or start with --web-port 0",
    );
  }
  return assets;
}

/** Options of {@link WebListener}. */
export interface WebListenerOptions extends WsConnOptions {
  hostname: string;
  port: number;
  /** PEM certificate and key: HTTPS and WSS. */
  tls?: { cert: string; key: string };
  /** Origins allowed to open /ws besides the listener's own (`--web-origins`). */
  origins: string[];
  /** Load balancers (HTTP mode) whose `X-Forwarded-For` names the client (`--proxy-from`). */
  proxyFrom?: AddressSet;
  /** How often browsers are pinged; one that missed the last ping is closed (30 s). */
  heartbeatMs?: number;
  assets: Map<string, Asset>;
  connections: ConnTable;
  events: Events;
  tickets: ExportTickets;
  /** Where exports read channel messages. */
  store: MessageStore;
}

// Content-Security-Policy with no inline script and Trusted Types on (docs/web.md §4.2); the
// WebSocket origin is named because older WebKit does not let 'self' cover ws: URLs.
function csp(wsOrigin: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src 'self' ${wsOrigin}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join("; ");
}

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=()",
};

/** The web listener over node:http (HTTPS with a certificate); `close()` stops it. */
export class WebListener {
  readonly #server: http.Server;
  readonly #wss: WebSocketServer;
  readonly #options: WebListenerOptions;
  readonly #hosts: Set<string>;
  readonly #origins: Set<string>;
  readonly #refusedOrigins = new Set<string>();
  readonly #proxies: AddressSet;
  readonly #conns = new Set<WsConn>();
  readonly #heartbeat: ReturnType<typeof setInterval>;

  private constructor(options: WebListenerOptions) {
    this.#options = options;
    this.#proxies = options.proxyFrom ?? AddressSet.NONE;
    this.#origins = new Set(options.origins.map((o) => new URL(o).origin));
    this.#hosts = new Set(options.origins.map((o) => new URL(o).hostname.toLowerCase()));
    const { tls } = options;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) =>
      this.#request(req, res);
    this.#server = tls
      ? https.createServer({ cert: tls.cert, key: tls.key }, handler)
      : http.createServer(handler);
    // A slow or silent client holds a socket for 20 s at most before its request is complete.
    this.#server.headersTimeout = 20_000;
    this.#server.requestTimeout = 20_000;
    this.#server.on("upgrade", (req, socket, head) => this.#upgrade(req, socket, head));
    this.#server.on("clientError", (_err, socket) => socket.destroy());
    // Frames are checked against the line cap by the connection (a too_large reply, as TCP);
    // only a frame past the flood cap is refused by the library itself (close code 1009).
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxUnterminatedBytes,
      clientTracking: false,
    });
    // Every 30 s, a ping; a browser that has not answered the last one is gone (sleeping
    // laptop, lost Wi-Fi): its connection is closed, as TCP keepalive would.
    this.#heartbeat = setInterval(() => {
      for (const conn of this.#conns) if (!conn.heartbeat()) conn.close("read_error");
    }, options.heartbeatMs ?? HEARTBEAT_MS);
    Deno.unrefTimer(this.#heartbeat);
  }

  /**
   * Binds and serves.
   *
   * @throws {Error} with the listen error (`code` EADDRINUSE and the like)
   */
  static async listen(options: WebListenerOptions): Promise<WebListener> {
    const web = new WebListener(options);
    await new Promise<void>((resolve, reject) => {
      web.#server.once("error", reject);
      web.#server.listen(options.port, options.hostname, () => {
        web.#server.off("error", reject);
        resolve();
      });
    });
    return web;
  }

  get addr(): { hostname: string; port: number } {
    const { address, port } = this.#server.address() as AddressInfo;
    return { hostname: address, port };
  }

  /**
   * A renewed certificate for the requests and WebSockets from now on (SIGHUP); those open keep
   * theirs.
   *
   * @throws {Error} when the PEM files do not make a TLS context
   */
  reload(tls: { cert: string; key: string }): void {
    (this.#server as https.Server).setSecureContext({ cert: tls.cert, key: tls.key });
  }

  /** Stops accepting requests (open WebSockets are the connections' to close). */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const reply = this.#route(req);
    res.writeHead(reply.status, reply.headers);
    const { body } = reply;
    if (body === undefined || req.method === "HEAD") {
      if (body instanceof ReadableStream) body.cancel().catch(() => {});
      res.end();
    } else if (body instanceof ReadableStream) {
      pipe(body, res);
    } else {
      res.end(
        typeof body === "string" ? body : Buffer.from(body.buffer, body.byteOffset, body.length),
      );
    }
  }

  #route(req: http.IncomingMessage): Reply {
    const host = req.headers.host ?? "";
    const url = new URL(req.url ?? "/", "http://localhost");
    // DNS rebinding makes a foreign page's Origin equal the Host it names: only our own names.
    if (!this.#knownHost(host)) {
      const hint = `Unknown host ${host}: the server's administrator adds its origin ` +
        `(${this.#scheme()}://${host}) to --web-origins\n`;
      return this.#text(421, hint, host);
    }
    if (url.pathname === "/ws") return this.#text(400, "Expected a WebSocket upgrade\n", host);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return this.#text(405, "Method not allowed\n", host, { allow: "GET, HEAD" });
    }
    if (url.pathname === "/export") return this.#export(url, host);
    const asset = this.#options.assets.get(url.pathname === "/" ? "/index.html" : url.pathname);
    if (!asset) {
      // Browsers ask for it whatever the page says: no icon, and no error in their console.
      if (url.pathname === "/favicon.ico") return { status: 204, headers: this.#headers(host, {}) };
      return this.#text(404, "Not found\n", host);
    }
    const encoding = chooseEncoding(req.headers["accept-encoding"], asset.encoded);
    // Each encoding is its own representation with its own tag (RFC 9110 §8.8.3).
    const etag = encoding ? `${asset.etag.slice(0, -1)}-${encoding}"` : asset.etag;
    const headers = this.#headers(host, {
      "content-type": asset.type,
      etag,
      "cache-control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache",
      ...(Object.keys(asset.encoded).length ? { vary: "accept-encoding" } : {}),
      ...(encoding ? { "content-encoding": encoding } : {}),
    });
    if (req.headers["if-none-match"] === etag) return { status: 304, headers };
    return { status: 200, headers, body: encoding ? asset.encoded[encoding] : asset.body };
  }

  /** `Upgrade: websocket` at /ws, from our own origin or an allowed one (or no browser). */
  #upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    // Frames go out as soon as they are written, as on the chat port (no Nagle delay).
    (socket as Socket).setNoDelay?.(true);
    const host = req.headers.host ?? "";
    const url = new URL(req.url ?? "/", "http://localhost");
    const refuse = (reply: Reply) => {
      const lines = [`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status]}`];
      for (const [name, value] of Object.entries(reply.headers)) lines.push(`${name}: ${value}`);
      const text = String(reply.body ?? "");
      lines.push(`content-length: ${Buffer.byteLength(text)}`, "connection: close", "", text);
      socket.end(lines.join("\r\n"));
    };
    if (!this.#knownHost(host)) return refuse(this.#route(req));
    if (url.pathname !== "/ws" || req.headers.upgrade?.toLowerCase() !== "websocket") {
      return refuse(this.#text(400, "Expected a WebSocket upgrade at /ws\n", host));
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.#allowedOrigin(origin, host)) {
      this.#options.events.emit({ type: "limit", limit: "web_origin" });
      const remote = address(req, this.#proxies);
      if (this.#refusedOrigins.size < 100 && !this.#refusedOrigins.has(origin)) {
        this.#refusedOrigins.add(origin);
        log.warn("Refused a WebSocket from origin {origin} ({remote})", { origin, remote });
      }
      return refuse(this.#text(403, "Forbidden origin\n", host));
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const remote = address(req, this.#proxies);
      const { connections } = this.#options;
      if (connections.admit(remote) !== "ok") {
        ws.send(new TextDecoder().decode(connections.refusal()).trimEnd());
        ws.close(1013, "server_busy");
        return;
      }
      const conn = new WsConn(ws, socket, remote, this.#options);
      this.#conns.add(conn);
      ws.on("close", () => this.#conns.delete(conn));
      connections.serve(conn, "ws");
    });
  }

  /** One download of an export, with a ticket from `export_ticket` (60 s, once). */
  #export(url: URL, host: string): Reply {
    const spec = this.#options.tickets.take(url.searchParams.get("ticket") ?? "");
    if (!spec) return this.#text(410, "This download link was used or is over\n", host);
    const { format, channel, bom } = spec;
    const body = exportStream(this.#options.store, { format, bom, filter: { channel } });
    const name = `messages${channel ? `_${channel.replace(/^#/, "")}` : ""}.${format}`;
    return {
      status: 200,
      headers: this.#headers(host, {
        "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/json",
        "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(name)}`,
        "cache-control": "no-store",
      }),
      body,
    };
  }

  /** IP literals, localhost, and the hosts of `--web-origins`. */
  #knownHost(host: string): boolean {
    const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0];
    const lower = name.toLowerCase();
    return ipaddr.isValid(lower) || lower === "localhost" || lower.endsWith(".localhost") ||
      this.#hosts.has(lower);
  }

  #allowedOrigin(origin: string, host: string): boolean {
    return origin === `${this.#scheme()}://${host}` || this.#origins.has(origin);
  }

  #scheme(): string {
    return this.#options.tls ? "https" : "http";
  }

  #headers(host: string, extra: Record<string, string>): Record<string, string> {
    const ws = `${this.#options.tls ? "wss" : "ws"}://${host}`;
    return { ...SECURITY_HEADERS, "content-security-policy": csp(ws), ...extra };
  }

  #text(
    status: number,
    text: string,
    host: string,
    extra: Record<string, string> = {},
  ): Reply {
    const headers = this.#headers(host, { "content-type": "text/plain; charset=utf-8", ...extra });
    return { status, headers, body: text };
  }
}

const HEARTBEAT_MS = 30_000;

/**
 * The client's address: the peer's, or, when the peer is a load balancer of `--proxy-from`,
 * the last address of its `X-Forwarded-For` (the one it appended: earlier ones came from the
 * client and prove nothing).
 */
function address(req: http.IncomingMessage, proxies: AddressSet): string {
  const peer = plainAddress(req.socket.remoteAddress ?? "");
  if (!proxies.has(peer)) return peer;
  const header = req.headers["x-forwarded-for"];
  const forwarded = (Array.isArray(header) ? header.join(",") : header ?? "").split(",")
    .map((a) => a.trim()).filter((a) => a !== "").at(-1);
  return forwarded !== undefined && ipaddr.isValid(forwarded) ? plainAddress(forwarded) : peer;
}

/** Streams `body` into `res`, waiting whenever the client reads slower than the store. */
async function pipe(body: ReadableStream<Uint8Array>, res: http.ServerResponse): Promise<void> {
  const reader = body.getReader();
  let gone = false;
  res.on("close", () => {
    gone = true;
    reader.cancel().catch(() => {});
  });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gone) break;
      if (!res.write(value)) await new Promise((resolve) => res.once("drain", resolve));
    }
    res.end();
  } catch (err) {
    log.warn("Export download failed: {error}", { error: (err as Error).message });
    res.destroy();
  }
}
