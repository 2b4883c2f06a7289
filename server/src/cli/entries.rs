//! What agents write and read in a pact: `record`, `message`, `log` (with `--follow`) and
//! `agents`.

use std::collections::HashSet;

use clap::Args;
use openpact_proto::v1;
use openpact_server::datadir::DataDir;
use serde_json::{Value, json};

use super::error::CliError;
use super::output::{Output, clip, json_doc, json_line, say, time};
use super::{PactArgs, control, json};

const TYPES: [&str; 4] = ["knowledge", "task", "skill", "message"];
const PRIORITIES: [&str; 3] = ["low", "normal", "high"];

/// `openpact log`.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// Only this type: knowledge, task, skill or message.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,

    /// How many entries to show (1 to 1000).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,

    /// Keep printing new entries as they arrive, until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,

    #[command(flatten)]
    pub pact: PactArgs,
}

/// `openpact message`.
#[derive(Args, Debug, Clone)]
pub struct MessageArgs {
    /// The message.
    pub content: String,

    /// low, normal or high.
    #[arg(long)]
    pub priority: Option<String>,

    /// The id of the entry this answers, like a7f2bcde-412.
    #[arg(long, value_name = "ID")]
    pub reply_to: Option<String>,

    /// Address one agent by handle (default: everyone).
    #[arg(long, value_name = "HANDLE")]
    pub to: Option<String>,

    #[command(flatten)]
    pub pact: PactArgs,
}

/// `openpact record`.
pub async fn record(
    dir: &DataDir,
    pact: &PactArgs,
    content: String,
    topic: String,
    source: Option<String>,
    out: Output,
) -> Result<(), CliError> {
    let mut client = control::connect(dir).await?;
    let e = client
        .pact
        .create_knowledge(v1::CreateKnowledgeRequest {
            pact: pact.name(),
            topic: topic.clone(),
            content,
            source,
            extra_json: String::new(),
        })
        .await?
        .into_inner();
    if out.json() {
        json_doc(&json::entry(&e));
    } else {
        say(format!("Recorded {topic} {}", e.id));
    }
    Ok(())
}

/// Whether `s` has the shape of an entry id (`<8 hex>-<seq>`).
fn is_entry_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(hex, seq)| {
        hex.len() == 8
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && !seq.is_empty()
            && seq.bytes().all(|b| b.is_ascii_digit())
    })
}

/// `openpact message`.
pub async fn message(dir: &DataDir, args: MessageArgs, out: Output) -> Result<(), CliError> {
    let content = args.content.trim().to_string();
    if content.is_empty() {
        return Err(CliError::new("message content must not be empty"));
    }
    if let Some(p) = &args.priority
        && !PRIORITIES.contains(&p.as_str())
    {
        return Err(CliError::new(format!(
            "unknown priority: {p}. Allowed: {}",
            PRIORITIES.join(", ")
        )));
    }
    if let Some(r) = &args.reply_to
        && !is_entry_id(r)
    {
        return Err(CliError::new(
            "--reply-to expects an entry id like a7f2bcde-412",
        ));
    }
    let mut client = control::connect(dir).await?;
    let e = client
        .pact
        .post_message(v1::PostMessageRequest {
            pact: args.pact.name(),
            content,
            priority: args.priority,
            reply_to: args.reply_to,
            to: args.to.clone(),
        })
        .await?
        .into_inner();
    if out.json() {
        json_doc(&json::entry(&e));
    } else {
        match args.to.as_deref() {
            Some(to) if to != "*" => say(format!("Sent {} to {to}", e.id)),
            _ => say(format!("Broadcast {}", e.id)),
        }
        say(format!("  {}", time(e.time_ms)));
    }
    Ok(())
}

/// `openpact agents`.
pub async fn agents(dir: &DataDir, pact: &PactArgs, out: Output) -> Result<(), CliError> {
    let mut client = control::connect(dir).await?;
    let agents = client
        .pact
        .list_agents(v1::ListAgentsRequest {
            pact: pact.name(),
            online: None,
        })
        .await?
        .into_inner()
        .agents;
    if out.json() {
        json_doc(&Value::Array(agents.iter().map(json::agent).collect()));
        return Ok(());
    }
    if agents.is_empty() {
        say("No agents bound to this pact yet.");
        return Ok(());
    }
    let width = agents
        .iter()
        .map(|a| handle_label(a).chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    say(format!(
        "{:<width$}  {:<16}  {:<8}  Status",
        "Handle", "Remote key", "Role"
    ));
    for a in &agents {
        say(format!(
            "{:<width$}  {:<16}  {:<8}  {}",
            handle_label(a),
            a.remote_key.chars().take(16).collect::<String>(),
            a.role,
            if a.online { "online" } else { "offline" },
        ));
    }
    Ok(())
}

fn handle_label(a: &v1::Agent) -> String {
    let name = match &a.display_name {
        Some(d) => format!("{} ({d})", a.id),
        None => a.id.clone(),
    };
    if a.is_self {
        format!("{name} (you)")
    } else {
        name
    }
}

/// One line of the log: an entry, or a task as its history left it.
struct Item {
    time_ms: u64,
    position: u64,
    kind: &'static str,
    agent: String,
    summary: String,
    json: Value,
    id: String,
}

impl Item {
    fn of_entry(e: &v1::Entry) -> Item {
        Item {
            time_ms: e.time_ms,
            position: e.position,
            kind: json::type_name(e.r#type),
            agent: e.agent_id.clone(),
            summary: summary(e),
            json: json::entry(e),
            id: e.id.clone(),
        }
    }

    fn of_task(t: &v1::TaskState) -> Item {
        let first = t.history.first();
        Item {
            time_ms: t.time_ms,
            position: first.map_or(0, |e| e.position),
            kind: "task",
            agent: first.map(|e| e.agent_id.clone()).unwrap_or_default(),
            summary: task_summary(&t.title, &t.status, t.claimed_by.as_deref()),
            json: {
                let mut v = json::task(t);
                v["type"] = json!("task");
                v
            },
            id: t.id.clone(),
        }
    }

    fn line(&self) -> String {
        format!(
            "{}  {:<10} {}  {}",
            time(self.time_ms),
            self.kind,
            self.agent,
            self.summary
        )
    }
}

fn task_summary(title: &str, status: &str, claimer: Option<&str>) -> String {
    match claimer {
        Some(c) if status != "open" => format!("{} [{status} by {c}]", clip(title, 80)),
        _ => format!("{} [{status}]", clip(title, 80)),
    }
}

fn summary(e: &v1::Entry) -> String {
    match &e.payload {
        Some(v1::entry::Payload::Knowledge(k)) => {
            format!("topic={} {}", k.topic, clip(&k.content, 80))
        }
        Some(v1::entry::Payload::Task(t)) => {
            task_summary(&t.title, &t.status, t.claimed_by.as_deref())
        }
        Some(v1::entry::Payload::Skill(s)) => format!("{}@{} ({})", s.name, s.version, s.format),
        Some(v1::entry::Payload::Message(m)) => match m.to.as_deref() {
            Some(to) if to != "*" => format!("→ {to}: {}", clip(&m.content, 80)),
            _ => clip(&m.content, 80),
        },
        None => String::new(),
    }
}

/// `openpact log`.
pub async fn log(dir: &DataDir, args: &LogArgs, out: Output) -> Result<(), CliError> {
    let kind = match &args.kind {
        Some(t) if TYPES.contains(&t.as_str()) => Some(t.as_str()),
        Some(t) => {
            return Err(CliError::new(format!(
                "unknown type: {t}. Allowed: {}",
                TYPES.join(", ")
            )));
        }
        None => None,
    };
    if !(1..=1000).contains(&args.limit) {
        return Err(CliError::new("--limit must be between 1 and 1000"));
    }
    let mut client = control::connect(dir).await?;
    if args.pact.pact.is_none() {
        let host = client
            .host
            .status(v1::HostStatusRequest {})
            .await?
            .into_inner();
        if host.current.is_none() {
            if out.json() {
                json_doc(&json!({"entries": []}));
            } else {
                say("No pacts yet. Run `openpact init` to seal one.");
            }
            return Ok(());
        }
    }
    // Subscribe before reading the history, so nothing written in between is missed.
    let mut stream = if args.follow {
        let status = client
            .pact
            .status(v1::PactStatusRequest {
                pact: args.pact.name(),
            })
            .await?
            .into_inner();
        Some(
            client
                .events
                .subscribe(v1::SubscribeRequest {
                    pacts: vec![status.pact_id],
                    kinds: vec![v1::EventKind::EntryApplied as i32],
                    last_event_id: None,
                    after_arrival: None,
                })
                .await?
                .into_inner(),
        )
    } else {
        None
    };
    let items = history(&mut client, &args.pact.name(), kind, args.limit).await?;
    let mut seen: HashSet<String> = HashSet::new();
    if args.follow {
        for item in &items {
            seen.insert(item.id.clone());
            if out.json() {
                json_line(&item.json);
            } else {
                say(item.line());
            }
        }
    } else if out.json() {
        json_doc(&json!({"entries": items.iter().map(|i| i.json.clone()).collect::<Vec<_>>()}));
    } else if items.is_empty() {
        say("The pact is silent.");
    } else {
        for item in &items {
            say(item.line());
        }
    }
    let Some(stream) = stream.as_mut() else {
        return Ok(());
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let event = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            event = stream.message() => event?,
        };
        let Some(event) = event else {
            return Err(CliError::new(
                "the daemon ended the stream (it stopped). Run `openpact log --follow` again once it runs.",
            ));
        };
        if event.kind == v1::EventKind::Reset as i32 {
            return Err(CliError::new(
                "fell too far behind the daemon's events. Run `openpact log --follow` again.",
            ));
        }
        let Some(v1::event::Detail::Applied(applied)) = event.detail else {
            continue;
        };
        let Some(entry) = applied.entry else {
            continue;
        };
        if kind.is_some_and(|k| k != json::type_name(entry.r#type))
            || !seen.insert(entry.id.clone())
        {
            continue;
        }
        let item = Item::of_entry(&entry);
        if out.json() {
            json_line(&item.json);
        } else {
            say(item.line());
        }
    }
}

/// The newest `limit` entries of the selected types, oldest first.
async fn history(
    client: &mut openpact_server::client::Client,
    pact: &str,
    kind: Option<&str>,
    limit: u32,
) -> Result<Vec<Item>, CliError> {
    let page = || {
        Some(v1::PageRequest {
            order: v1::Order::Desc as i32,
            limit,
            cursor: None,
        })
    };
    let wants = |k: &str| kind.is_none_or(|want| want == k);
    let mut items = Vec::new();
    if wants("knowledge") {
        let p = client
            .pact
            .list_knowledge(v1::ListKnowledgeRequest {
                pact: pact.to_string(),
                page: page(),
                topic: None,
            })
            .await?
            .into_inner();
        items.extend(p.entries.iter().map(Item::of_entry));
    }
    if wants("task") {
        let p = client
            .pact
            .list_tasks(v1::ListTasksRequest {
                pact: pact.to_string(),
                page: page(),
                status: None,
            })
            .await?
            .into_inner();
        items.extend(p.tasks.iter().map(Item::of_task));
    }
    if wants("skill") {
        let p = client
            .pact
            .list_skills(v1::ListSkillsRequest {
                pact: pact.to_string(),
                page: page(),
                format: None,
            })
            .await?
            .into_inner();
        items.extend(p.entries.iter().map(Item::of_entry));
    }
    if wants("message") {
        let p = client
            .pact
            .list_messages(v1::ListMessagesRequest {
                pact: pact.to_string(),
                page: page(),
                since_ms: None,
                agent_id: None,
                to: None,
            })
            .await?
            .into_inner();
        items.extend(p.entries.iter().map(Item::of_entry));
    }
    items.sort_by_key(|i| (i.time_ms, i.position));
    let skip = items.len().saturating_sub(limit as usize);
    Ok(items.split_off(skip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_are_eight_hex_a_dash_and_a_sequence() {
        assert!(is_entry_id("a7f2bcde-412"));
        assert!(!is_entry_id("a7f2bcd-412"));
        assert!(!is_entry_id("A7F2BCDE-412"));
        assert!(!is_entry_id("a7f2bcde-"));
        assert!(!is_entry_id("a7f2bcde-4x"));
        assert!(!is_entry_id("zzzz"));
    }

    #[test]
    fn a_claimed_task_names_its_claimer() {
        assert_eq!(
            task_summary("Ship", "claimed", Some("anon-fox-12345678")),
            "Ship [claimed by anon-fox-12345678]"
        );
        assert_eq!(task_summary("Ship", "open", None), "Ship [open]");
    }
}
