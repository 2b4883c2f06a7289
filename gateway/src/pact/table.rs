//! The table of this module's routes for the API description ([`crate::openapi`]): each entry's
//! query and body are the very `Schema::PROPS` its handler's extractors check, so the document
//! and the checks cannot drift.

use super::admin::{Info, KeyConfirm, Me, NewMember};
use super::entries::{
    AgentsQuery, ChangesQuery, KnowledgeQuery, MessagesQuery, NewKnowledge, NewMessage,
};
use super::invites::{Mint, Redeem, Revoke};
use super::registry::{CreatePact, Join, Remove, Rename, Switch};
use super::skills::{Confirm, NewSkill, SkillsQuery};
use super::tasks::{Complete, NewTask, TasksQuery, WaitQuery};
use crate::extract::{Prop, Schema};
use crate::openapi::{Answer, Route};

const fn route(method: &'static str, path: &'static str, summary: &'static str) -> Route {
    Route {
        method,
        ..Route::get(path, summary)
    }
}

/// The success answer is the component schema `shape` of the API description.
const fn answers(r: Route, shape: &'static str) -> Route {
    Route {
        answer: Answer::Shape(shape),
        ..r
    }
}

const fn query(r: Route, query: &'static [Prop]) -> Route {
    Route { query, ..r }
}

const fn body<T: Schema>(r: Route) -> Route {
    Route {
        body: Some(T::PROPS),
        keeps_extra: T::KEEP_EXTRA,
        ..r
    }
}

/// `/v1/pacts` and every route under `/v1/pacts/{pact_id}`, as [`super::routes`] serves them.
pub const ROUTES: &[Route] = &[
    route(
        "GET",
        "/v1/pacts",
        "The pact registry: current alias and every pact.",
    ),
    body::<CreatePact>(route(
        "POST",
        "/v1/pacts",
        "Create a pact (this daemon is its creator).",
    )),
    body::<Switch>(route(
        "POST",
        "/v1/pacts/switch",
        "Make a pact the current one.",
    )),
    body::<Join>(route(
        "POST",
        "/v1/pacts/join",
        "Join another daemon's pact: by key (no role until an invite is redeemed), or with an invite `token`, redeemed at an indexer over QUIC, answering once this daemon is a member.",
    )),
    body::<Remove>(route(
        "DELETE",
        "/v1/pacts/{pact_id}",
        "Delete a pact and its data (confirm with its alias or id).",
    )),
    body::<Rename>(route(
        "PUT",
        "/v1/pacts/{pact_id}/alias",
        "Rename a pact's alias.",
    )),
    answers(
        route("GET", "/v1/pacts/{pact_id}/status", "The pact's status."),
        "PactStatus",
    ),
    answers(
        query(
            route(
                "GET",
                "/v1/pacts/{pact_id}/agents",
                "The pact's agents, this daemon first.",
            ),
            AgentsQuery::PROPS,
        ),
        "AgentList",
    ),
    answers(
        query(
            route(
                "GET",
                "/v1/pacts/{pact_id}/knowledge",
                "Knowledge, newest first.",
            ),
            KnowledgeQuery::PROPS,
        ),
        "EntryPage",
    ),
    answers(
        body::<NewKnowledge>(route(
            "POST",
            "/v1/pacts/{pact_id}/knowledge",
            "Record a piece of knowledge.",
        )),
        "Entry",
    ),
    answers(
        query(
            route(
                "GET",
                "/v1/pacts/{pact_id}/messages",
                "Messages, newest first.",
            ),
            MessagesQuery::PROPS,
        ),
        "EntryPage",
    ),
    answers(
        body::<NewMessage>(route(
            "POST",
            "/v1/pacts/{pact_id}/messages",
            "Post a message, to everyone or to one handle.",
        )),
        "Entry",
    ),
    answers(
        query(
            route(
                "GET",
                "/v1/pacts/{pact_id}/tasks",
                "Task states, newest first.",
            ),
            TasksQuery::PROPS,
        ),
        "TaskPage",
    ),
    answers(
        body::<NewTask>(route("POST", "/v1/pacts/{pact_id}/tasks", "Create a task.")),
        "Task",
    ),
    answers(
        route("GET", "/v1/pacts/{pact_id}/tasks/{id}", "One task's state."),
        "Task",
    ),
    answers(
        query(
            route(
                "PUT",
                "/v1/pacts/{pact_id}/tasks/{id}/claim",
                "Claim a task.",
            ),
            WaitQuery::PROPS,
        ),
        "Task",
    ),
    answers(
        body::<Complete>(query(
            route(
                "PUT",
                "/v1/pacts/{pact_id}/tasks/{id}/complete",
                "Complete a task.",
            ),
            WaitQuery::PROPS,
        )),
        "Task",
    ),
    answers(
        query(
            route(
                "PUT",
                "/v1/pacts/{pact_id}/tasks/{id}/release",
                "Release a claimed task.",
            ),
            WaitQuery::PROPS,
        ),
        "Task",
    ),
    answers(
        query(
            route("GET", "/v1/pacts/{pact_id}/skills", "Skills, newest first."),
            SkillsQuery::PROPS,
        ),
        "EntryPage",
    ),
    answers(
        body::<NewSkill>(route(
            "POST",
            "/v1/pacts/{pact_id}/skills",
            "Publish a skill.",
        )),
        "Entry",
    ),
    route(
        "GET",
        "/v1/pacts/{pact_id}/skills/installed",
        "Skills installed from this pact.",
    ),
    route(
        "GET",
        "/v1/pacts/{pact_id}/skills/{id}/content",
        "A skill's content, verified against its checksum.",
    ),
    body::<Confirm>(route(
        "POST",
        "/v1/pacts/{pact_id}/skills/{id}/install",
        "Install a skill's content to the pact's skills directory.",
    )),
    answers(
        route("GET", "/v1/pacts/{pact_id}/entries/{id}", "One entry."),
        "Entry",
    ),
    answers(
        route(
            "GET",
            "/v1/pacts/{pact_id}/entries/{id}/referenced-by",
            "Entries whose refs name this one.",
        ),
        "EntryList",
    ),
    answers(
        query(
            route(
                "GET",
                "/v1/pacts/{pact_id}/changes",
                "Entries in arrival order after a cursor; long-polls with wait.",
            ),
            ChangesQuery::PROPS,
        ),
        "EntryPage",
    ),
    body::<NewMember>(route(
        "POST",
        "/v1/pacts/{pact_id}/admin/members",
        "Add a member.",
    )),
    route(
        "DELETE",
        "/v1/pacts/{pact_id}/admin/members/{key}",
        "Remove a member.",
    ),
    body::<KeyConfirm>(route(
        "POST",
        "/v1/pacts/{pact_id}/admin/promote",
        "Promote a member to indexer (not yet: NOT_SUPPORTED_YET).",
    )),
    body::<KeyConfirm>(route(
        "POST",
        "/v1/pacts/{pact_id}/admin/remove",
        "Remove a member, as the creator.",
    )),
    body::<Info>(route(
        "PUT",
        "/v1/pacts/{pact_id}/info",
        "Change the pact's name, purpose or claim TTL.",
    )),
    body::<Me>(route(
        "PUT",
        "/v1/pacts/{pact_id}/me",
        "Set this daemon's display name in the pact.",
    )),
    route("GET", "/v1/pacts/{pact_id}/invites", "The pact's invites."),
    body::<Mint>(route(
        "POST",
        "/v1/pacts/{pact_id}/invites",
        "Mint an invite.",
    )),
    body::<Redeem>(route(
        "POST",
        "/v1/pacts/{pact_id}/invites/redeem",
        "Redeem an invite for a writer key.",
    )),
    body::<Revoke>(route(
        "DELETE",
        "/v1/pacts/{pact_id}/invites/{nonce}",
        "Revoke an invite.",
    )),
];
