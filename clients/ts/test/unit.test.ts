// What needs no daemon: the error classes against the Code enum, the wire-code mapping, the skill
// checksum and the socket discovery rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { RpcError } from "@protobuf-ts/runtime-rpc";
import {
    Code,
    DaemonUnavailableError,
    ErrorDetail,
    OpenPactError,
    PactAliasExistsError,
    TaskAlreadyClaimedError,
    errorClassByCode,
    errorClassFor,
    skillChecksum,
    toOpenPactError,
} from "@openpact/client";
import * as client from "@openpact/client";
import { resolveDataDir, resolveSocketPath } from "@openpact/client/node";

const wireCodes = Object.keys(Code).filter((k) => Number.isNaN(Number(k)) && k !== "CODE_UNSPECIFIED");

test("every wire code of openpact.v1.Code has its own exported error class", () => {
    assert.ok(wireCodes.length >= 40, `only ${wireCodes.length} codes in the enum`);
    const seen = new Set<unknown>();
    for (const code of wireCodes) {
        const Class = errorClassByCode[code];
        assert.ok(Class, `no class for ${code}`);
        assert.notEqual(Class, OpenPactError, `${code} maps to the base class`);
        assert.equal(Class.wireCode, code);
        assert.ok(!seen.has(Class), `${code} shares its class`);
        seen.add(Class);
        const name = Class.name;
        assert.equal((client as Record<string, unknown>)[name], Class, `${name} is not exported`);
        const e = new Class("boom", { code, httpStatus: 400 });
        assert.ok(e instanceof OpenPactError && e instanceof Error);
        assert.equal(e.name, name);
    }
    assert.equal(Object.keys(errorClassByCode).length, wireCodes.length, "a class for a code the enum lacks");
});

test("an unknown wire code maps to the base class", () => {
    const Class = errorClassFor("SOMETHING_NEWER");
    assert.equal(Class, OpenPactError);
    const err = toOpenPactError(new RpcError("new", "FAILED_PRECONDITION", { "openpact-code": "SOMETHING_NEWER" }), "sock");
    assert.ok(err instanceof OpenPactError);
    assert.equal(err.constructor, OpenPactError);
    assert.equal(err.code, "SOMETHING_NEWER");
    assert.equal(err.httpStatus, 400);
});

test("status details win over the trailer and carry the HTTP status and message", () => {
    const detail = ErrorDetail.toBinary(ErrorDetail.create({ code: Code.PACT_ALIAS_EXISTS, httpStatus: 409, message: "taken" }));
    // google.rpc.Status {code: 6, message: "taken", details: [Any{type_url, value}]} by hand.
    const url = new TextEncoder().encode("type.googleapis.com/openpact.v1.ErrorDetail");
    const any = [0x0a, url.length, ...url, 0x12, detail.length, ...detail];
    const status = Uint8Array.from([0x08, 6, 0x12, 5, ...new TextEncoder().encode("taken"), 0x1a, any.length, ...any]);
    const b64 = Buffer.from(status).toString("base64").replace(/=+$/, "");
    const err = toOpenPactError(new RpcError("x", "ALREADY_EXISTS", { "grpc-status-details-bin": b64, "openpact-code": "NOT_FOUND" }), "sock");
    assert.ok(err instanceof PactAliasExistsError);
    assert.equal(err.code, "PACT_ALIAS_EXISTS");
    assert.equal(err.httpStatus, 409);
    assert.equal(err.message, "taken");
    assert.equal(err.grpcCode, "ALREADY_EXISTS");
});

test("the trailer alone is enough", () => {
    const err = toOpenPactError(new RpcError("lost", "ABORTED", { "openpact-code": "TASK_ALREADY_CLAIMED" }), "sock");
    assert.ok(err instanceof TaskAlreadyClaimedError);
});

test("UNAVAILABLE without a wire code is DaemonUnavailableError naming the target", () => {
    const err = toOpenPactError(new RpcError("No connection established", "UNAVAILABLE"), "/x/openpact.sock");
    assert.ok(err instanceof DaemonUnavailableError);
    assert.match(err.message, /\/x\/openpact\.sock/);
    assert.match(err.message, /openpact start/);
    const web = toOpenPactError(new RpcError("Failed to fetch", "INTERNAL"), "http://127.0.0.1:1/grpc-web", true);
    assert.ok(web instanceof DaemonUnavailableError);
});

test("skill checksums match the spec's vectors", async () => {
    assert.equal(await skillChecksum("hello world"), "sha256:d5ae0e2bf8419e3fdfbb6b26073fdb005a0e39ec45019e426dd68ffad6815083");
    assert.equal(await skillChecksum(""), "sha256:a7ac5d4f3d05b8d4070adb8ab99cc92836dc479c2b31db4100a2d86ff7bf7f3f");
    assert.equal(await skillChecksum("real content"), "sha256:5a66434a5dac89411dfd2bb8b8b4e13989f994a5b8a26491fc289b3fd169fb98");
});

test("socket discovery: option, then OPENPACT_DATA_DIR, then ~/.openpact", () => {
    const env = { HOME: "/home/someone", OPENPACT_DATA_DIR: "/srv/op" };
    assert.equal(resolveSocketPath({ socketPath: "/a/b.sock", dataDir: "/c" }, env), "/a/b.sock");
    assert.equal(resolveSocketPath({ dataDir: "/c" }, env), "/c/openpact.sock");
    assert.equal(resolveSocketPath({}, env), "/srv/op/openpact.sock");
    assert.equal(resolveDataDir(undefined, {}), join(process.env.HOME ?? "", ".openpact"));
});
