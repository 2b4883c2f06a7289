// The README's Node example works as printed: extracted from README.md and run against a fresh
// daemon found through OPENPACT_DATA_DIR.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startDaemon, type Daemon } from "./support/daemon.js";

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");
let daemon: Daemon;
let scratch: string;

before(async () => {
    daemon = await startDaemon();
    // Inside the package, so `@openpact/client/node` resolves to this package's build.
    scratch = mkdtempSync(join(pkg, ".tmp-readme-"));
});
after(async () => {
    await daemon?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The first ```ts block after the heading `## <section>`. */
function example(section: string): string {
    const readme = readFileSync(join(pkg, "README.md"), "utf8");
    const at = readme.indexOf(`\n## ${section}\n`);
    assert.ok(at >= 0, `README.md has no "## ${section}" section`);
    const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
    assert.ok(block, `no ts code block under "## ${section}"`);
    return block[1]!;
}

test("the README's Node example runs as printed", async () => {
    const code = example("Node");
    assert.ok(code.split("\n").filter((l) => l.trim()).length <= 12, "the example grew past a dozen lines");
    const file = join(scratch, "example.mts");
    writeFileSync(file, code);
    const env = { ...process.env, OPENPACT_DATA_DIR: daemon.dataDir };
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], { cwd: pkg, env, timeout: 30_000 });
    assert.match(stdout, /^[0-9a-f]{8}-\d+ Staging deploys on Tuesdays$/m);
    assert.match(stdout, /^claimed by anon-[a-z]+-[0-9a-f]{8}$/m);
    // It made the pact the fresh daemon lacked, and wrote to it.
    const status = await daemon.client.status();
    assert.equal(status.current, "demo");
});
