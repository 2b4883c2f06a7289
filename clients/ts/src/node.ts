// @openpact/client/node: the control plane over the daemon's unix socket (grpc-js). The socket
// is `<data-dir>/openpact.sock`, the data dir being the `dataDir` option, else OPENPACT_DATA_DIR,
// else ~/.openpact, as for the `openpact` CLI.
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ChannelCredentials } from "@grpc/grpc-js";
import { GrpcTransport } from "@protobuf-ts/grpc-transport";
import { OpenPact } from "./client.js";

export * from "./index.js";

export interface ConnectOptions {
    /** The socket itself; wins over `dataDir`. */
    socketPath?: string;
    /** The daemon's data dir; default OPENPACT_DATA_DIR, else ~/.openpact. */
    dataDir?: string;
    /** The default pact of per-pact calls (alias or id); default: the daemon's current pact. */
    pact?: string;
    /** Check that the daemon answers (Host.Ping) before returning; default true. */
    ping?: boolean;
}

/** The daemon's data dir: `dataDir`, else OPENPACT_DATA_DIR, else ~/.openpact. */
export function resolveDataDir(dataDir?: string, env: NodeJS.ProcessEnv = process.env): string {
    const dir = dataDir || env.OPENPACT_DATA_DIR || join(homedir(), ".openpact");
    return resolve(dir);
}

/** The socket a client connects to (see ConnectOptions). */
export function resolveSocketPath(options: Pick<ConnectOptions, "socketPath" | "dataDir"> = {}, env: NodeJS.ProcessEnv = process.env): string {
    if (options.socketPath) return resolve(options.socketPath);
    return join(resolveDataDir(options.dataDir, env), "openpact.sock");
}

/** A transport to the daemon on `socketPath` (plain HTTP/2 gRPC; the socket's mode is the auth). */
export function socketTransport(socketPath: string): GrpcTransport {
    return new GrpcTransport({ host: `unix:${socketPath}`, channelCredentials: ChannelCredentials.createInsecure() });
}

/**
 * A client over the daemon's unix socket. Throws DaemonUnavailableError, naming the socket, when
 * no daemon answers there. Close it with `close()` so the process can exit.
 */
export async function connect(options: ConnectOptions = {}): Promise<OpenPact> {
    const socketPath = resolveSocketPath(options);
    const transport = socketTransport(socketPath);
    const client = new OpenPact(transport, {
        target: socketPath,
        close: () => transport.close(),
        ...(options.pact === undefined ? {} : { pact: options.pact }),
    });
    if (options.ping ?? true) {
        try {
            await client.ping();
        } catch (e) {
            client.close();
            throw e;
        }
    }
    return client;
}
