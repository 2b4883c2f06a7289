// The wrapper in a real browser: headless Chromium (Debian's, /usr/bin/chromium) loads the
// esbuild bundle of `@openpact/client` into a page served from the daemon's dashboard origin, and
// talks gRPC-web to /grpc-web/ on that same origin.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { OPENPACT_BIN, startDaemon, type Daemon } from "./support/daemon.js";

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

let daemon: Daemon;
let browser: Browser;
let bundle: string;
let origin: string;

before(async () => {
    const built = await build({
        entryPoints: [join(here, "browser/entry.ts")],
        bundle: true,
        format: "iife",
        globalName: "openpact",
        platform: "browser",
        target: "es2022",
        write: false,
        logLevel: "silent",
    });
    bundle = built.outputFiles[0]!.text;
    daemon = await startDaemon({ dashboard: true });
    await daemon.client.createPact({ name: "Main", alias: "main" });
    origin = `http://127.0.0.1:${daemon.dashboardPort}`;
    browser = await chromium.launch({ executablePath: CHROMIUM });
});
after(async () => {
    await browser?.close();
    await daemon?.stop();
});

const NO_DASHBOARD = `${OPENPACT_BIN} reports no dashboard port after --dashboard-port 0: a daemon without the gRPC-web endpoint (an older build?)`;

/** A page on the dashboard's origin with the bundle loaded (as `window.openpact`). */
async function openPage(): Promise<Page> {
    assert.ok(daemon.dashboardPort > 0, NO_DASHBOARD);
    const page = await browser.newPage();
    const html = "<!doctype html><title>openpact client test</title>";
    await page.route(`${origin}/__test__.html`, (r) => r.fulfill({ contentType: "text/html", body: html }));
    await page.goto(`${origin}/__test__.html`);
    await page.addScriptTag({ content: bundle });
    return page;
}

test("the browser bundle pulls in nothing Node-only", () => {
    for (const nodeOnly of ["@grpc/grpc-js", "node:fs", "node:os", "http2"]) {
        assert.ok(!bundle.includes(nodeOnly), `the bundle contains ${nodeOnly}`);
    }
});

test("the daemon serves gRPC-web on its dashboard port", async () => {
    assert.ok(daemon.dashboardPort > 0, NO_DASHBOARD);
    const res = await fetch(`${origin}/grpc-web/openpact.v1.Host/Ping`, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
        body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    assert.equal(res.status, 200, `POST /grpc-web/openpact.v1.Host/Ping answered ${res.status}`);
    assert.match(res.headers.get("content-type") ?? "", /^application\/grpc-web/);
});

test("in a browser: knowledge pages, a write and its event, a typed error", async () => {
    const page = await openPage();
    try {
        const result = await page.evaluate(async () => {
            const { connectWeb, UnknownPactError, OpenPactError, DaemonUnavailableError } = (window as any).openpact;
            const op = await connectWeb();
            const out: Record<string, unknown> = { baseUrl: op.target, ping: (await op.ping()).ok };

            await op.createPact({ name: "Web", alias: "web" });
            const web = op.withPact("web");
            for (let i = 0; i < 7; i++) await web.createKnowledge({ topic: "paging", content: `c${i}` });
            const sizes: number[] = [];
            const contents: string[] = [];
            for await (const p of web.knowledgePages({ topic: "paging", pageSize: 3 })) {
                sizes.push(p.entries.length);
                for (const e of p.entries) contents.push(e.payload.knowledge.content);
            }
            out.sizes = sizes;
            out.contents = contents;

            const stop = new AbortController();
            let opened!: () => void;
            const open = new Promise<void>((r) => (opened = r));
            const events: string[] = [];
            const reading = (async () => {
                for await (const ev of web.subscribe({ pacts: ["web"], kinds: ["ENTRY_APPLIED"], signal: stop.signal, onOpen: opened })) {
                    events.push(ev.detail.applied?.entry?.payload?.knowledge?.content ?? "");
                    if (events.includes("from the browser")) stop.abort();
                }
                return "ended";
            })();
            await open;
            const written = await web.createKnowledge({ topic: "events", content: "from the browser" });
            out.written = written.id;
            out.streamEnd = await Promise.race([reading, new Promise((r) => setTimeout(() => r("timeout"), 10_000))]);
            out.events = events;

            try {
                await op.pactStatus({ pact: "does-not-exist" });
                out.error = "no error";
            } catch (e: any) {
                out.error = {
                    name: e.name,
                    unknownPact: e instanceof UnknownPactError,
                    base: e instanceof OpenPactError,
                    code: e.code,
                    httpStatus: e.httpStatus,
                    message: e.message,
                };
            }

            try {
                await connectWeb({ baseUrl: "http://127.0.0.1:9/grpc-web" });
                out.unavailable = "connected";
            } catch (e: any) {
                out.unavailable = { unavailable: e instanceof DaemonUnavailableError, message: e.message };
            }
            return out;
        });

        assert.equal(result.baseUrl, `${origin}/grpc-web`);
        assert.equal(result.ping, true);
        assert.deepEqual(result.sizes, [3, 3, 1]);
        assert.deepEqual(result.contents, ["c6", "c5", "c4", "c3", "c2", "c1", "c0"]);
        assert.equal(result.streamEnd, "ended");
        assert.ok((result.events as string[]).includes("from the browser"));
        assert.deepEqual(result.error, {
            name: "UnknownPactError",
            unknownPact: true,
            base: true,
            code: "UNKNOWN_PACT",
            httpStatus: 404,
            message: (result.error as { message: string }).message,
        });
        assert.deepEqual((result.unavailable as { unavailable: boolean }).unavailable, true);
        assert.match((result.unavailable as { message: string }).message, /openpact start/);
        // The write is visible from Node too: one daemon, two transports.
        assert.equal((await daemon.client.getEntry(result.written as string, { pact: "web" })).id, result.written);
    } finally {
        await page.close();
    }
});
