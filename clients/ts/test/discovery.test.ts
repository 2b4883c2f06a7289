// The client finds the daemon's socket by itself: an explicit data dir, else OPENPACT_DATA_DIR,
// else ~/.openpact. One daemon whose data dir is <temp home>/.openpact serves all three.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connect, DaemonUnavailableError } from "@openpact/client/node";
import { startDaemon, tempDir as makeTempDir, type Daemon } from "./support/daemon.js";

const made: string[] = [];
function tempDir(prefix: string): string {
    const dir = makeTempDir(prefix);
    made.push(dir);
    return dir;
}

let home: string;
let daemon: Daemon;
const saved = { HOME: process.env.HOME, OPENPACT_DATA_DIR: process.env.OPENPACT_DATA_DIR };

before(async () => {
    home = tempDir("ophome-");
    mkdirSync(join(home, ".openpact"));
    daemon = await startDaemon({ dataDir: join(home, ".openpact") });
});
after(async () => {
    restore();
    await daemon?.stop();
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function restore() {
    for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
}

async function whoAnswers(options: Parameters<typeof connect>[0] = {}): Promise<string> {
    const client = await connect(options);
    try {
        return (await client.ping()).dataDir;
    } finally {
        client.close();
    }
}

test("with OPENPACT_DATA_DIR set, the client finds <dir>/openpact.sock", async (t) => {
    t.after(restore);
    process.env.HOME = tempDir("ophome-other-");
    process.env.OPENPACT_DATA_DIR = daemon.dataDir;
    assert.equal(await whoAnswers(), daemon.dataDir);
});

test("an explicit data dir wins over OPENPACT_DATA_DIR", async (t) => {
    t.after(restore);
    process.env.OPENPACT_DATA_DIR = tempDir("opnone-");
    assert.equal(await whoAnswers({ dataDir: daemon.dataDir }), daemon.dataDir);
    await assert.rejects(whoAnswers(), DaemonUnavailableError);
});

test("without either, the client uses ~/.openpact", async (t) => {
    t.after(restore);
    delete process.env.OPENPACT_DATA_DIR;
    process.env.HOME = home;
    assert.equal(await whoAnswers(), join(home, ".openpact"));
});
