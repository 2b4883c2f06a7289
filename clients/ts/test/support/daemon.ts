// Starts real daemons for the tests: one temp data dir each, stopped with SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type OpenPact } from "@openpact/client/node";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

/** The daemon binary: OPENPACT_BIN, else <repo>/target/release/openpact. */
export const OPENPACT_BIN = process.env.OPENPACT_BIN || join(repo, "target/release/openpact");

export interface Daemon {
    dataDir: string;
    socketPath: string;
    /** The dashboard port (gRPC-web under /grpc-web/), when started with `dashboard: true`. */
    dashboardPort: number;
    /** A client on the daemon's socket (closed by stop()). */
    client: OpenPact;
    /** SIGTERM, wait for the exit, remove the data dir (unless kept). */
    stop(): Promise<void>;
}

export interface StartOptions {
    /** Use this data dir (created if missing; not removed on stop). */
    dataDir?: string;
    /** Serve the dashboard on a port the OS picks. */
    dashboard?: boolean;
}

/** A fresh temp dir, short enough for a unix socket path. */
export function tempDir(prefix = "opts-"): string {
    return mkdtempSync(join(tmpdir(), prefix));
}

export async function startDaemon(options: StartOptions = {}): Promise<Daemon> {
    const ownDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? tempDir();
    const socketPath = join(dataDir, "openpact.sock");
    const args = ["--data-dir", dataDir, "start", "--foreground", "--port", "0", "--log-level", "warn"];
    args.push(...(options.dashboard ? ["--dashboard-port", "0"] : ["--no-dashboard"]));
    const proc = spawn(OPENPACT_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));

    let client: OpenPact | undefined;
    const deadline = Date.now() + 20_000;
    while (!client) {
        if (proc.exitCode !== null) throw new Error(`openpact exited with ${proc.exitCode} before answering:\n${stderr}`);
        if (existsSync(socketPath)) {
            try {
                client = await connect({ socketPath });
                break;
            } catch {
                // not answering yet
            }
        }
        if (Date.now() > deadline) {
            await kill(proc, exited);
            throw new Error(`openpact did not answer on ${socketPath} within 20 s:\n${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    const dashboardPort = options.dashboard ? (await client.status()).dashboardPort : 0;
    return {
        dataDir,
        socketPath,
        dashboardPort,
        client,
        async stop() {
            client!.close();
            await kill(proc, exited);
            if (ownDir) rmSync(dataDir, { recursive: true, force: true });
        },
    };
}

async function kill(proc: ChildProcess, exited: Promise<number | null>): Promise<void> {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
}
