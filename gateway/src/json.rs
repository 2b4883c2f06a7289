//! The JSON shapes of spec/rest-api.md for the control plane's messages: entries (section 8),
//! task states (section 11), statuses, agents. REST answers with them and the CLI prints them, so a
//! script can move between the two. Times are RFC 3339 with milliseconds, UTC.

use openpact_proto::v1;
use serde_json::{Map, Value, json};

/// RFC 3339 with milliseconds, UTC (`2026-04-15T12:00:00.000Z`).
pub fn time(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// The name of an entry type as the API spells it.
pub fn type_name(t: i32) -> &'static str {
    match v1::EntryType::try_from(t) {
        Ok(v1::EntryType::Knowledge) => "knowledge",
        Ok(v1::EntryType::Task) => "task",
        Ok(v1::EntryType::Skill) => "skill",
        Ok(v1::EntryType::Message) => "message",
        _ => "unknown",
    }
}

fn opt(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

fn opt_time(ms: Option<u64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(time(ms)))
}

/// Adds the fields of a JSON object given as text (payload extras) to `into`, never replacing
/// a field already there.
fn merge_extra(into: &mut Map<String, Value>, extra: &str) {
    if let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(extra) {
        for (k, v) in extra {
            into.entry(k).or_insert(v);
        }
    }
}

/// An entry's payload.
pub fn payload(e: &v1::Entry) -> Value {
    let mut p = Map::new();
    match &e.payload {
        Some(v1::entry::Payload::Knowledge(k)) => {
            p.insert("topic".into(), json!(k.topic));
            p.insert("content".into(), json!(k.content));
            if let Some(s) = &k.source {
                p.insert("source".into(), json!(s));
            }
            merge_extra(&mut p, &k.extra_json);
        }
        Some(v1::entry::Payload::Task(t)) => {
            p.insert("title".into(), json!(t.title));
            p.insert("status".into(), json!(t.status));
            if let Some(d) = &t.description {
                p.insert("description".into(), json!(d));
            }
            p.insert("claimed_by".into(), opt(&t.claimed_by));
            p.insert("result".into(), opt(&t.result));
            p.insert("assigned_to".into(), opt(&t.assigned_to));
            merge_extra(&mut p, &t.extra_json);
        }
        Some(v1::entry::Payload::Skill(s)) => {
            p.insert("name".into(), json!(s.name));
            p.insert("version".into(), json!(s.version));
            p.insert("format".into(), json!(s.format));
            p.insert("content".into(), json!(s.content));
            p.insert("checksum".into(), json!(s.checksum));
            if let Some(d) = &s.description {
                p.insert("description".into(), json!(d));
            }
            if let Some(r) = s.requires_approval {
                p.insert("requires_approval".into(), json!(r));
            }
            merge_extra(&mut p, &s.extra_json);
        }
        Some(v1::entry::Payload::Message(m)) => {
            p.insert("content".into(), json!(m.content));
            if let Some(pr) = &m.priority {
                p.insert("priority".into(), json!(pr));
            }
            if let Some(to) = &m.to {
                p.insert("to".into(), json!(to));
            }
            if let Some(kind) = &m.kind {
                p.insert("kind".into(), json!(kind));
            }
            merge_extra(&mut p, &m.system_json);
        }
        None => {}
    }
    Value::Object(p)
}

/// An entry (spec/rest-api.md, section 8, with `position`, `confirmed` and `outcome`).
pub fn entry(e: &v1::Entry) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(e.id));
    o.insert("type".into(), json!(type_name(e.r#type)));
    o.insert("timestamp".into(), json!(time(e.time_ms)));
    o.insert("agent_id".into(), json!(e.agent_id));
    o.insert("display_name".into(), opt(&e.display_name));
    o.insert("payload".into(), payload(e));
    if !e.refs.is_empty() {
        o.insert("refs".into(), json!(e.refs));
    }
    o.insert("position".into(), json!(e.position));
    o.insert("confirmed".into(), json!(e.confirmed));
    o.insert("outcome".into(), json!(e.outcome));
    Value::Object(o)
}

/// A task state (spec/rest-api.md, section 11, "Tasks").
pub fn task(t: &v1::TaskState) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(t.id));
    o.insert("title".into(), json!(t.title));
    if let Some(d) = &t.description {
        o.insert("description".into(), json!(d));
    }
    o.insert("status".into(), json!(t.status));
    o.insert("claimed_by".into(), opt(&t.claimed_by));
    o.insert("assigned_to".into(), opt(&t.assigned_to));
    o.insert("result".into(), opt(&t.result));
    o.insert("timestamp".into(), json!(time(t.time_ms)));
    o.insert("updated_at".into(), json!(time(t.updated_at_ms)));
    o.insert("claimed_at".into(), opt_time(t.claimed_at_ms));
    o.insert("expired_at".into(), opt_time(t.expired_at_ms));
    o.insert(
        "history".into(),
        Value::Array(t.history.iter().map(entry).collect()),
    );
    o.insert("confirmed".into(), json!(t.confirmed));
    o.insert("outcome".into(), json!(t.outcome));
    Value::Object(o)
}

/// The daemon's host status.
pub fn host_status(h: &v1::HostStatusResponse) -> Value {
    json!({
        "running": true,
        "current": opt(&h.current),
        "pact_count": h.pact_count,
        "pacts_open": h.pacts_open,
        "agents": h.agents,
        "pid": h.pid,
        "data_dir": h.data_dir,
        "version": h.version,
        "port": h.port,
        "dashboard_port": h.dashboard_port,
        "uptime_ms": h.uptime_ms,
        "resident_memory_bytes": h.resident_memory_bytes,
    })
}

/// A pact's status.
pub fn pact_status(s: &v1::PactStatus) -> Value {
    json!({
        "pact_id": s.pact_id,
        "alias": s.alias,
        "pact_name": opt(&s.pact_name),
        "pact_purpose": opt(&s.pact_purpose),
        "peer_handle": s.peer_handle,
        "display_name": opt(&s.display_name),
        "role": opt(&s.role),
        "public_key": s.public_key,
        "agents": s.agents,
        "entries": s.entries,
        "is_member": s.is_member,
        "is_indexer": s.is_indexer,
        "synced": s.synced,
        "claim_ttl_ms": s.claim_ttl_ms,
        "confirmed": s.confirmed,
        "tail": s.tail,
        "ledger_time": if s.ledger_time_ms == 0 { Value::Null } else { json!(time(s.ledger_time_ms)) },
        "stored": s.stored,
        "is_current": s.is_current,
        "data_dir": s.data_dir,
    })
}

/// An agent of a pact (spec/rest-api.md, `GET /agents`).
pub fn agent(a: &v1::Agent) -> Value {
    json!({
        "id": a.id,
        "remote_key": a.remote_key,
        "role": a.role,
        "display_name": opt(&a.display_name),
        "online": a.online,
        "is_self": a.is_self,
    })
}

/// An installed skill.
pub fn installed_skill(s: &v1::InstalledSkill) -> Value {
    json!({
        "id": s.id,
        "path": s.path,
        "installed_at": s.installed_at,
        "checksum": s.checksum,
        "name": s.name,
        "version": s.version,
        "format": s.format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_knowledge_entry_has_the_rest_shape_with_its_extras() {
        let e = v1::Entry {
            id: "12347f2d-3".into(),
            r#type: v1::EntryType::Knowledge as i32,
            time_ms: 1_776_254_400_000,
            agent_id: "anon-falcon-7f2d9999".into(),
            payload: Some(v1::entry::Payload::Knowledge(v1::KnowledgePayload {
                topic: "sales".into(),
                content: "Tuesdays convert".into(),
                source: None,
                extra_json: r#"{"lang":"en","topic":"ignored"}"#.into(),
            })),
            position: 4,
            outcome: "applied".into(),
            ..Default::default()
        };
        let v = entry(&e);
        assert_eq!(v["type"], "knowledge");
        assert_eq!(v["timestamp"], "2026-04-15T12:00:00.000Z");
        assert_eq!(v["display_name"], Value::Null);
        assert_eq!(
            v["payload"],
            json!({"topic": "sales", "content": "Tuesdays convert", "lang": "en"})
        );
        assert!(v.get("refs").is_none());
        assert_eq!(v["position"], 4);
        assert_eq!(v["confirmed"], false);
    }

    #[test]
    fn a_task_state_shows_absent_fields_as_null() {
        let t = v1::TaskState {
            id: "12347f2d-1".into(),
            title: "Build".into(),
            status: "open".into(),
            time_ms: 0,
            updated_at_ms: 0,
            ..Default::default()
        };
        let v = task(&t);
        assert_eq!(v["claimed_by"], Value::Null);
        assert_eq!(v["claimed_at"], Value::Null);
        assert!(v.get("description").is_none());
        assert_eq!(v["history"], json!([]));
    }
}
