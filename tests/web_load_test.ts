// The web app's first load: its files travel compressed (brotli or gzip, as the browser accepts),
// and a first visit stays within the budget of a school's shared connection (README "Web app").
import assert from "node:assert/strict";
import http from "node:http";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { launchBrowser } from "./helpers/browser.ts";
import { startTestServer, type TestServer } from "./helpers/test_server.ts";
import { needs } from "./helpers/tools.ts";

/** The first load's budget, in bytes on the wire (the web app's issue: 40 KB). */
const FIRST_LOAD_BUDGET = 40 * 1024;

const webUrl = (srv: TestServer, path = "/") => `http://127.0.0.1:${srv.server.webPort}${path}`;

/** One GET with raw bytes: node:http does not decompress, unlike fetch. */
function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      res.on("end", () => {
        const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let at = 0;
        for (const c of chunks) body.set(c, (at += c.length) - c.length);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

Deno.test("the web app's files are sent brotli or gzip as the browser accepts, the same bytes once decoded", async () => {
  await using srv = await startTestServer({ web: true });
  const html = await (await fetch(webUrl(srv))).text();
  const scripts = [...html.matchAll(/(?:src|href)="\/?([^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  assert.ok(scripts.length >= 2, html);
  for (const name of ["index.html", ...scripts]) {
    const url = webUrl(srv, `/${name}`);
    const plain = await rawGet(url, {});
    assert.equal(plain.status, 200);
    assert.equal(plain.headers["content-encoding"], undefined, "no Accept-Encoding: the bytes");
    assert.equal(plain.headers.vary, "accept-encoding", name);
    const cases: [string, string | undefined, (b: Uint8Array) => Uint8Array][] = [
      ["gzip, deflate, br, zstd", "br", (b) => brotliDecompressSync(b)],
      ["gzip, deflate", "gzip", (b) => gunzipSync(b)],
      ["br;q=0, gzip;q=0.5", "gzip", (b) => gunzipSync(b)],
      ["identity", undefined, (b) => b],
      ["*;q=0, identity", undefined, (b) => b],
    ];
    for (const [accept, expected, decode] of cases) {
      const got = await rawGet(url, { "accept-encoding": accept });
      assert.equal(got.headers["content-encoding"], expected, `${name} for ${accept}`);
      assert.deepEqual(new Uint8Array(decode(got.body)), plain.body, `${name} for ${accept}`);
      if (expected) {
        assert.ok(got.body.length < plain.body.length, `${name} ${expected} is compressed`);
        // Each encoding its own tag: a cache never answers gzip bytes to a brotli request.
        assert.notEqual(got.headers.etag, plain.headers.etag);
        const again = await rawGet(url, {
          "accept-encoding": accept,
          "if-none-match": String(got.headers.etag),
        });
        assert.equal(again.status, 304, `${name} revalidated`);
      }
    }
  }
});

Deno.test("a first visit of the web app transfers at most 40 KB", needs("chromium"), async () => {
  await using srv = await startTestServer({ web: true });
  await using browser = await launchBrowser();
  const page = await browser.user();
  // Bytes on the wire, headers included, as Chromium's network panel counts them.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  let transferred = 0;
  const requests = new Map<string, string>();
  cdp.on("Network.requestWillBeSent", (e) => requests.set(e.requestId, e.request.url));
  cdp.on("Network.loadingFinished", (e) => {
    if (!requests.get(e.requestId)?.startsWith("ws")) transferred += e.encodedDataLength;
  });
  await page.goto(webUrl(srv));
  await page.getByRole("textbox", { name: /pseudo|nom/i }).first().waitFor();
  await page.waitForLoadState("networkidle");
  console.log(`first load: ${(transferred / 1024).toFixed(1)} KB over ${requests.size} requests`);
  assert.ok(requests.size >= 3, [...requests.values()].join(", "));
  assert.ok(
    transferred <= FIRST_LOAD_BUDGET,
    `${transferred} bytes transferred on a first visit, budget ${FIRST_LOAD_BUDGET}`,
  );
});
