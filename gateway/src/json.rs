//! The JSON shapes of spec/rest-api.md for the control plane's messages: entries (section 8),
//! task states (section 11), statuses, agents. REST answers with them and the CLI prints them, so a
//! script can move between the two. Times are RFC 3339 with milliseconds, UTC.

use openpact_proto::v1;
use serde::ser::{Serialize, SerializeMap, Serializer};
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

/// An entry's payload as JSON, written straight to the serializer (lists of entries are the
/// hottest answers: no intermediate `Value` tree). Extras (fields this version does not model,
/// kept as JSON text) follow the typed fields and never replace one.
pub struct PayloadJson<'a>(pub &'a v1::Entry);

/// An entry (spec/rest-api.md, section 8, with `position`, `confirmed` and `outcome`), written
/// straight to the serializer.
pub struct EntryJson<'a>(pub &'a v1::Entry);

/// Writes `key: value` and remembers the key, so extras cannot repeat it.
struct Fields<'k, M> {
    map: M,
    keys: [&'k str; 8],
    n: usize,
}

impl<'k, M: SerializeMap> Fields<'k, M> {
    fn new(map: M) -> Self {
        Fields {
            map,
            keys: [""; 8],
            n: 0,
        }
    }

    fn put<V: Serialize + ?Sized>(&mut self, key: &'k str, value: &V) -> Result<(), M::Error> {
        if self.n < self.keys.len() {
            self.keys[self.n] = key;
            self.n += 1;
        }
        self.map.serialize_entry(key, value)
    }

    /// The fields of a JSON object given as text, skipping keys already written.
    fn extras(&mut self, extra: &str) -> Result<(), M::Error> {
        if extra.is_empty() {
            return Ok(());
        }
        if let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(extra) {
            for (k, v) in &extra {
                if !self.keys[..self.n].contains(&k.as_str()) {
                    self.map.serialize_entry(k, v)?;
                }
            }
        }
        Ok(())
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.map.end()
    }
}

impl Serialize for PayloadJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut p = Fields::new(serializer.serialize_map(None)?);
        match &self.0.payload {
            Some(v1::entry::Payload::Knowledge(k)) => {
                p.put("topic", &k.topic)?;
                p.put("content", &k.content)?;
                if let Some(s) = &k.source {
                    p.put("source", s)?;
                }
                p.extras(&k.extra_json)?;
            }
            Some(v1::entry::Payload::Task(t)) => {
                p.put("title", &t.title)?;
                p.put("status", &t.status)?;
                if let Some(d) = &t.description {
                    p.put("description", d)?;
                }
                p.put("claimed_by", &t.claimed_by)?;
                p.put("result", &t.result)?;
                p.put("assigned_to", &t.assigned_to)?;
                p.extras(&t.extra_json)?;
            }
            Some(v1::entry::Payload::Skill(s)) => {
                p.put("name", &s.name)?;
                p.put("version", &s.version)?;
                p.put("format", &s.format)?;
                p.put("content", &s.content)?;
                p.put("checksum", &s.checksum)?;
                if let Some(d) = &s.description {
                    p.put("description", d)?;
                }
                if let Some(r) = s.requires_approval {
                    p.put("requires_approval", &r)?;
                }
                p.extras(&s.extra_json)?;
            }
            Some(v1::entry::Payload::Message(m)) => {
                p.put("content", &m.content)?;
                if let Some(pr) = &m.priority {
                    p.put("priority", pr)?;
                }
                if let Some(to) = &m.to {
                    p.put("to", to)?;
                }
                if let Some(kind) = &m.kind {
                    p.put("kind", kind)?;
                }
                p.extras(&m.system_json)?;
            }
            None => {}
        }
        p.end()
    }
}

impl Serialize for EntryJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut o = serializer.serialize_map(None)?;
        o.serialize_entry("id", &e.id)?;
        o.serialize_entry("type", type_name(e.r#type))?;
        o.serialize_entry("timestamp", &time(e.time_ms))?;
        o.serialize_entry("agent_id", &e.agent_id)?;
        o.serialize_entry("display_name", &e.display_name)?;
        o.serialize_entry("payload", &PayloadJson(e))?;
        if !e.refs.is_empty() {
            o.serialize_entry("refs", &e.refs)?;
        }
        o.serialize_entry("position", &e.position)?;
        o.serialize_entry("confirmed", &e.confirmed)?;
        o.serialize_entry("outcome", &e.outcome)?;
        o.end()
    }
}

/// The list envelope of entries: `{entries, cursor, has_more}`.
#[derive(serde::Serialize)]
pub struct EntryList<'a> {
    /// The page.
    pub entries: Vec<EntryJson<'a>>,
    /// Where the next page starts, if there is one.
    pub cursor: Option<&'a str>,
    /// Whether there is a next page.
    pub has_more: bool,
}

impl<'a> EntryList<'a> {
    /// `entries` as a page.
    pub fn new(entries: &'a [v1::Entry], cursor: Option<&'a str>, has_more: bool) -> Self {
        EntryList {
            entries: entries.iter().map(EntryJson).collect(),
            cursor,
            has_more,
        }
    }
}

/// An entry as a JSON value.
pub fn entry(e: &v1::Entry) -> Value {
    serde_json::to_value(EntryJson(e)).unwrap_or(Value::Null)
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
        "view_digest": s.view_digest,
        "order_digest": s.order_digest,
        "peers": s.peers.iter().map(|p| json!({
            "remote_key": p.remote_key,
            "member_key": p.member_key,
            "address": p.address,
            "outbound": p.outbound,
            "pulled": p.pulled,
            "served": p.served,
            "bytes_in": p.bytes_in,
            "bytes_out": p.bytes_out,
            "up_ms": p.up_ms,
        })).collect::<Vec<_>>(),
        "sync_pulled_total": s.sync_pulled_total,
        "sync_served_total": s.sync_served_total,
        "sync_bytes_in_total": s.sync_bytes_in_total,
        "sync_bytes_out_total": s.sync_bytes_out_total,
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

/// The answer to a join (`POST /v1/pacts/join`, `openpact join`).
pub fn joined(r: &v1::JoinPactResponse) -> Value {
    json!({
        "ok": r.ok,
        "alias": r.alias,
        "pact_id": r.pact_id,
        "pact_name": r.pact_name,
        "pact_purpose": r.pact_purpose,
        "role": r.role,
        "public_key": r.public_key,
    })
}

/// A freshly minted invite (`POST /invites`, `openpact invite`).
pub fn minted(r: &v1::MintInviteResponse) -> Value {
    json!({
        "token": r.token,
        "share_url": r.share_url,
        "nonce": r.nonce,
        "expires_at": r.expires_at,
    })
}

/// One invite of a pact's list (`GET /invites`, `openpact invite --list`).
pub fn invite(i: &v1::InviteSummary) -> Value {
    json!({
        "nonce": i.nonce,
        "expires_at": i.expires_at,
        "created_at": i.created_at,
        "pact_name": i.pact_name,
        "issuer_display": i.issuer_display,
        "revoked": i.revoked,
        "spent_at": i.spent_at,
        "spent_by": i.spent_by,
        "dead": i.dead,
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
