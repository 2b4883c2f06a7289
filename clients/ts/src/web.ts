// The browser side: the control plane over gRPC-web, as the daemon's dashboard port serves it
// under /grpc-web/ (same origin only). Nothing here needs Node.
import { GrpcWebFetchTransport } from "@protobuf-ts/grpcweb-transport";
import { OpenPact } from "./client.js";

export interface ConnectWebOptions {
    /**
     * The gRPC-web endpoint, `http://127.0.0.1:<dashboard-port>/grpc-web`. Default: `/grpc-web` on
     * the page's own origin (the daemon refuses other origins).
     */
    baseUrl?: string;
    /** The default pact of per-pact calls (alias or id); default: the daemon's current pact. */
    pact?: string;
    /** Check that the daemon answers (Host.Ping) before returning; default true. */
    ping?: boolean;
}

/** The default endpoint: /grpc-web on the page's origin. */
export function defaultBaseUrl(): string {
    const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
    if (!origin || origin === "null") {
        throw new Error("No page origin to reach the daemon from: pass baseUrl (http://127.0.0.1:<dashboard-port>/grpc-web).");
    }
    return `${origin}/grpc-web`;
}

/** A client over gRPC-web. Throws DaemonUnavailableError when nothing answers at `baseUrl`. */
export async function connectWeb(options: ConnectWebOptions = {}): Promise<OpenPact> {
    const baseUrl = (options.baseUrl ?? defaultBaseUrl()).replace(/\/+$/, "");
    const transport = new GrpcWebFetchTransport({ baseUrl, format: "binary" });
    const client = new OpenPact(transport, { target: baseUrl, web: true, ...(options.pact === undefined ? {} : { pact: options.pact }) });
    if (options.ping ?? true) await client.ping();
    return client;
}
