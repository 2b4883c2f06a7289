//! `GET /v1/openapi.json` (Decision 11): an OpenAPI 3.1 document generated from route tables in
//! code. The host routes are built from [`crate::host::ROUTES`], the table this document reads,
//! so the two cannot drift. Parameters and bodies are described by the same [`Prop`] lists the
//! extractors check requests against.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::extract::{Prop, Rule};

/// What a route answers with on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A JSON document.
    Json,
    /// Prometheus text.
    Metrics,
    /// Server-sent events.
    EventStream,
    /// A JSON document of the named component schema ([`shapes`]).
    Shape(&'static str),
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
    for r in crate::host::ROUTES.iter().chain(crate::pact::ROUTES) {
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
            "schemas": schemas(),
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
        Answer::Shape(name) => json!({ "application/json": { "schema": {
            "$ref": format!("#/components/schemas/{name}")
        } } }),
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

/// The component schemas: the error envelope and the success answers the route tables name
/// ([`Answer::Shape`]). The REST fuzzer checks every answer it gets against them, so a handler
/// that drifts from its schema fails CI.
fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let nullable = json!({ "type": ["string", "null"] });
    let time = json!({ "type": "string", "description": "RFC 3339 with milliseconds, UTC." });
    let nullable_time =
        json!({ "type": ["string", "null"], "description": "RFC 3339 with milliseconds, UTC." });
    let count = json!({ "type": "integer", "minimum": 0 });
    let flag = json!({ "type": "boolean" });
    let object = |required: &[&str], properties: Value| json!({ "type": "object", "required": required, "properties": properties });
    let page = |item: &str| {
        object(
            &["entries", "cursor", "has_more"],
            json!({
                "entries": { "type": "array", "items": { "$ref": format!("#/components/schemas/{item}") } },
                "cursor": { "type": ["string", "null"], "description": "Pass as `cursor` for the next page." },
                "has_more": flag,
            }),
        )
    };
    json!({
        "Error": {
            "type": "object",
            "required": ["error", "message", "status"],
            "properties": {
                "error": { "type": "string", "description": "Wire code, e.g. TASK_NOT_OPEN." },
                "message": string,
                "status": { "type": "integer", "description": "Equals the HTTP status." },
            },
        },
        "Entry": object(
            &["id", "type", "timestamp", "agent_id", "display_name", "payload", "position", "confirmed", "outcome"],
            json!({
                "id": { "type": "string", "pattern": "^[0-9a-f]{8}-[0-9]+$" },
                "type": { "enum": ["knowledge", "task", "skill", "message", "unknown"] },
                "timestamp": time,
                "agent_id": string,
                "display_name": nullable,
                "payload": { "type": "object" },
                "refs": { "type": "array", "items": string },
                "position": count,
                "confirmed": flag,
                "outcome": { "type": "string", "description": "applied, dropped, or the wire code that rejected it." },
            }),
        ),
        "EntryPage": page("Entry"),
        "EntryList": { "type": "array", "items": { "$ref": "#/components/schemas/Entry" } },
        "Task": object(
            &["id", "title", "status", "claimed_by", "assigned_to", "result", "timestamp", "updated_at", "claimed_at", "expired_at", "history", "confirmed", "outcome"],
            json!({
                "id": string,
                "title": string,
                "description": string,
                "status": { "enum": ["open", "claimed", "complete"] },
                "claimed_by": nullable,
                "assigned_to": nullable,
                "result": nullable,
                "timestamp": time,
                "updated_at": time,
                "claimed_at": nullable_time,
                "expired_at": nullable_time,
                "history": { "type": "array", "items": { "$ref": "#/components/schemas/Entry" } },
                "confirmed": flag,
                "outcome": string,
            }),
        ),
        "TaskPage": page("Task"),
        "Agent": object(
            &["id", "remote_key", "role", "display_name", "online", "is_self"],
            json!({
                "id": string,
                "remote_key": string,
                "role": string,
                "display_name": nullable,
                "online": flag,
                "is_self": flag,
            }),
        ),
        "AgentList": { "type": "array", "items": { "$ref": "#/components/schemas/Agent" } },
        "PactStatus": object(
            &["pact_id", "alias", "pact_name", "pact_purpose", "peer_handle", "display_name", "role", "public_key", "agents", "entries", "is_member", "is_indexer", "synced", "claim_ttl_ms", "confirmed", "tail", "ledger_time", "stored", "is_current", "data_dir", "view_digest", "order_digest", "peers", "sync_pulled_total", "sync_served_total", "sync_bytes_in_total", "sync_bytes_out_total"],
            json!({
                "pact_id": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                "alias": string,
                "pact_name": nullable,
                "pact_purpose": nullable,
                "peer_handle": string,
                "display_name": nullable,
                "role": nullable,
                "public_key": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                "agents": count,
                "entries": count,
                "is_member": flag,
                "is_indexer": flag,
                "synced": flag,
                "claim_ttl_ms": count,
                "confirmed": count,
                "tail": count,
                "ledger_time": nullable_time,
                "stored": count,
                "is_current": flag,
                "data_dir": string,
                "view_digest": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                "order_digest": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                "peers": { "type": "array", "items": { "$ref": "#/components/schemas/PeerSession" } },
                "sync_pulled_total": count,
                "sync_served_total": count,
                "sync_bytes_in_total": count,
                "sync_bytes_out_total": count,
            }),
        ),
        "PeerSession": object(
            &["remote_key", "member_key", "address", "outbound", "pulled", "served", "bytes_in", "bytes_out", "up_ms"],
            json!({
                "remote_key": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                "member_key": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                "address": string,
                "outbound": flag,
                "pulled": count,
                "served": count,
                "bytes_in": count,
                "bytes_out": count,
                "up_ms": count,
            }),
        ),
        "HostStatus": object(
            &["running", "current", "pact_count", "pacts_open", "agents", "pid", "data_dir", "version", "port", "dashboard_port", "uptime_ms", "resident_memory_bytes"],
            json!({
                "running": flag,
                "current": nullable,
                "pact_count": count,
                "pacts_open": count,
                "agents": count,
                "pid": count,
                "data_dir": string,
                "version": string,
                "port": count,
                "dashboard_port": { "type": "integer", "minimum": 0, "description": "0: no dashboard." },
                "uptime_ms": count,
                "resident_memory_bytes": count,
            }),
        ),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_answer_shape_is_a_component_schema() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let mut named = 0;
        for r in crate::host::ROUTES.iter().chain(crate::pact::ROUTES) {
            if let Answer::Shape(name) = r.answer {
                named += 1;
                assert!(
                    schemas[name].is_object(),
                    "{} {}: no schema {name}",
                    r.method,
                    r.path
                );
            }
        }
        assert!(
            named >= 18,
            "the entry, task and status answers are typed ({named})"
        );
        let list = &doc["paths"]["/v1/pacts/{pact_id}/knowledge"]["get"]["responses"]["200"];
        assert_eq!(
            list["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/EntryPage"
        );
    }

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
        assert_eq!(n, crate::host::ROUTES.len() + crate::pact::ROUTES.len());
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
