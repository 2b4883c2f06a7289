// The wrapper over the generated clients: one object, async methods named after what they do,
// iterators over pages and events, and errors as classes. It only needs an RpcTransport, so the
// same class serves Node (grpc-js over the unix socket, see node.ts) and browsers (gRPC-web, see
// web.ts).
import type { RpcTransport, UnaryCall } from "@protobuf-ts/runtime-rpc";
import { HostClient } from "./gen/openpact/v1/host.client.js";
import { PactClient } from "./gen/openpact/v1/pact.client.js";
import { EventsClient } from "./gen/openpact/v1/events.client.js";
import {
    CreatePactRequest,
    DeletePactRequest,
    JoinPactRequest,
    RenamePactRequest,
    SwitchPactRequest,
    type CreatePactResponse,
    type DeletePactResponse,
    type HealthResponse,
    type HostStatusResponse,
    type JoinPactResponse,
    type ListPactsResponse,
    type PingResponse,
    type ReadyResponse,
    type RenamePactResponse,
    type SwitchPactResponse,
} from "./gen/openpact/v1/host.js";
import {
    ChangesRequest,
    CreateKnowledgeRequest,
    CreateTaskRequest,
    GetEntryRequest,
    GetSkillContentRequest,
    GetTaskRequest,
    InstallSkillRequest,
    ListAgentsRequest,
    ListInstalledSkillsRequest,
    ListInvitesRequest,
    ListKnowledgeRequest,
    ListMessagesRequest,
    ListSkillsRequest,
    ListTasksRequest,
    MintInviteRequest,
    PactStatusRequest,
    PostMessageRequest,
    PublishSkillRequest,
    RedeemInviteRequest,
    ReferencedByRequest,
    RevokeInviteRequest,
    SetInfoRequest,
    SetMeRequest,
    TaskActionRequest,
    Wait,
    type Agent,
    type ChangesResponse,
    type InstalledSkill,
    type InviteSummary,
    type MintInviteResponse,
    type PactStatus,
    type RedeemInviteResponse,
    type RevokeInviteResponse,
    type SetInfoResponse,
    type SetMeResponse,
    type SkillContent,
    type TaskPage,
    type TaskState,
} from "./gen/openpact/v1/pact.js";
import { EntryType, Order, PageRequest, type Entry, type EntryPage } from "./gen/openpact/v1/common.js";
import { EventKind, SubscribeRequest, type Event } from "./gen/openpact/v1/events.js";
import { toOpenPactError } from "./errors.js";
import { skillChecksum } from "./checksum.js";

/** How an OpenPact client was made; transports other than the bundled two can be passed too. */
export interface OpenPactOptions {
    /** The pact calls go to when they name none: an alias or pact id. Default: the daemon's current pact. */
    pact?: string;
    /** What the transport talks to (socket path or URL), for error messages. */
    target?: string;
    /** The transport is gRPC-web (a browser): a failed fetch means the daemon is unavailable. */
    web?: boolean;
    /** Called by close(), e.g. to close the transport's channel. */
    close?: () => void;
}

/** Names a pact other than the client's default. */
export interface PactOption {
    /** An alias or pact id; default: the client's pact (see OpenPactOptions.pact). */
    pact?: string;
}

export type OrderName = "desc" | "asc";
export type EntryTypeName = "knowledge" | "task" | "skill" | "message";
export type TaskStatus = "open" | "claimed" | "complete";
export type SkillFormat = "openclaw" | "langchain" | "generic";
export type EventKindName = Exclude<keyof typeof EventKind, "EVENT_KIND_UNSPECIFIED">;

/** One page of a list. */
export interface PageOptions extends PactOption {
    /** Newest first (default) or oldest first, by ledger position. */
    order?: OrderName;
    /** 1..=1000; default 50. */
    limit?: number;
    /** The `cursor` of the previous page. */
    cursor?: string;
}

/** A walk over every page of a list. */
export interface WalkOptions extends PactOption {
    order?: OrderName;
    /** Rows per request, 1..=1000; default 50. */
    pageSize?: number;
    /** Start after this cursor instead of at the first row. */
    cursor?: string;
}

export interface KnowledgeFilter {
    /** Only entries with exactly this topic. */
    topic?: string;
}
export interface MessageFilter {
    /** Only messages written after this author time (ms since the epoch, exclusive). */
    sinceMs?: number;
    /** Only messages by this handle. */
    agentId?: string;
    /** Only messages to this handle ("*": to everyone). */
    to?: string;
}
export interface TaskFilter {
    status?: TaskStatus;
}
export interface SkillFilter {
    format?: SkillFormat;
}

/** What a task write waits for before answering. */
export interface WaitOptions extends PactOption {
    /**
     * "applied" (default): return after the local apply, `confirmed` telling whether the outcome
     * is final. "confirmed": return once the indexers confirmed the entry; a lost claim then
     * fails with TaskAlreadyClaimedError, a timeout with NotConfirmedYetError.
     */
    wait?: "applied" | "confirmed";
    /** With "confirmed": how long to wait, ms (default 10000, at most 60000). */
    waitMs?: number;
}

export interface SubscribeOptions {
    /** Aliases or pact ids; default: every pact. */
    pacts?: string[];
    /** Default: every kind. */
    kinds?: (EventKind | EventKindName)[];
    /** Resume after this event id (`<boot>-<n>`); a RESET event says the point is gone. */
    lastEventId?: string;
    /** Resume one pact (exactly one in `pacts`) after this arrival number. */
    afterArrival?: number;
    /** Ends the iteration (cleanly, without an error) when aborted. */
    signal?: AbortSignal;
    /** Called once the daemon accepted the subscription: events from then on are delivered. */
    onOpen?: () => void;
}

type Extra = Record<string, unknown>;

const ORDER: Record<OrderName, Order> = { desc: Order.DESC, asc: Order.ASC };
const ENTRY_TYPE: Record<EntryTypeName, EntryType> = {
    knowledge: EntryType.KNOWLEDGE,
    task: EntryType.TASK,
    skill: EntryType.SKILL,
    message: EntryType.MESSAGE,
};

function page(o: PageOptions): PageRequest {
    return PageRequest.create({
        order: o.order === undefined ? Order.DESC : ORDER[o.order],
        limit: o.limit ?? 0,
        ...(o.cursor === undefined ? {} : { cursor: o.cursor }),
    });
}

function extraJson(extra: Extra | undefined): string {
    return extra === undefined ? "" : JSON.stringify(extra);
}

/** Drops undefined values, so optional proto fields stay absent. */
function defined<T extends object>(o: T): Partial<T> {
    return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Walks pages from `first` on, following each page's cursor until the last. */
async function* walk<P extends { cursor?: string; hasMore: boolean }>(
    fetch: (cursor: string | undefined) => Promise<P>,
    first: string | undefined,
): AsyncGenerator<P, void, undefined> {
    let cursor = first;
    for (;;) {
        const p = await fetch(cursor);
        yield p;
        // The cursor is the last row's: an empty page has none, and nothing follows it.
        if (!p.hasMore || p.cursor === undefined) return;
        cursor = p.cursor;
    }
}

/**
 * A client of one OpenPact daemon's control plane. Make one with `connect()` from
 * `@openpact/client/node` (unix socket) or `connectWeb()` (gRPC-web, in a browser).
 *
 * Per-pact methods go to `pact` when given, else to the client's default pact, else to the
 * daemon's current pact. Failed calls throw an OpenPactError subclass named after the wire code.
 * Methods whose API call asks for a typed confirmation send it for you; pass `confirm` to send
 * your own.
 */
export class OpenPact {
    /** The generated clients, for what the wrapper does not cover. */
    readonly host: HostClient;
    readonly pact: PactClient;
    readonly events: EventsClient;
    /** The pact per-pact calls go to ("" means the daemon's current pact). */
    readonly defaultPact: string;
    /** What the transport talks to (socket path or URL). */
    readonly target: string;

    readonly #options: OpenPactOptions;

    constructor(readonly transport: RpcTransport, options: OpenPactOptions = {}) {
        this.host = new HostClient(transport);
        this.pact = new PactClient(transport);
        this.events = new EventsClient(transport);
        this.defaultPact = options.pact ?? "";
        this.target = options.target ?? "the daemon";
        this.#options = options;
    }

    /** The same connection with another default pact (closing either closes both). */
    withPact(pact: string): OpenPact {
        return new OpenPact(this.transport, { ...this.#options, pact });
    }

    /** Closes the connection; calls after it fail. */
    close(): void {
        this.#options.close?.();
    }

    async #call<O extends object>(start: () => UnaryCall<any, O>): Promise<O> {
        try {
            return await start().response;
        } catch (e) {
            throw toOpenPactError(e, this.target, this.#options.web);
        }
    }

    #pact(o: PactOption | undefined): string {
        return o?.pact ?? this.defaultPact;
    }

    // ---- host ----

    /** Answers when the daemon serves requests; says whose daemon it is. */
    ping(): Promise<PingResponse> {
        return this.#call(() => this.host.ping({}));
    }
    health(): Promise<HealthResponse> {
        return this.#call(() => this.host.health({}));
    }
    /** Ready once at least one pact exists. */
    ready(): Promise<ReadyResponse> {
        return this.#call(() => this.host.ready({}));
    }
    /** The daemon: current pact, counts, version, ports. */
    status(): Promise<HostStatusResponse> {
        return this.#call(() => this.host.status({}));
    }
    listPacts(): Promise<ListPactsResponse> {
        return this.#call(() => this.host.listPacts({}));
    }
    /** Creates a pact with this daemon as its creator (and makes it current when it is the first). */
    createPact(req: {
        name: string;
        alias?: string;
        purpose?: string;
        displayName?: string;
        claimTtlMs?: number;
        /** Replace a pact with the same alias, deleting it first. */
        force?: boolean;
        confirm?: boolean;
    }): Promise<CreatePactResponse> {
        const input = CreatePactRequest.create(defined({ ...req, confirm: req.confirm ?? true }));
        return this.#call(() => this.host.createPact(input));
    }
    /** Makes `alias` the daemon's current pact. */
    switchPact(alias: string, opts: { confirm?: string } = {}): Promise<SwitchPactResponse> {
        const input = SwitchPactRequest.create({ alias, confirm: opts.confirm ?? alias });
        return this.#call(() => this.host.switchPact(input));
    }
    /** Gives a pact (alias or id) a new alias. */
    renamePact(pact: string, alias: string): Promise<RenamePactResponse> {
        return this.#call(() => this.host.renamePact(RenamePactRequest.create({ pact, alias })));
    }
    /** Deletes a pact (alias or id) and wipes its data dir. */
    deletePact(pact: string, opts: { confirm?: string } = {}): Promise<DeletePactResponse> {
        const input = DeletePactRequest.create({ pact, confirm: opts.confirm ?? pact });
        return this.#call(() => this.host.deletePact(input));
    }
    /**
     * Joins another daemon's pact. With `key` alone the pact is added with no role; with an
     * invite `token` (`key` may be empty) the daemon redeems it at an indexer over QUIC and
     * answers once it is a member (waiting up to `timeoutMs`, 0 for 30 s).
     */
    joinPact(req: {
        key?: string;
        alias?: string;
        displayName?: string;
        pactName?: string;
        pactPurpose?: string;
        token?: string;
        timeoutMs?: number;
        confirm?: boolean;
    }): Promise<JoinPactResponse> {
        const input = JoinPactRequest.create(defined({ ...req, confirm: req.confirm ?? true }));
        return this.#call(() => this.host.joinPact(input));
    }
    /** Stops the daemon after in-flight requests finish. */
    async shutdown(): Promise<void> {
        await this.#call(() => this.host.shutdown({}));
    }

    // ---- one pact ----

    /** The pact's status: id, alias, role, counts, confirmation. */
    pactStatus(opts: PactOption = {}): Promise<PactStatus> {
        return this.#call(() => this.pact.status(PactStatusRequest.create({ pact: this.#pact(opts) })));
    }
    /** The pact's members, this peer first when it is one. */
    async agents(opts: PactOption & { online?: boolean } = {}): Promise<Agent[]> {
        const input = ListAgentsRequest.create(defined({ pact: this.#pact(opts), online: opts.online }));
        return (await this.#call(() => this.pact.listAgents(input))).agents;
    }
    /** Sets or clears (null or "") the pact's name and purpose, and its claim TTL. */
    setInfo(req: PactOption & { name?: string | null; purpose?: string | null; claimTtlMs?: number }): Promise<SetInfoResponse> {
        const nullable = (v: string | null | undefined) => (v === undefined ? undefined : v === null ? {} : { value: v });
        const input = SetInfoRequest.create(
            defined({ pact: this.#pact(req), name: nullable(req.name), purpose: nullable(req.purpose), claimTtlMs: req.claimTtlMs }),
        );
        return this.#call(() => this.pact.setInfo(input));
    }
    /** Sets this peer's display name in the pact; null or "" clears it. */
    setMe(req: PactOption & { displayName: string | null }): Promise<SetMeResponse> {
        const input = SetMeRequest.create(defined({ pact: this.#pact(req), displayName: req.displayName ?? undefined }));
        return this.#call(() => this.pact.setMe(input));
    }

    // ---- knowledge ----

    createKnowledge(req: PactOption & { topic: string; content: string; source?: string; extra?: Extra }): Promise<Entry> {
        const input = CreateKnowledgeRequest.create(
            defined({ pact: this.#pact(req), topic: req.topic, content: req.content, source: req.source, extraJson: extraJson(req.extra) }),
        );
        return this.#call(() => this.pact.createKnowledge(input));
    }
    listKnowledge(opts: PageOptions & KnowledgeFilter = {}): Promise<EntryPage> {
        const input = ListKnowledgeRequest.create(defined({ pact: this.#pact(opts), page: page(opts), topic: opts.topic }));
        return this.#call(() => this.pact.listKnowledge(input));
    }
    /** Every page of knowledge, one request each. */
    knowledgePages(opts: WalkOptions & KnowledgeFilter = {}): AsyncGenerator<EntryPage, void, undefined> {
        return walk((cursor) => this.listKnowledge({ ...opts, limit: opts.pageSize, cursor }), opts.cursor);
    }
    /** Every knowledge entry, across pages (newest first unless `order: "asc"`). */
    async *knowledgeAll(opts: WalkOptions & KnowledgeFilter = {}): AsyncGenerator<Entry, void, undefined> {
        for await (const p of this.knowledgePages(opts)) yield* p.entries;
    }

    // ---- messages ----

    /** Posts a message to everyone, or to one handle with `to` (end-to-end encrypted). */
    postMessage(req: PactOption & { content: string; priority?: "low" | "normal" | "high"; replyTo?: string; to?: string }): Promise<Entry> {
        const input = PostMessageRequest.create(
            defined({ pact: this.#pact(req), content: req.content, priority: req.priority, replyTo: req.replyTo, to: req.to }),
        );
        return this.#call(() => this.pact.postMessage(input));
    }
    listMessages(opts: PageOptions & MessageFilter = {}): Promise<EntryPage> {
        const input = ListMessagesRequest.create(
            defined({ pact: this.#pact(opts), page: page(opts), sinceMs: opts.sinceMs, agentId: opts.agentId, to: opts.to }),
        );
        return this.#call(() => this.pact.listMessages(input));
    }
    messagePages(opts: WalkOptions & MessageFilter = {}): AsyncGenerator<EntryPage, void, undefined> {
        return walk((cursor) => this.listMessages({ ...opts, limit: opts.pageSize, cursor }), opts.cursor);
    }
    async *messagesAll(opts: WalkOptions & MessageFilter = {}): AsyncGenerator<Entry, void, undefined> {
        for await (const p of this.messagePages(opts)) yield* p.entries;
    }

    // ---- tasks ----

    createTask(req: PactOption & { title: string; description?: string; assignedTo?: string; extra?: Extra }): Promise<TaskState> {
        const input = CreateTaskRequest.create(
            defined({
                pact: this.#pact(req),
                title: req.title,
                description: req.description,
                assignedTo: req.assignedTo,
                extraJson: extraJson(req.extra),
            }),
        );
        return this.#call(() => this.pact.createTask(input));
    }
    listTasks(opts: PageOptions & TaskFilter = {}): Promise<TaskPage> {
        const input = ListTasksRequest.create(defined({ pact: this.#pact(opts), page: page(opts), status: opts.status }));
        return this.#call(() => this.pact.listTasks(input));
    }
    taskPages(opts: WalkOptions & TaskFilter = {}): AsyncGenerator<TaskPage, void, undefined> {
        return walk((cursor) => this.listTasks({ ...opts, limit: opts.pageSize, cursor }), opts.cursor);
    }
    async *tasksAll(opts: WalkOptions & TaskFilter = {}): AsyncGenerator<TaskState, void, undefined> {
        for await (const p of this.taskPages(opts)) yield* p.tasks;
    }
    getTask(id: string, opts: PactOption = {}): Promise<TaskState> {
        return this.#call(() => this.pact.getTask(GetTaskRequest.create({ pact: this.#pact(opts), id })));
    }
    #taskAction(id: string, opts: WaitOptions, result?: string): TaskActionRequest {
        return TaskActionRequest.create(
            defined({
                pact: this.#pact(opts),
                id,
                result,
                wait: opts.wait === "confirmed" ? Wait.CONFIRMED : Wait.APPLIED,
                waitMs: opts.waitMs ?? 0,
            }),
        );
    }
    /**
     * Claims an open task for this peer. Someone else holding it fails with TaskNotOpenError (seen
     * before writing) or TaskAlreadyClaimedError (lost in the ledger order): both mean "taken".
     */
    claimTask(id: string, opts: WaitOptions = {}): Promise<TaskState> {
        const input = this.#taskAction(id, opts);
        return this.#call(() => this.pact.claimTask(input));
    }
    /** Completes a task this peer claimed (or an open one), with an optional result. */
    completeTask(id: string, opts: WaitOptions & { result?: string } = {}): Promise<TaskState> {
        const input = this.#taskAction(id, opts, opts.result);
        return this.#call(() => this.pact.completeTask(input));
    }
    /** Gives a task this peer claimed back (open again). */
    releaseTask(id: string, opts: WaitOptions = {}): Promise<TaskState> {
        const input = this.#taskAction(id, opts);
        return this.#call(() => this.pact.releaseTask(input));
    }

    // ---- skills ----

    /** Publishes a skill; the checksum is computed from `content` unless given. */
    async publishSkill(
        req: PactOption & {
            name: string;
            version: string;
            format: SkillFormat;
            content: string;
            checksum?: string;
            description?: string;
            requiresApproval?: boolean;
            extra?: Extra;
        },
    ): Promise<Entry> {
        const input = PublishSkillRequest.create(
            defined({
                pact: this.#pact(req),
                name: req.name,
                version: req.version,
                format: req.format,
                content: req.content,
                checksum: req.checksum ?? (await skillChecksum(req.content)),
                description: req.description,
                requiresApproval: req.requiresApproval,
                extraJson: extraJson(req.extra),
            }),
        );
        return this.#call(() => this.pact.publishSkill(input));
    }
    listSkills(opts: PageOptions & SkillFilter = {}): Promise<EntryPage> {
        const input = ListSkillsRequest.create(defined({ pact: this.#pact(opts), page: page(opts), format: opts.format }));
        return this.#call(() => this.pact.listSkills(input));
    }
    skillPages(opts: WalkOptions & SkillFilter = {}): AsyncGenerator<EntryPage, void, undefined> {
        return walk((cursor) => this.listSkills({ ...opts, limit: opts.pageSize, cursor }), opts.cursor);
    }
    async *skillsAll(opts: WalkOptions & SkillFilter = {}): AsyncGenerator<Entry, void, undefined> {
        for await (const p of this.skillPages(opts)) yield* p.entries;
    }
    /** A skill's content, verified against its checksum by the daemon. */
    skillContent(id: string, opts: PactOption = {}): Promise<SkillContent> {
        return this.#call(() => this.pact.getSkillContent(GetSkillContentRequest.create({ pact: this.#pact(opts), id })));
    }
    /** Writes the verified skill to `pacts/<alias>/skills/<name>@<version>.<ext>` on the daemon's machine. */
    installSkill(id: string, opts: PactOption & { confirm?: boolean } = {}): Promise<InstalledSkill> {
        const input = InstallSkillRequest.create({ pact: this.#pact(opts), id, confirm: opts.confirm ?? true });
        return this.#call(() => this.pact.installSkill(input));
    }
    async installedSkills(opts: PactOption = {}): Promise<InstalledSkill[]> {
        const input = ListInstalledSkillsRequest.create({ pact: this.#pact(opts) });
        return (await this.#call(() => this.pact.listInstalledSkills(input))).skills;
    }

    // ---- entries and the changes feed ----

    /** Any entry (knowledge, task, skill, message) by id. */
    getEntry(id: string, opts: PactOption = {}): Promise<Entry> {
        return this.#call(() => this.pact.getEntry(GetEntryRequest.create({ pact: this.#pact(opts), id })));
    }
    /** The entries whose refs name `id` (replies, task state changes). */
    async referencedBy(id: string, opts: PactOption = {}): Promise<Entry[]> {
        const input = ReferencedByRequest.create({ pact: this.#pact(opts), id });
        return (await this.#call(() => this.pact.referencedBy(input))).entries;
    }
    /**
     * Applied entries in this peer's arrival order, after `since` (a previous answer's cursor).
     * With `waitMs` it long-polls when nothing is there yet; `fromHead` answers at once with the
     * current head as the cursor.
     */
    changes(opts: PactOption & { since?: string; waitMs?: number; limit?: number; type?: EntryTypeName; fromHead?: boolean } = {}): Promise<ChangesResponse> {
        const input = ChangesRequest.create(
            defined({
                pact: this.#pact(opts),
                since: opts.since,
                waitMs: opts.waitMs ?? 0,
                limit: opts.limit ?? 0,
                type: opts.type === undefined ? undefined : ENTRY_TYPE[opts.type],
                fromHead: opts.fromHead ?? false,
            }),
        );
        return this.#call(() => this.pact.changes(input));
    }

    // ---- invites ----

    /** Mints an invite token (creator only); `ttlMs` default 7 days. */
    mintInvite(opts: PactOption & { ttlMs?: number; confirm?: boolean } = {}): Promise<MintInviteResponse> {
        const input = MintInviteRequest.create({ pact: this.#pact(opts), ttlMs: opts.ttlMs ?? 0, confirm: opts.confirm ?? true });
        return this.#call(() => this.pact.mintInvite(input));
    }
    async listInvites(opts: PactOption = {}): Promise<InviteSummary[]> {
        return (await this.#call(() => this.pact.listInvites(ListInvitesRequest.create({ pact: this.#pact(opts) })))).invites;
    }
    revokeInvite(nonce: string, opts: PactOption & { confirm?: string } = {}): Promise<RevokeInviteResponse> {
        const input = RevokeInviteRequest.create({ pact: this.#pact(opts), nonce, confirm: opts.confirm ?? nonce });
        return this.#call(() => this.pact.revokeInvite(input));
    }
    /** Redeems a token for a joiner's writer key, with this daemon as the indexer. */
    redeemInvite(req: PactOption & { token: string; writerKey: string; confirm?: boolean }): Promise<RedeemInviteResponse> {
        const input = RedeemInviteRequest.create({
            pact: this.#pact(req),
            token: req.token,
            writerKey: req.writerKey,
            confirm: req.confirm ?? true,
        });
        return this.#call(() => this.pact.redeemInvite(input));
    }

    // ---- events ----

    /**
     * The daemon's events from now on (or from a resume point), as an async iterator. It ends
     * without an error when `signal` aborts or the loop breaks, and when the daemon ends the
     * stream (after a RESET event).
     */
    async *subscribe(opts: SubscribeOptions = {}): AsyncGenerator<Event, void, undefined> {
        const { signal } = opts;
        if (signal?.aborted) return;
        const stop = new AbortController();
        const onAbort = () => stop.abort();
        signal?.addEventListener("abort", onAbort, { once: true });
        try {
            const input = SubscribeRequest.create(
                defined({
                    pacts: opts.pacts ?? [],
                    kinds: (opts.kinds ?? []).map((k) => (typeof k === "string" ? EventKind[k] : k)),
                    lastEventId: opts.lastEventId,
                    afterArrival: opts.afterArrival,
                }),
            );
            const call = this.events.subscribe(input, { abort: stop.signal });
            if (opts.onOpen) {
                const onOpen = opts.onOpen;
                call.headers.then(() => onOpen(), () => {});
            }
            for await (const event of call.responses) yield event;
        } catch (e) {
            if (stop.signal.aborted) return;
            throw toOpenPactError(e, this.target, this.#options.web);
        } finally {
            signal?.removeEventListener("abort", onAbort);
            stop.abort();
        }
    }
}
