//! `GET /v1/openapi.json` (Decision 11): an OpenAPI 3.1 document generated from route tables in
//! code. The host routes are built from [`crate::host::ROUTES`], the table this document reads,
//! so the two cannot drift. Parameters and bodies are described by the same [`Prop`] lists the
//! extractors check requests against.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::extract::{Prop, Rule, patterns};

/// What a route answers with on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A JSON document.
    Json,
    /// Prometheus text.
    Metrics,
    /// Server-sent events.
    EventStream,
}

/// One route of the REST surface.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path as the router spells it (`/v1/pacts/{pact_id}/knowledge`).
    pub path: &'static str,
    /// One line for a person.
    pub summary: &'static str,
    /// Served without the bearer token.
    pub public: bool,
    /// Query parameters.
    pub query: &'static [Prop],
    /// The JSON body's properties, when the route takes a body.
    pub body: Option<&'static [Prop]>,
    /// Unknown body fields are kept in the entry's payload (else dropped).
    pub keeps_extra: bool,
    /// The success answer.
    pub answer: Answer,
}

impl Route {
    /// A JSON route with neither query nor body.
    pub const fn get(path: &'static str, summary: &'static str) -> Route {
        Route {
            method: "GET",
            path,
            summary,
            public: false,
            query: &[],
            body: None,
            keeps_extra: false,
            answer: Answer::Json,
        }
    }

    const fn with(method: &'static str, path: &'static str, summary: &'static str) -> Route {
        Route {
            method,
            ..Route::get(path, summary)
        }
    }

    const fn query(self, query: &'static [Prop]) -> Route {
        Route { query, ..self }
    }

    const fn body(self, body: &'static [Prop]) -> Route {
        Route {
            body: Some(body),
            ..self
        }
    }

    const fn extra(self) -> Route {
        Route {
            keeps_extra: true,
            ..self
        }
    }
}

/// `GET /v1/openapi.json`.
pub async fn document_handler() -> Response {
    (
        [(CONTENT_TYPE, "application/json; charset=utf-8")],
        document().to_string(),
    )
        .into_response()
}

/// The whole document: host routes, then the pact routes.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in crate::host::ROUTES.iter().chain(PACT_ROUTES) {
        let item = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        if let Value::Object(item) = item {
            item.insert(r.method.to_ascii_lowercase(), operation(r));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "OpenPact REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The daemon's REST + SSE surface on 127.0.0.1 (spec/rest-api.md). Every route but the public ones needs `Authorization: Bearer <token>`, the token from `<data>/daemon.json`. Every error answers with the envelope `{error, message, status}`.",
        },
        "servers": [{ "url": "http://127.0.0.1:7666" }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message", "status"],
                    "properties": {
                        "error": { "type": "string", "description": "Wire code, e.g. TASK_NOT_OPEN." },
                        "message": { "type": "string" },
                        "status": { "type": "integer", "description": "Equals the HTTP status." },
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "The error envelope.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
            },
        },
        "security": [{ "bearer": [] }],
    })
}

fn operation(r: &Route) -> Value {
    let mut params: Vec<Value> = path_params(r.path)
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": { "type": "string", "minLength": 1, "maxLength": crate::extract::MAX_PARAM_CHARS },
            })
        })
        .collect();
    params.extend(r.query.iter().map(|p| {
        json!({
            "name": p.name,
            "in": "query",
            "required": p.required,
            "schema": schema(&p.rule),
        })
    }));
    let success = match r.answer {
        Answer::Json => json!({ "application/json": { "schema": {} } }),
        Answer::Metrics => {
            json!({ "text/plain; version=0.0.4": { "schema": { "type": "string" } } })
        }
        Answer::EventStream => json!({ "text/event-stream": { "schema": { "type": "string" } } }),
    };
    let mut op = json!({
        "operationId": operation_id(r),
        "summary": r.summary,
        "tags": [if r.path.starts_with("/v1/pacts") { "pacts" } else { "host" }],
        "parameters": params,
        "responses": {
            "200": { "description": "Success.", "content": success },
            "default": { "$ref": "#/components/responses/Error" },
        },
    });
    if r.public {
        op["security"] = json!([]);
    }
    if let Some(body) = r.body {
        let mut properties = Map::new();
        for p in body {
            properties.insert(p.name.to_string(), schema(&p.rule));
        }
        let required: Vec<&str> = body.iter().filter(|p| p.required).map(|p| p.name).collect();
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": true,
                "description": if r.keeps_extra {
                    "Unknown fields are kept in the entry's payload."
                } else {
                    "Unknown fields are ignored."
                },
            } } },
        });
    }
    op
}

/// `getV1PactsPactIdKnowledge`: unique per method and path.
fn operation_id(r: &Route) -> String {
    let mut id = r.method.to_ascii_lowercase();
    let mut upper = true;
    for c in r.path.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                id.push(c.to_ascii_uppercase());
            } else {
                id.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    id
}

/// The `{name}` segments of a path.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// The JSON Schema of a property's rule.
fn schema(rule: &Rule) -> Value {
    match rule {
        Rule::Str {
            min,
            max,
            pattern,
            nullable,
        } => {
            let mut s = json!({ "type": if *nullable { json!(["string", "null"]) } else { json!("string") } });
            if *min > 0 {
                s["minLength"] = json!(min);
            }
            if *max != usize::MAX {
                s["maxLength"] = json!(max);
            }
            if let Some(p) = pattern {
                s["pattern"] = json!(p.source);
            }
            s
        }
        Rule::Enum(values) => json!({ "type": "string", "enum": values }),
        Rule::Bool => json!({ "type": "boolean" }),
        Rule::Int { min, max } => {
            let mut s = json!({ "type": "integer", "minimum": min });
            if *max != u64::MAX {
                s["maximum"] = json!(max);
            }
            s
        }
        Rule::DateTime => json!({ "type": "string", "format": "date-time" }),
    }
}

// The per-pact and registry routes. TODO(pact): these belong beside the handlers in
// `crate::pact` (built from each extractor's `Schema::PROPS`), so the router and this table are
// one; until then they are copied from there.

const ORDER: Prop = Prop::opt("order", Rule::Enum(&["asc", "desc"]));
const LIMIT: Prop = Prop::opt("limit", Rule::Int { min: 1, max: 1000 });
const CURSOR: Prop = Prop::opt("cursor", Rule::str(1, 512));
const CONFIRM: &[Prop] = &[Prop::req("confirm", Rule::Bool)];
const KEY_CONFIRM: &[Prop] = &[
    Prop::req("key", Rule::pattern(patterns::HEX64)),
    Prop::req("confirm", Rule::Bool),
];
const ALIAS: Rule = Rule::Str {
    min: 1,
    max: 48,
    pattern: Some(patterns::ALIAS),
    nullable: false,
};
const TTL: Rule = Rule::Int {
    min: 1,
    max: u64::MAX,
};
const WAIT: &[Prop] = &[
    Prop::opt("wait", Rule::Enum(&["applied", "confirmed"])),
    Prop::opt(
        "wait_ms",
        Rule::Int {
            min: 1,
            max: 60_000,
        },
    ),
];
const FORMATS: &[&str] = &["openclaw", "langchain", "generic"];

/// `/v1/pacts` and `/v1/pacts/{pact_id}/...`.
pub const PACT_ROUTES: &[Route] = &[
    Route::get(
        "/v1/pacts",
        "The pact registry: current alias and every pact.",
    ),
    Route::with(
        "POST",
        "/v1/pacts",
        "Create a pact (this daemon is its creator).",
    )
    .body(&[
        Prop::req("name", Rule::str(1, 64)),
        Prop::req("confirm", Rule::Bool),
        Prop::opt("purpose", Rule::nullable(200)),
        Prop::opt("display_name", Rule::nullable(64)),
        Prop::opt("alias", ALIAS),
        Prop::opt("claim_ttl_ms", TTL),
    ]),
    Route::with("POST", "/v1/pacts/switch", "Make a pact the current one.").body(&[
        Prop::req("alias", Rule::str(0, usize::MAX)),
        Prop::req("confirm", Rule::str(0, usize::MAX)),
    ]),
    Route::with("POST", "/v1/pacts/join", "Join another daemon's pact.").body(&[
        Prop::req("key", Rule::pattern(patterns::HEX64)),
        Prop::req("confirm", Rule::Bool),
        Prop::opt("alias", ALIAS),
        Prop::opt("display_name", Rule::nullable(64)),
        Prop::opt("pact_name", Rule::nullable(64)),
        Prop::opt("pact_purpose", Rule::nullable(200)),
    ]),
    Route::with(
        "DELETE",
        "/v1/pacts/{pact_id}",
        "Delete a pact and its data (confirm with its alias or id).",
    )
    .body(&[Prop::req("confirm", Rule::str(0, usize::MAX))]),
    Route::with("PUT", "/v1/pacts/{pact_id}/alias", "Rename a pact's alias.")
        .body(&[Prop::req("alias", ALIAS)]),
    Route::get(
        "/v1/pacts/{pact_id}/status",
        "The pact's status: role, members online, ledger lengths.",
    ),
    Route::get(
        "/v1/pacts/{pact_id}/agents",
        "The pact's members, this daemon first.",
    )
    .query(&[Prop::opt("online", Rule::Enum(&["true", "false"]))]),
    Route::get(
        "/v1/pacts/{pact_id}/knowledge",
        "Knowledge entries, newest first.",
    )
    .query(&[ORDER, LIMIT, CURSOR, Prop::opt("topic", Rule::str(1, 200))]),
    Route::with(
        "POST",
        "/v1/pacts/{pact_id}/knowledge",
        "Append a knowledge entry.",
    )
    .body(&[
        Prop::req("topic", Rule::str(1, 200)),
        Prop::req("content", Rule::str(1, usize::MAX)),
        Prop::opt("source", Rule::str(0, usize::MAX)),
    ])
    .extra(),
    Route::get("/v1/pacts/{pact_id}/messages", "Messages, newest first.").query(&[
        ORDER,
        LIMIT,
        CURSOR,
        Prop::opt("since", Rule::DateTime),
        Prop::opt("agent_id", Rule::pattern(patterns::HANDLE)),
        Prop::opt("to", Rule::pattern(patterns::RECIPIENT)),
    ]),
    Route::with(
        "POST",
        "/v1/pacts/{pact_id}/messages",
        "Post a message, to everyone or one agent.",
    )
    .body(&[
        Prop::req("content", Rule::str(1, usize::MAX)),
        Prop::opt("priority", Rule::Enum(&["low", "normal", "high"])),
        Prop::opt("reply_to", Rule::pattern(patterns::ENTRY_ID)),
        Prop::opt("to", Rule::pattern(patterns::RECIPIENT)),
    ]),
    Route::get("/v1/pacts/{pact_id}/tasks", "Task states, newest first.").query(&[
        ORDER,
        LIMIT,
        CURSOR,
        Prop::opt("status", Rule::Enum(&["open", "claimed", "complete"])),
    ]),
    Route::with("POST", "/v1/pacts/{pact_id}/tasks", "Create a task.")
        .body(&[
            Prop::req("title", Rule::str(1, 200)),
            Prop::opt("description", Rule::str(0, usize::MAX)),
            Prop::opt("assigned_to", Rule::pattern(patterns::HANDLE)),
        ])
        .extra(),
    Route::get("/v1/pacts/{pact_id}/tasks/{id}", "One task's state."),
    Route::with(
        "PUT",
        "/v1/pacts/{pact_id}/tasks/{id}/claim",
        "Claim a task.",
    )
    .query(WAIT),
    Route::with(
        "PUT",
        "/v1/pacts/{pact_id}/tasks/{id}/complete",
        "Complete a task.",
    )
    .query(WAIT)
    .body(&[Prop::opt("result", Rule::nullable(usize::MAX))]),
    Route::with(
        "PUT",
        "/v1/pacts/{pact_id}/tasks/{id}/release",
        "Release a claimed task.",
    )
    .query(WAIT),
    Route::get("/v1/pacts/{pact_id}/skills", "Skills, newest first.").query(&[
        ORDER,
        LIMIT,
        CURSOR,
        Prop::opt("format", Rule::Enum(FORMATS)),
    ]),
    Route::with(
        "POST",
        "/v1/pacts/{pact_id}/skills",
        "Publish a skill (content and its checksum).",
    )
    .body(&[
        Prop::req("name", Rule::str(1, 200)),
        Prop::req("version", Rule::str(1, 200)),
        Prop::req("format", Rule::Enum(FORMATS)),
        Prop::req("content", Rule::str(0, usize::MAX)),
        Prop::req("checksum", Rule::pattern(patterns::CHECKSUM)),
        Prop::opt("description", Rule::str(0, usize::MAX)),
        Prop::opt("requires_approval", Rule::Bool),
    ])
    .extra(),
    Route::get(
        "/v1/pacts/{pact_id}/skills/installed",
        "Skills installed from this pact.",
    ),
    Route::get(
        "/v1/pacts/{pact_id}/skills/{id}/content",
        "A skill's verified content.",
    ),
    Route::with(
        "POST",
        "/v1/pacts/{pact_id}/skills/{id}/install",
        "Install a skill into the pact's skills dir.",
    )
    .body(CONFIRM),
    Route::get("/v1/pacts/{pact_id}/entries/{id}", "One entry."),
    Route::get(
        "/v1/pacts/{pact_id}/entries/{id}/referenced-by",
        "Entries that reference one.",
    ),
    Route::get(
        "/v1/pacts/{pact_id}/changes",
        "Applied entries in arrival order; long-polls with wait.",
    )
    .query(&[
        Prop::opt("since", Rule::str(1, 512)),
        Prop::opt("wait", Rule::Int { min: 0, max: 30 }),
        LIMIT,
        Prop::opt(
            "type",
            Rule::Enum(&["knowledge", "task", "skill", "message"]),
        ),
        Prop::opt("from", Rule::Enum(&["head"])),
    ]),
    Route::with("POST", "/v1/pacts/{pact_id}/admin/members", "Add a writer.").body(&[
        Prop::req("key", Rule::pattern(patterns::HEX64)),
        Prop::opt("indexer", Rule::Bool),
    ]),
    Route::with(
        "DELETE",
        "/v1/pacts/{pact_id}/admin/members/{key}",
        "Remove a writer.",
    ),
    Route::with(
        "POST",
        "/v1/pacts/{pact_id}/admin/promote",
        "Promote a writer to indexer.",
    )
    .body(KEY_CONFIRM),
    Route::with(
        "POST",
        "/v1/pacts/{pact_id}/admin/remove",
        "Remove a member (as an indexer).",
    )
    .body(KEY_CONFIRM),
    Route::with(
        "PUT",
        "/v1/pacts/{pact_id}/info",
        "Set the pact's name, purpose, claim TTL.",
    )
    .body(&[
        Prop::opt("name", Rule::nullable(64)),
        Prop::opt("purpose", Rule::nullable(200)),
        Prop::opt("claim_ttl_ms", TTL),
    ]),
    Route::with(
        "PUT",
        "/v1/pacts/{pact_id}/me",
        "Set this daemon's display name in the pact.",
    )
    .body(&[Prop::opt("display_name", Rule::nullable(64))]),
    Route::get("/v1/pacts/{pact_id}/invites", "Invites minted in the pact."),
    Route::with(
        "POST",
        "/v1/pacts/{pact_id}/invites",
        "Mint an invite token.",
    )
    .body(&[
        Prop::req("confirm", Rule::Bool),
        Prop::opt(
            "ttl_ms",
            Rule::Int {
                min: 60_000,
                max: 7_776_000_000,
            },
        ),
    ]),
    Route::with(
        "POST",
        "/v1/pacts/{pact_id}/invites/redeem",
        "Redeem an invite for a writer key.",
    )
    .body(&[
        Prop::req("token", Rule::str(8, 4096)),
        Prop::req("writer_key", Rule::pattern(patterns::HEX64)),
        Prop::req("confirm", Rule::Bool),
    ]),
    Route::with(
        "DELETE",
        "/v1/pacts/{pact_id}/invites/{nonce}",
        "Revoke an invite (confirm with its nonce).",
    )
    .body(&[Prop::req("confirm", Rule::pattern(patterns::HEX48))]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_one_operation_with_its_path_parameters() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let n: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum();
        assert_eq!(n, crate::host::ROUTES.len() + PACT_ROUTES.len());
        let claim = &doc["paths"]["/v1/pacts/{pact_id}/tasks/{id}/claim"]["put"];
        let names: Vec<&str> = claim["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["pact_id", "id", "wait", "wait_ms"]);
        assert_eq!(doc["paths"]["/v1/ping"]["get"]["security"], json!([]));
        assert_eq!(
            doc["paths"]["/v1/pacts/{pact_id}/knowledge"]["post"]["requestBody"]["content"]["application/json"]
                ["schema"]["required"],
            json!(["topic", "content"])
        );
    }
}
