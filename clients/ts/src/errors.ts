// Turns a failed RPC into the error class of its wire code.
//
// The daemon puts a google.rpc.Status in the `grpc-status-details-bin` trailer whose details[0] is
// an Any holding openpact.v1.ErrorDetail {code, http_status, message}; it also sends the code's
// name as the `openpact-code` trailer. google/rpc/status.proto is not among the protos protoc
// ships, so the two wrapper messages are described here with the runtime's reflection types.
import { MessageType, RepeatType, ScalarType, base64decode } from "@protobuf-ts/runtime";
import { RpcError, type RpcMetadata } from "@protobuf-ts/runtime-rpc";
import { Code, ErrorDetail } from "./gen/openpact/v1/common.js";
import { errorClassByCode } from "./gen/errors.js";
import { DaemonUnavailableError, OpenPactError } from "./error-base.js";

export * from "./gen/errors.js";
export { DaemonUnavailableError, OpenPactError, type OpenPactErrorInit } from "./error-base.js";

interface AnyMessage {
    typeUrl: string;
    value: Uint8Array;
}
const AnyMessage = new MessageType<AnyMessage>("google.protobuf.Any", [
    { no: 1, name: "type_url", kind: "scalar", T: ScalarType.STRING },
    { no: 2, name: "value", kind: "scalar", T: ScalarType.BYTES },
]);

interface RpcStatus {
    code: number;
    message: string;
    details: AnyMessage[];
}
const RpcStatus = new MessageType<RpcStatus>("google.rpc.Status", [
    { no: 1, name: "code", kind: "scalar", T: ScalarType.INT32 },
    { no: 2, name: "message", kind: "scalar", T: ScalarType.STRING },
    { no: 3, name: "details", kind: "message", repeat: RepeatType.UNPACKED, T: () => AnyMessage },
]);

const ERROR_DETAIL_URL = "type.googleapis.com/openpact.v1.ErrorDetail";

/** HTTP statuses for calls that failed without a wire code (the usual gRPC-to-HTTP mapping). */
const HTTP_BY_GRPC: Readonly<Record<string, number>> = {
    CANCELLED: 499,
    UNKNOWN: 500,
    INVALID_ARGUMENT: 400,
    DEADLINE_EXCEEDED: 504,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
    PERMISSION_DENIED: 403,
    RESOURCE_EXHAUSTED: 429,
    FAILED_PRECONDITION: 400,
    ABORTED: 409,
    OUT_OF_RANGE: 400,
    UNIMPLEMENTED: 501,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    DATA_LOSS: 500,
    UNAUTHENTICATED: 401,
};

function metaValue(meta: RpcMetadata | undefined, key: string): string | undefined {
    if (!meta) return undefined;
    for (const [k, v] of Object.entries(meta)) {
        if (k.toLowerCase() !== key) continue;
        return Array.isArray(v) ? v[0] : v;
    }
    return undefined;
}

/**
 * The ErrorDetail inside a `grpc-status-details-bin` value (base64 of a google.rpc.Status), or
 * undefined when it holds none or does not parse.
 */
export function decodeErrorDetail(statusDetailsBin: string): ErrorDetail | undefined {
    try {
        const status = RpcStatus.fromBinary(base64decode(statusDetailsBin));
        const any = status.details.find((d) => d.typeUrl === ERROR_DETAIL_URL);
        return any ? ErrorDetail.fromBinary(any.value) : undefined;
    } catch {
        return undefined;
    }
}

/** The class a wire code's name maps to: its own subclass, or OpenPactError for an unknown code. */
export function errorClassFor(code: string): typeof OpenPactError {
    return Object.hasOwn(errorClassByCode, code) ? errorClassByCode[code]! : OpenPactError;
}

/** The error a wire code, HTTP status and message make (what the daemon's details carry). */
export function errorFromWire(code: string, httpStatus: number, message: string, extra: { grpcCode?: string; cause?: unknown } = {}): OpenPactError {
    const Class = errorClassFor(code);
    return new Class(message, { code, httpStatus, ...extra });
}

/**
 * Turns what a call threw into an OpenPactError subclass. `target` names what the client talks to
 * (socket path or URL) for DaemonUnavailableError; `web` says the transport is gRPC-web, where an
 * unreachable server shows up as a failed fetch. Anything that is not an RpcError is returned as is.
 */
export function toOpenPactError(err: unknown, target: string, web = false): unknown {
    if (err instanceof OpenPactError || !(err instanceof RpcError)) return err;
    const detailsBin = metaValue(err.meta, "grpc-status-details-bin");
    const detail = detailsBin === undefined ? undefined : decodeErrorDetail(detailsBin);
    const trailerCode = metaValue(err.meta, "openpact-code");
    const detailCode = detail && detail.code !== Code.CODE_UNSPECIFIED ? Code[detail.code] : undefined;
    const code = detailCode ?? trailerCode ?? (detail ? `CODE_${detail.code}` : undefined);
    if (code !== undefined) {
        const httpStatus = detail?.httpStatus || HTTP_BY_GRPC[err.code] || 500;
        return errorFromWire(code, httpStatus, detail?.message || err.message, { grpcCode: err.code, cause: err });
    }
    if (err.code === "UNAVAILABLE" || (web && err.code === "INTERNAL" && isFetchFailure(err.message))) {
        return new DaemonUnavailableError(target, err);
    }
    return new OpenPactError(err.message, { code: err.code, httpStatus: HTTP_BY_GRPC[err.code] ?? 500, grpcCode: err.code, cause: err });
}

// What browsers say when fetch cannot reach the server at all.
function isFetchFailure(message: string): boolean {
    return /failed to fetch|networkerror|load failed|fetch failed|network error/i.test(message);
}
