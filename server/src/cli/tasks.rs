//! `openpact task`: add, claim, complete, release and list the pact's tasks.

use clap::Subcommand;
use openpact_proto::v1;
use openpact_server::datadir::DataDir;
use serde_json::Value;

use super::error::CliError;
use super::output::{Output, clip, json_doc, say};
use super::{PactArgs, control, json};

const STATUSES: [&str; 3] = ["open", "claimed", "complete"];

/// The task verbs.
#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Add a task for any agent (or --assign-to one) to claim.
    Add {
        /// What needs doing (1 to 200 characters).
        title: String,
        /// More detail.
        #[arg(long)]
        description: Option<String>,
        /// Reserve it for one agent, by handle.
        #[arg(long, value_name = "HANDLE")]
        assign_to: Option<String>,
        #[command(flatten)]
        pact: PactArgs,
    },

    /// Claim an open task: it is yours until you complete or release it (or the claim TTL
    /// passes).
    Claim {
        /// The task's id, like a7f2bcde-1.
        id: String,
        /// Answer only once the indexers confirmed the claim (it then can no longer lose).
        #[arg(long)]
        wait_confirmed: bool,
        #[command(flatten)]
        pact: PactArgs,
    },

    /// Mark a task complete, with an optional result.
    Complete {
        /// The task's id.
        id: String,
        /// What came out of it.
        #[arg(long)]
        result: Option<String>,
        #[command(flatten)]
        pact: PactArgs,
    },

    /// Give a claimed task back: it is open again.
    Release {
        /// The task's id.
        id: String,
        #[command(flatten)]
        pact: PactArgs,
    },

    /// List tasks, newest first.
    List {
        /// Only tasks in this status: open, claimed or complete.
        #[arg(long)]
        status: Option<String>,
        /// How many to show (1 to 1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        pact: PactArgs,
    },
}

/// Runs a task verb.
pub async fn run(dir: &DataDir, cmd: TaskCommand, out: Output) -> Result<(), CliError> {
    match cmd {
        TaskCommand::Add {
            title,
            description,
            assign_to,
            pact,
        } => {
            let mut client = control::connect(dir).await?;
            let t = client
                .pact
                .create_task(v1::CreateTaskRequest {
                    pact: pact.name(),
                    title,
                    description,
                    assigned_to: assign_to,
                    extra_json: String::new(),
                })
                .await?
                .into_inner();
            show(&t, out, format!("Task {} created", t.id));
        }
        TaskCommand::Claim {
            id,
            wait_confirmed,
            pact,
        } => {
            let wait = if wait_confirmed {
                v1::Wait::Confirmed
            } else {
                v1::Wait::Applied
            };
            let mut client = control::connect(dir).await?;
            let t = client
                .pact
                .claim_task(action(&pact, id, None, wait))
                .await?
                .into_inner();
            let note = if t.confirmed {
                "confirmed"
            } else {
                "not confirmed yet"
            };
            show(&t, out, format!("Claimed {} ({note})", t.id));
        }
        TaskCommand::Complete { id, result, pact } => {
            let mut client = control::connect(dir).await?;
            let t = client
                .pact
                .complete_task(action(&pact, id, result, v1::Wait::Applied))
                .await?
                .into_inner();
            show(&t, out, format!("Completed {}", t.id));
        }
        TaskCommand::Release { id, pact } => {
            let mut client = control::connect(dir).await?;
            let t = client
                .pact
                .release_task(action(&pact, id, None, v1::Wait::Applied))
                .await?
                .into_inner();
            show(&t, out, format!("Released {}\nstatus → {}", t.id, t.status));
        }
        TaskCommand::List {
            status,
            limit,
            pact,
        } => list(dir, status, limit, &pact, out).await?,
    }
    Ok(())
}

fn action(
    pact: &PactArgs,
    id: String,
    result: Option<String>,
    wait: v1::Wait,
) -> v1::TaskActionRequest {
    v1::TaskActionRequest {
        pact: pact.name(),
        id,
        result,
        wait: wait as i32,
        wait_ms: 0,
    }
}

fn show(t: &v1::TaskState, out: Output, human: String) {
    if out.json() {
        json_doc(&json::task(t));
    } else {
        for line in human.lines() {
            say(line);
        }
    }
}

async fn list(
    dir: &DataDir,
    status: Option<String>,
    limit: u32,
    pact: &PactArgs,
    out: Output,
) -> Result<(), CliError> {
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(CliError::new(format!(
            "unknown status: {s}. Allowed: {}",
            STATUSES.join(", ")
        )));
    }
    if !(1..=1000).contains(&limit) {
        return Err(CliError::new("--limit must be between 1 and 1000"));
    }
    let mut client = control::connect(dir).await?;
    let page = client
        .pact
        .list_tasks(v1::ListTasksRequest {
            pact: pact.name(),
            page: Some(v1::PageRequest {
                order: v1::Order::Desc as i32,
                limit,
                cursor: None,
            }),
            status: status.clone(),
        })
        .await?
        .into_inner();
    if out.json() {
        json_doc(&Value::Array(page.tasks.iter().map(json::task).collect()));
        return Ok(());
    }
    if page.tasks.is_empty() {
        match status {
            Some(s) => say(format!("No {s} tasks.")),
            None => say("No tasks yet."),
        }
        return Ok(());
    }
    for t in &page.tasks {
        let claimer = match (&t.claimed_by, t.status.as_str()) {
            (Some(c), "claimed" | "complete") => format!(" ← {c}"),
            _ => String::new(),
        };
        say(format!(
            "{:<9} {} {}{claimer}",
            t.status,
            t.id,
            clip(&t.title, 80)
        ));
    }
    Ok(())
}
