// @openpact/client: the control plane's client for browsers and Node. This entry point pulls in
// nothing Node-only; the unix-socket connection lives in `@openpact/client/node`.
export { OpenPact } from "./client.js";
export type {
    EntryTypeName,
    EventKindName,
    KnowledgeFilter,
    MessageFilter,
    OpenPactOptions,
    OrderName,
    PactOption,
    PageOptions,
    SkillFilter,
    SkillFormat,
    SubscribeOptions,
    TaskFilter,
    TaskStatus,
    WaitOptions,
    WalkOptions,
} from "./client.js";
export { connectWeb, defaultBaseUrl, type ConnectWebOptions } from "./web.js";
export * from "./errors.js";
export { skillChecksum } from "./checksum.js";
export * from "./gen/openpact/v1/common.js";
export * from "./gen/openpact/v1/host.js";
export * from "./gen/openpact/v1/pact.js";
export * from "./gen/openpact/v1/events.js";
export { HostClient } from "./gen/openpact/v1/host.client.js";
export { PactClient } from "./gen/openpact/v1/pact.client.js";
export { EventsClient } from "./gen/openpact/v1/events.client.js";
