// The root of the client's error classes. One subclass per wire code lives in gen/errors.ts
// (written from `enum Code` of common.proto); errors.ts turns a failed call into one of them.

/** What an OpenPactError carries besides its message. */
export interface OpenPactErrorInit {
    /** The wire code's name (`BAD_CURSOR`), or the gRPC status name when the daemon sent none. */
    code: string;
    /** The HTTP status REST answers with for this code. */
    httpStatus: number;
    /** The gRPC status the call ended with (`NOT_FOUND`, `FAILED_PRECONDITION`, ...). */
    grpcCode?: string;
    /** The transport's error. */
    cause?: unknown;
}

/**
 * A failed call to the daemon. Each wire code of `openpact.v1.Code` has its own subclass
 * (`BadCursorError`, `TaskAlreadyClaimedError`, ...); a code this client does not know, or a
 * failure without a wire code, is an OpenPactError itself.
 */
export class OpenPactError extends Error {
    /** The wire code this class stands for (empty on the base class). */
    static readonly wireCode: string = "";

    readonly code: string;
    readonly httpStatus: number;
    readonly grpcCode: string | undefined;

    constructor(message: string, init: OpenPactErrorInit) {
        super(message, init.cause === undefined ? undefined : { cause: init.cause });
        this.name = new.target.name;
        this.code = init.code;
        this.httpStatus = init.httpStatus;
        this.grpcCode = init.grpcCode;
    }
}

/** No daemon answers: the socket (or the dashboard URL) is not served. */
export class DaemonUnavailableError extends OpenPactError {
    static override readonly wireCode: string = "DAEMON_UNAVAILABLE";

    /** The socket path or URL that did not answer. */
    readonly target: string;

    constructor(target: string, cause?: unknown) {
        super(`Daemon is not running (nothing answers on ${target}). Start it with \`openpact start\`.`, {
            code: "DAEMON_UNAVAILABLE",
            httpStatus: 503,
            grpcCode: "UNAVAILABLE",
            cause,
        });
        this.target = target;
    }
}
