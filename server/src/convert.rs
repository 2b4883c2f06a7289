//! From the ledger's views to the control plane's messages.

use openpact_ledger::view::read::{EntryView, TaskView};
use openpact_ledger::view::{Kind, TaskStatus};
use openpact_ledger::wire::op::Op;
use openpact_ledger::{Outcome, ViewReader};
use openpact_proto::v1;

use crate::error::Result;

/// The control plane's entry type of a ledger kind.
pub fn entry_type(kind: Kind) -> v1::EntryType {
    match kind {
        Kind::Knowledge => v1::EntryType::Knowledge,
        Kind::Task => v1::EntryType::Task,
        Kind::Skill => v1::EntryType::Skill,
        Kind::Message => v1::EntryType::Message,
    }
}

/// The ledger kind of a control-plane entry type.
pub fn kind_of(t: v1::EntryType) -> Option<Kind> {
    match t {
        v1::EntryType::Unspecified => None,
        v1::EntryType::Knowledge => Some(Kind::Knowledge),
        v1::EntryType::Task => Some(Kind::Task),
        v1::EntryType::Skill => Some(Kind::Skill),
        v1::EntryType::Message => Some(Kind::Message),
    }
}

/// `applied`, `dropped`, or the wire code.
pub fn outcome(o: &Outcome) -> String {
    o.as_str().to_string()
}

/// An entry as the API shows it. Task state changes carry their task's title, read from `reader`.
pub fn entry(e: &EntryView, reader: &ViewReader) -> Result<v1::Entry> {
    entry_with(e, |id| Ok(reader.task_title(id)?.unwrap_or_default()))
}

/// An entry as the API shows it; `task_title` gives a task's title by its id (only task state
/// changes ask for one).
pub fn entry_with(e: &EntryView, task_title: impl Fn(&str) -> Result<String>) -> Result<v1::Entry> {
    let mut out = v1::Entry {
        id: e.api_id.clone(),
        r#type: e.kind.map_or(v1::EntryType::Unspecified, entry_type) as i32,
        time_ms: e.time_ms,
        agent_id: e.handle.clone(),
        display_name: e.display_name.clone(),
        payload: None,
        refs: e.refs.clone(),
        position: e.position,
        confirmed: e.confirmed,
        outcome: outcome(&e.outcome),
        hash: e.hash.to_hex(),
        author: e.author.to_hex(),
        arrival: 0,
    };
    let title = || task_title(e.refs.first().map(String::as_str).unwrap_or_default());
    use v1::entry::Payload;
    out.payload = match &e.op {
        Some(Op::Knowledge(k)) => Some(Payload::Knowledge(v1::KnowledgePayload {
            topic: k.topic.clone(),
            content: k.content.clone(),
            source: k.source.clone(),
            extra_json: k.extra_json.clone(),
        })),
        Some(Op::TaskCreate(t)) => Some(Payload::Task(v1::TaskPayload {
            title: t.title.clone(),
            status: TaskStatus::Open.as_str().to_string(),
            description: t.description.clone(),
            claimed_by: None,
            result: None,
            assigned_to: t.assigned_to.clone(),
            extra_json: t.extra_json.clone(),
        })),
        Some(Op::TaskClaim(_)) => Some(Payload::Task(v1::TaskPayload {
            title: title()?,
            status: TaskStatus::Claimed.as_str().to_string(),
            claimed_by: Some(e.handle.clone()),
            ..Default::default()
        })),
        Some(Op::TaskComplete(c)) => Some(Payload::Task(v1::TaskPayload {
            title: title()?,
            status: TaskStatus::Complete.as_str().to_string(),
            result: c.result.clone(),
            ..Default::default()
        })),
        Some(Op::TaskRelease(_)) => Some(Payload::Task(v1::TaskPayload {
            title: title()?,
            status: TaskStatus::Open.as_str().to_string(),
            ..Default::default()
        })),
        Some(Op::Skill(s)) => Some(Payload::Skill(v1::SkillPayload {
            name: s.name.clone(),
            version: s.version.clone(),
            format: s.format.clone(),
            content: s.content.clone(),
            checksum: s.checksum.clone(),
            description: s.description.clone(),
            requires_approval: s.requires_approval,
            extra_json: s.extra_json.clone(),
        })),
        Some(Op::Message(m)) => Some(Payload::Message(v1::MessagePayload {
            content: m.content.clone(),
            priority: m.priority.clone(),
            to: m.to.clone().filter(|t| t != "*"),
            kind: m.kind.clone(),
            system_json: m.system_json.clone(),
        })),
        _ => None,
    };
    Ok(out)
}

/// A task as the API shows it.
pub fn task(t: &TaskView, reader: &ViewReader) -> Result<v1::TaskState> {
    Ok(v1::TaskState {
        id: t.id.clone(),
        title: t.title.clone(),
        description: t.description.clone(),
        status: t.status.as_str().to_string(),
        claimed_by: t.claimed_by.as_ref().map(|c| c.handle.clone()),
        assigned_to: t.assigned_to.clone(),
        result: t.result.clone(),
        time_ms: t.created.time_ms,
        updated_at_ms: t.updated_at,
        claimed_at_ms: t.claimed_at,
        expired_at_ms: t.expired_at,
        history: t
            .history
            .iter()
            .map(|e| entry(e, reader))
            .collect::<Result<_>>()?,
        confirmed: t.confirmed,
        outcome: outcome(&t.outcome),
    })
}
