// The wrapper against a live daemon: registry, lists and their iterators, tasks, skills, entries,
// changes, invites, events, and every error class one daemon can produce.
import { generateKeyPairSync } from "node:crypto";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import {
    BadCursorError,
    BadEntryError,
    BadRequestError,
    BadSkillNameError,
    DaemonUnavailableError,
    EventKind,
    InviteBadShapeError,
    InviteRevokedError,
    InviteSpentError,
    InviteWrongPactError,
    LastIndexerError,
    NotAssigneeError,
    NotClaimedError,
    NotConfirmedError,
    NotFoundError,
    NotSupportedYetError,
    OpenPact,
    OpenPactError,
    PactAliasExistsError,
    PayloadTooLargeError,
    SkillChecksumMismatchError,
    TaskAlreadyClaimedError,
    TaskAlreadyCompleteError,
    TaskNotOpenError,
    UnknownInviteError,
    UnknownPactError,
    connect,
    toOpenPactError,
    type Entry,
    type Event,
} from "@openpact/client/node";
import { startDaemon, tempDir, type Daemon } from "./support/daemon.js";

/** A real ed25519 public key (64 hex), as a joining daemon would present. */
function memberKey(): string {
  const der = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" });
  return Buffer.from(der).subarray(-32).toString("hex");
}

let daemon: Daemon;
let op: OpenPact;

before(async () => {
    daemon = await startDaemon();
    op = daemon.client;
    await op.createPact({ name: "Main", alias: "main" });
});
after(async () => {
    await daemon?.stop();
});

/** A new pact for one test, so counts are exact; the client returned defaults to it. */
let pactCount = 0;
async function freshPact(): Promise<OpenPact> {
    const alias = `p${++pactCount}`;
    await op.createPact({ name: `Test ${alias}`, alias });
    return op.withPact(alias);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
    const out: T[] = [];
    for await (const x of it) out.push(x);
    return out;
}

function content(e: Entry): string {
    switch (e.payload.oneofKind) {
        case "knowledge":
            return e.payload.knowledge.content;
        case "message":
            return e.payload.message.content;
        case "skill":
            return e.payload.skill.content;
        case "task":
            return e.payload.task.title;
        default:
            return "";
    }
}

describe("the daemon and its pacts", () => {
    test("ping and status say whose daemon answered", async () => {
        const ping = await op.ping();
        assert.equal(ping.ok, true);
        assert.equal(ping.dataDir, daemon.dataDir);
        const status = await op.status();
        assert.equal(status.current, "main");
        assert.ok(status.pactCount >= 1);
        assert.equal((await op.health()).status, "alive");
        assert.equal((await op.ready()).status, "ready");
    });

    test("create, list, switch, rename and delete pacts", async () => {
        const created = await op.createPact({ name: "Scratch", alias: "scratch", purpose: "tests" });
        assert.equal(created.alias, "scratch");
        assert.match(created.pactId, /^[0-9a-f]{64}$/);
        assert.equal(created.role, "creator");
        let list = await op.listPacts();
        assert.ok(list.pacts.some((p) => p.alias === "scratch" && p.pactPurpose === "tests"));

        assert.equal((await op.switchPact("scratch")).current, "scratch");
        assert.equal((await op.status()).current, "scratch");
        assert.equal((await op.switchPact("main")).current, "main");

        const renamed = await op.renamePact("scratch", "scratch2");
        assert.equal(renamed.alias, "scratch2");
        assert.equal(renamed.pactId, created.pactId);

        const deleted = await op.deletePact("scratch2");
        assert.equal(deleted.pactId, created.pactId);
        list = await op.listPacts();
        assert.ok(!list.pacts.some((p) => p.pactId === created.pactId));
    });

    test("pact status, agents, info and me", async () => {
        const p = await freshPact();
        const status = await p.pactStatus();
        assert.equal(status.role, "creator");
        assert.equal(status.isMember, true);
        assert.match(status.peerHandle, /^anon-[a-z]+-[0-9a-f]{8}$/);

        const agents = await p.agents();
        assert.equal(agents.length, 1);
        assert.equal(agents[0]!.isSelf, true);
        assert.equal(agents[0]!.id, status.peerHandle);
        assert.deepEqual(await p.agents({ online: false }), []);

        const info = await p.setInfo({ name: "Renamed", purpose: "A purpose", claimTtlMs: 60_000 });
        assert.equal(info.pactName, "Renamed");
        assert.equal(info.pactPurpose, "A purpose");
        assert.equal(info.claimTtlMs, 60_000);
        const cleared = await p.setInfo({ purpose: null });
        assert.equal(cleared.pactName, "Renamed");
        assert.equal(cleared.pactPurpose, undefined);

        assert.equal((await p.setMe({ displayName: "Ada" })).displayName, "Ada");
        assert.equal((await p.agents())[0]!.displayName, "Ada");
        assert.equal((await p.setMe({ displayName: null })).displayName, undefined);
    });
});

describe("lists walk every page", () => {
    test("knowledge: 7 entries with page size 3 are 3 pages, newest first, nothing repeated or lost", async () => {
        const p = await freshPact();
        const written: Entry[] = [];
        for (let i = 0; i < 7; i++) written.push(await p.createKnowledge({ topic: "paging", content: `c${i}` }));
        await p.createKnowledge({ topic: "other", content: "not paging" });

        const pages = await collect(p.knowledgePages({ topic: "paging", pageSize: 3 }));
        assert.deepEqual(pages.map((pg) => pg.entries.length), [3, 3, 1]);
        assert.deepEqual(pages.map((pg) => pg.hasMore), [true, true, false]);

        const all = await collect(p.knowledgeAll({ topic: "paging", pageSize: 3 }));
        assert.deepEqual(all.map(content), ["c6", "c5", "c4", "c3", "c2", "c1", "c0"]);
        assert.deepEqual(all.map((e) => e.id), written.map((e) => e.id).reverse());
        assert.equal(new Set(all.map((e) => e.id)).size, 7);

        const asc = await collect(p.knowledgeAll({ topic: "paging", pageSize: 2, order: "asc" }));
        assert.deepEqual(asc.map(content), ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
        assert.equal((await collect(p.knowledgeAll({ pageSize: 4 }))).length, 8);

        const first = await p.listKnowledge({ topic: "paging", limit: 3 });
        assert.equal(first.entries.length, 3);
        assert.ok(first.cursor);
        const rest = await collect(p.knowledgeAll({ topic: "paging", pageSize: 3, cursor: first.cursor }));
        assert.deepEqual(rest.map(content), ["c3", "c2", "c1", "c0"]);
    });

    test("an empty list is one empty page", async () => {
        const p = await freshPact();
        const pages = await collect(p.knowledgePages({ pageSize: 3 }));
        assert.equal(pages.length, 1);
        assert.deepEqual(pages[0]!.entries, []);
        assert.equal(pages[0]!.cursor, undefined);
        assert.equal(pages[0]!.hasMore, false);
    });

    test("messages, tasks and skills page the same way", async () => {
        const p = await freshPact();
        for (let i = 0; i < 5; i++) await p.postMessage({ content: `m${i}` });
        for (let i = 0; i < 4; i++) await p.createTask({ title: `t${i}` });
        for (let i = 0; i < 3; i++) await p.publishSkill({ name: `skill${i}`, version: "1.0.0", format: "generic", content: `s${i}` });

        const messages = await collect(p.messagesAll({ pageSize: 2 }));
        assert.deepEqual(messages.map(content), ["m4", "m3", "m2", "m1", "m0"]);
        assert.equal((await collect(p.messagePages({ pageSize: 2 }))).length, 3);

        const tasks = await collect(p.tasksAll({ pageSize: 3 }));
        assert.deepEqual(tasks.map((t) => t.title), ["t3", "t2", "t1", "t0"]);
        assert.ok(tasks.every((t) => t.status === "open"));
        await p.claimTask(tasks[0]!.id);
        assert.deepEqual((await collect(p.tasksAll({ status: "claimed", pageSize: 3 }))).map((t) => t.title), ["t3"]);
        assert.equal((await collect(p.tasksAll({ status: "open", pageSize: 1 }))).length, 3);

        const skills = await collect(p.skillsAll({ pageSize: 2, order: "asc" }));
        assert.deepEqual(skills.map(content), ["s0", "s1", "s2"]);
        assert.equal((await collect(p.skillsAll({ format: "openclaw" }))).length, 0);
    });

    test("messages filter by author, recipient and time, and thread by reply", async () => {
        const p = await freshPact();
        const me = (await p.pactStatus()).peerHandle;
        const first = await p.postMessage({ content: "heads up", priority: "high" });
        const reply = await p.postMessage({ content: "reply", replyTo: first.id });
        assert.deepEqual(reply.refs, [first.id]);
        assert.equal((await p.listMessages({ agentId: me })).entries.length, 2);
        assert.equal((await p.listMessages({ agentId: "anon-ghost-00000000" })).entries.length, 0);
        assert.deepEqual((await p.listMessages({ sinceMs: first.timeMs })).entries.map(content).filter((c) => c === "heads up"), []);
        const thread = await p.referencedBy(first.id);
        assert.deepEqual(thread.map(content), ["reply"]);
    });
});

describe("tasks", () => {
    test("claim, complete and release, waiting for confirmation", async () => {
        const p = await freshPact();
        const me = (await p.pactStatus()).peerHandle;
        const task = await p.createTask({ title: "Ship it", description: "soon" });
        assert.equal(task.status, "open");
        assert.equal(task.history.length, 1);

        const claimed = await p.claimTask(task.id, { wait: "confirmed", waitMs: 5000 });
        assert.equal(claimed.status, "claimed");
        assert.equal(claimed.claimedBy, me);
        assert.equal(claimed.confirmed, true);

        const released = await p.releaseTask(task.id, { wait: "confirmed" });
        assert.equal(released.status, "open");
        assert.equal(released.claimedBy, undefined);

        await p.claimTask(task.id);
        const done = await p.completeTask(task.id, { result: "shipped", wait: "confirmed" });
        assert.equal(done.status, "complete");
        assert.equal(done.result, "shipped");
        assert.equal(done.confirmed, true);

        const got = await p.getTask(task.id);
        assert.equal(got.status, "complete");
        assert.equal(got.history.length, 5);
        assert.equal((await p.referencedBy(task.id)).length, 4);

        const skip = await p.createTask({ title: "Skip the claim" });
        assert.equal((await p.completeTask(skip.id)).status, "complete");

        const mine = await p.createTask({ title: "Mine", assignedTo: me });
        assert.equal(mine.assignedTo, me);
        assert.equal((await p.claimTask(mine.id)).claimedBy, me);
    });

    // The loser hears that someone else has the task: TASK_NOT_OPEN when the daemon saw the
    // winner's claim before writing its own, TASK_ALREADY_CLAIMED when its own claim lost in the
    // ledger order. Which one depends on timing, so rounds go on (at least 5, at most 200) until
    // a claim has been seen losing in the ledger order.
    for (const wait of ["applied", "confirmed"] as const) {
        test(`a task claimed by two clients at once has exactly one winner (wait ${wait})`, async () => {
            const a = await connect({ socketPath: daemon.socketPath, pact: "main" });
            const b = await connect({ socketPath: daemon.socketPath, pact: "main" });
            const losses = { TASK_ALREADY_CLAIMED: 0, TASK_NOT_OPEN: 0 };
            try {
                for (let round = 0; round < 5 || losses.TASK_ALREADY_CLAIMED === 0; round++) {
                    assert.ok(round < 200, `200 races and no claim lost in the ledger order: ${JSON.stringify(losses)}`);
                    const task = await a.createTask({ title: `race ${wait} ${round}` });
                    const results = await Promise.allSettled([a.claimTask(task.id, { wait }), b.claimTask(task.id, { wait })]);
                    const won = results.filter((r) => r.status === "fulfilled");
                    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
                    assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(results.map((r) => r.status))}`);
                    assert.equal(lost.length, 1);
                    const why = lost[0]!.reason;
                    if (why instanceof TaskAlreadyClaimedError) {
                        assert.equal(why.code, "TASK_ALREADY_CLAIMED");
                        assert.equal(why.httpStatus, 409);
                        losses.TASK_ALREADY_CLAIMED++;
                    } else {
                        assert.ok(why instanceof TaskNotOpenError, `round ${round}: the loser got ${why}`);
                        assert.equal(why.code, "TASK_NOT_OPEN");
                        losses.TASK_NOT_OPEN++;
                    }
                    assert.equal((await a.getTask(task.id)).status, "claimed");
                }
            } finally {
                a.close();
                b.close();
            }
        });
    }
});

describe("skills", () => {
    test("publish, read, install and list installed", async () => {
        const p = await freshPact();
        const published = await p.publishSkill({
            name: "scraper",
            version: "1.0.0",
            format: "openclaw",
            content: "# Scrape\n",
            description: "scrapes",
            requiresApproval: true,
        });
        assert.equal(published.payload.oneofKind, "skill");
        const body = await p.skillContent(published.id);
        assert.equal(body.content, "# Scrape\n");
        assert.match(body.checksum, /^sha256:[0-9a-f]{64}$/);
        assert.deepEqual(await p.installedSkills(), []);
        const installed = await p.installSkill(published.id);
        assert.match(installed.path, /skills\/scraper@1\.0\.0\.md$/);
        const list = await p.installedSkills();
        assert.deepEqual(list.map((s) => s.id), [published.id]);
    });
});

describe("entries and the changes feed", () => {
    test("get an entry by id; changes walks arrival order, long-polls and starts from the head", async () => {
        const p = await freshPact();
        const empty = await p.changes();
        assert.deepEqual(empty.entries, []);

        const k = await p.createKnowledge({ topic: "sales", content: "Tuesdays convert", source: "crm", extra: { region: "eu" } });
        const got = await p.getEntry(k.id);
        assert.equal(got.id, k.id);
        assert.equal(got.payload.oneofKind === "knowledge" && got.payload.knowledge.source, "crm");
        assert.deepEqual(got.payload.oneofKind === "knowledge" && JSON.parse(got.payload.knowledge.extraJson), { region: "eu" });

        await p.postMessage({ content: "m" });
        await p.createTask({ title: "t" });
        const all = await p.changes();
        assert.deepEqual(all.entries.map(content), ["Tuesdays convert", "m", "t"]);
        assert.ok(all.cursor);
        assert.deepEqual((await p.changes({ type: "knowledge" })).entries.map((e) => e.id), [k.id]);

        const one = await p.changes({ limit: 1 });
        assert.equal(one.hasMore, true);
        const next = await p.changes({ since: one.cursor!, limit: 1 });
        assert.deepEqual(next.entries.map(content), ["m"]);

        const head = await p.changes({ fromHead: true });
        assert.deepEqual(head.entries, []);
        const started = Date.now();
        const waiting = p.changes({ since: head.cursor!, waitMs: 5000 });
        setTimeout(() => void p.createKnowledge({ topic: "late", content: "arrived" }), 100);
        const late = await waiting;
        assert.deepEqual(late.entries.map(content), ["arrived"]);
        assert.ok(Date.now() - started < 3000);
    });
});

describe("invites", () => {
    test("mint, list, revoke, redeem", async () => {
        const p = await freshPact();
        assert.deepEqual(await p.listInvites(), []);
        const invite = await p.mintInvite({ ttlMs: 60_000 });
        assert.match(invite.nonce, /^[0-9a-f]{48}$/);
        assert.match(invite.shareUrl, /invite=/);
        const listed = await p.listInvites();
        assert.equal(listed.length, 1);
        assert.equal(listed[0]!.revoked, false);
        assert.equal(listed[0]!.dead, false);

        assert.equal((await p.revokeInvite(invite.nonce)).nonce, invite.nonce);
        const after = await p.listInvites();
        assert.equal(after[0]!.revoked, true);
        assert.equal(after[0]!.dead, true);

        const second = await p.mintInvite();
        assert.equal((await p.redeemInvite({ token: second.token, writerKey: memberKey() })).nonce, second.nonce);
    });
});

describe("events", () => {
    test("a write arrives as an ENTRY_APPLIED event; abort ends the iteration cleanly", async () => {
        const controller = new AbortController();
        let opened!: () => void;
        const open = new Promise<void>((r) => (opened = r));
        const seen: Event[] = [];
        const reading = (async () => {
            for await (const ev of op.subscribe({ pacts: ["main"], kinds: ["ENTRY_APPLIED"], signal: controller.signal, onOpen: opened })) {
                seen.push(ev);
                if (ev.detail.oneofKind === "applied" && ev.detail.applied.entry && content(ev.detail.applied.entry) === "event me") {
                    controller.abort();
                }
            }
            return "ended";
        })();
        await open;
        const written = await op.createKnowledge({ topic: "events", content: "event me" });
        assert.equal(await withTimeout(reading, 10_000), "ended");
        const ev = seen.find((e) => e.detail.oneofKind === "applied" && e.detail.applied.id === written.id);
        assert.ok(ev, "no event for the write");
        assert.equal(ev.kind, EventKind.ENTRY_APPLIED);
        assert.equal(ev.alias, "main");
        assert.equal(ev.pactId, (await op.pactStatus()).pactId);
        assert.match(ev.id, /^.+-\d+$/);

        // Resuming after that event replays what came after it.
        await op.createKnowledge({ topic: "events", content: "after" });
        const resumed: Event[] = [];
        for await (const e of op.subscribe({ pacts: ["main"], kinds: [EventKind.ENTRY_APPLIED], lastEventId: ev.id })) {
            resumed.push(e);
            if (e.detail.oneofKind === "applied" && e.detail.applied.entry && content(e.detail.applied.entry) === "after") break;
        }
        assert.ok(resumed.length >= 1);
    });

    test("an already aborted signal yields nothing", async () => {
        const controller = new AbortController();
        controller.abort();
        assert.deepEqual(await collect(op.subscribe({ signal: controller.signal })), []);
    });
});

describe("errors arrive as their classes", () => {
    const cases: [string, new (...a: never[]) => OpenPactError, string, number, () => Promise<unknown>][] = [];
    const add = (what: string, cls: new (...a: never[]) => OpenPactError, code: string, http: number, call: () => Promise<unknown>) =>
        cases.push([what, cls, code, http, call]);

    add("an unknown pact", UnknownPactError, "UNKNOWN_PACT", 404, () => op.pactStatus({ pact: "does-not-exist" }));
    add("switching to an unknown alias", UnknownPactError, "UNKNOWN_PACT", 404, () => op.switchPact("does-not-exist"));
    add("a cursor from another resource", BadCursorError, "BAD_CURSOR", 400, () => op.listKnowledge({ cursor: "task/whatever" }));
    add("a changes cursor that is none", BadCursorError, "BAD_CURSOR", 400, () => op.changes({ since: "nope" }));
    add("an unknown entry", NotFoundError, "NOT_FOUND", 404, () => op.getEntry("zzzz-99"));
    add("an unknown task", NotFoundError, "NOT_FOUND", 404, () => op.claimTask("abcd-99"));
    add("a limit over 1000", BadRequestError, "BAD_REQUEST", 400, () => op.listKnowledge({ limit: 5000 }));
    add("knowledge without a topic", BadRequestError, "BAD_REQUEST", 400, () => op.createKnowledge({ topic: "", content: "x" }));
    add("extra fields that break the payload schema", BadEntryError, "BAD_ENTRY", 400, () =>
        op.createKnowledge({ topic: "t", content: "c", extra: { topic: 5 } }),
    );
    add("an alias that exists", PactAliasExistsError, "PACT_ALIAS_EXISTS", 409, () => op.createPact({ name: "Main", alias: "main" }));
    add("create without confirm", NotConfirmedError, "NOT_CONFIRMED", 400, () => op.createPact({ name: "X", alias: "x", confirm: false }));
    add("delete with the wrong confirm", NotConfirmedError, "NOT_CONFIRMED", 400, () => op.deletePact("main", { confirm: "typo" }));
    add("switch with the wrong confirm", NotConfirmedError, "NOT_CONFIRMED", 400, () => op.switchPact("main", { confirm: "other" }));
    add("install without confirm", NotConfirmedError, "NOT_CONFIRMED", 400, () => op.installSkill("abcd-1", { confirm: false }));
    add("a bad skill name", BadSkillNameError, "BAD_SKILL_NAME", 400, () =>
        op.publishSkill({ name: "../../etc/passwd", version: "1", format: "generic", content: "x" }),
    );
    add("a wrong skill checksum", SkillChecksumMismatchError, "SKILL_CHECKSUM_MISMATCH", 400, () =>
        op.publishSkill({ name: "x", version: "1", format: "generic", content: "x", checksum: "sha256:" + "a".repeat(64) }),
    );
    add("an entry over 64 KiB", PayloadTooLargeError, "PAYLOAD_TOO_LARGE", 413, () =>
        op.createKnowledge({ topic: "big", content: "x".repeat(70 * 1024) }),
    );
    add("an unknown invite", UnknownInviteError, "UNKNOWN_INVITE", 404, () => op.revokeInvite("f".repeat(48)));
    add("a token that is none", InviteBadShapeError, "INVITE_BAD_SHAPE", 400, () =>
        op.redeemInvite({ token: "thisisnotatoken", writerKey: memberKey() }),
    );
    add("promoting (a later release)", NotSupportedYetError, "NOT_SUPPORTED_YET", 409, () =>
        op.pact.promoteMember({ pact: "main", key: memberKey(), confirm: true }).response.catch((e) => {
            throw toError(e);
        }),
    );
    add("removing the only indexer", LastIndexerError, "LAST_INDEXER", 409, async () => {
        const key = (await op.pactStatus()).publicKey;
        return op.pact.adminRemove({ pact: "main", key, confirm: true }).response.catch((e) => {
            throw toError(e);
        });
    });

    for (const [what, cls, code, http, call] of cases) {
        test(`${code}: ${what}`, async () => {
            await assert.rejects(call(), (e: unknown) => {
                assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
                assert.ok(e instanceof OpenPactError);
                assert.equal(e.code, code);
                assert.equal(e.httpStatus, http);
                assert.ok(e.message.length > 0);
                return true;
            });
        });
    }

    test("task state errors: TASK_NOT_OPEN, TASK_ALREADY_COMPLETE, NOT_CLAIMED, NOT_ASSIGNEE", async () => {
        const task = await op.createTask({ title: "states" });
        await assert.rejects(op.releaseTask(task.id), NotClaimedError);
        await op.claimTask(task.id);
        await assert.rejects(op.claimTask(task.id), TaskNotOpenError);
        await op.completeTask(task.id);
        await assert.rejects(op.claimTask(task.id), TaskNotOpenError);
        await assert.rejects(op.completeTask(task.id), TaskAlreadyCompleteError);
        const reserved = await op.createTask({ title: "reserved", assignedTo: "anon-falcon-deadbeef" });
        await assert.rejects(op.claimTask(reserved.id), NotAssigneeError);
    });

    test("invite errors: INVITE_SPENT, INVITE_REVOKED, INVITE_WRONG_PACT", async () => {
        const spent = await op.mintInvite();
        await op.redeemInvite({ token: spent.token, writerKey: memberKey() });
        await assert.rejects(op.redeemInvite({ token: spent.token, writerKey: memberKey() }), InviteSpentError);
        const revoked = await op.mintInvite();
        await op.revokeInvite(revoked.nonce);
        await assert.rejects(op.redeemInvite({ token: revoked.token, writerKey: memberKey() }), InviteRevokedError);
        const other = await freshPact();
        const foreign = await other.mintInvite();
        await assert.rejects(op.redeemInvite({ token: foreign.token, writerKey: memberKey() }), InviteWrongPactError);
    });

    test("a failure without a wire code is the base class", async () => {
        // A method the daemon does not serve: gRPC UNIMPLEMENTED, no openpact-code.
        const method = { ...op.host.methods[0]!, name: "NoSuchMethod" };
        await assert.rejects(
            op.transport.unary(method, {}, {}).response.catch((e) => {
                throw toError(e);
            }),
            (e: unknown) => {
                assert.ok(e instanceof OpenPactError);
                assert.equal(e.constructor, OpenPactError);
                assert.equal(e.code, "UNIMPLEMENTED");
                return true;
            },
        );
    });

    test("no daemon: DaemonUnavailableError names the socket and says to start one", async (t) => {
        const dir = tempDir("opnone-");
        t.after(() => rmSync(dir, { recursive: true, force: true }));
        await assert.rejects(connect({ dataDir: dir }), (e: unknown) => {
            assert.ok(e instanceof DaemonUnavailableError);
            assert.ok(e.message.includes(join(dir, "openpact.sock")), e.message);
            assert.match(e.message, /openpact start/);
            assert.equal(e.target, join(dir, "openpact.sock"));
            return true;
        });
    });
});

// Raw generated-client calls throw RpcError; the wrapper's mapping makes them classes too.
function toError(e: unknown): unknown {
    return toOpenPactError(e, daemon.socketPath);
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)));
    try {
        return await Promise.race([p, timeout]);
    } finally {
        clearTimeout(timer);
    }
}
