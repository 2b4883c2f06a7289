//! `openpact init`: seal a new pact, with this host as its creator. Through the daemon when one
//! runs; with none, the pact's files are written here under the data dir's lock and the pact
//! registered (current if no pact is).

use clap::Args;
use openpact_ledger::{Code, Signer, SystemClock};
use openpact_proto::v1;
use openpact_server::datadir::{self, DataDir};
use openpact_server::pact::{self, NewPact};
use serde_json::json;

use super::error::CliError;
use super::output::{Output, card, json_doc, say};
use super::pacts::{current_marker, lock_for_files, remove_locally};
use super::process::{self, StartArgs};
use super::{control, prompt};

/// `openpact init`.
#[derive(Args, Debug, Clone, Default)]
pub struct InitArgs {
    /// The pact's name (1 to 64 characters).
    #[arg(long)]
    pub name: Option<String>,

    /// What the pact is for (up to 200 characters).
    #[arg(long)]
    pub purpose: Option<String>,

    /// Your agent name in the pact (up to 64 characters).
    #[arg(long)]
    pub display_name: Option<String>,

    /// The local alias (default: slugged from the name).
    #[arg(long)]
    pub alias: Option<String>,

    /// How long a task claim holds before the task reopens, e.g. 24h, 30m (default 24h).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub claim_ttl: Option<std::time::Duration>,

    /// Replace a pact that already has this alias (wipes it).
    #[arg(long)]
    pub force: bool,

    /// Ask nothing; use the flags and generated defaults.
    #[arg(long)]
    pub no_interactive: bool,

    /// Do not start the daemon afterwards.
    #[arg(long)]
    pub no_start: bool,

    /// Do not open the dashboard (accepted for v0.1.4 scripts).
    #[arg(long)]
    pub no_open: bool,

    /// The daemon's REST port (accepted for v0.1.4 scripts).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// The dashboard port (accepted for v0.1.4 scripts).
    #[arg(long, value_name = "PORT")]
    pub dashboard_port: Option<u16>,
}

/// What `init` prints about the new pact.
struct Sealed {
    alias: String,
    pact_id: String,
    name: String,
    purpose: Option<String>,
    display_name: Option<String>,
    handle: String,
    public_key: String,
    data_dir: String,
    is_current: bool,
}

/// `openpact init`.
pub fn init(dir: &DataDir, args: &InitArgs, out: Output) -> Result<(), CliError> {
    let interactive = !args.no_interactive && prompt::stdin_is_terminal();
    let ask = |flag: &Option<String>, question: &str, default: String| match flag {
        Some(v) => v.clone(),
        None if interactive => prompt::ask(question, &default),
        None => default,
    };
    let name = ask(&args.name, "Pact name", prompt::pact_name())
        .trim()
        .to_string();
    let purpose = ask(&args.purpose, "Purpose", prompt::purpose());
    let display_name = ask(&args.display_name, "Agent name", prompt::agent_name());
    if name.is_empty() || name.chars().count() > 64 {
        return Err(CliError::coded(
            Code::BadRequest,
            "the pact name must be 1 to 64 characters",
        ));
    }
    if purpose.chars().count() > 200 {
        return Err(CliError::coded(
            Code::BadRequest,
            "the purpose must be at most 200 characters",
        ));
    }
    if display_name.chars().count() > 64 {
        return Err(CliError::coded(
            Code::BadRequest,
            "the agent name must be at most 64 characters",
        ));
    }
    if let Some(a) = &args.alias {
        datadir::validate_alias(a).map_err(CliError::local)?;
    }
    let claim_ttl_ms = args
        .claim_ttl
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let new = NewPact {
        name,
        purpose: Some(purpose.trim().to_string()).filter(|p| !p.is_empty()),
        display_name: Some(display_name.trim().to_string()).filter(|d| !d.is_empty()),
        claim_ttl_ms,
    };
    let runtime = runtime()?;
    let client = runtime.block_on(control::try_connect(dir))?;
    let daemon_was_running = client.is_some();
    let sealed = match client {
        Some(mut client) => {
            let r = runtime
                .block_on(client.host.create_pact(v1::CreatePactRequest {
                    name: new.name.clone(),
                    purpose: new.purpose.clone(),
                    display_name: new.display_name.clone(),
                    alias: args.alias.clone(),
                    confirm: true,
                    claim_ttl_ms: new.claim_ttl_ms,
                    force: args.force,
                }))?
                .into_inner();
            Sealed {
                alias: r.alias,
                pact_id: r.pact_id,
                name: r.pact_name,
                purpose: r.pact_purpose,
                display_name: r.display_name,
                handle: r.peer_handle,
                public_key: r.public_key,
                data_dir: r.data_dir,
                is_current: r.is_current,
            }
        }
        None => create_locally(dir, args, &new)?,
    };
    if out.json() {
        json_doc(&json!({
            "alias": sealed.alias,
            "pact_id": sealed.pact_id,
            "pact_name": sealed.name,
            "pact_purpose": sealed.purpose,
            "display_name": sealed.display_name,
            "peer_handle": sealed.handle,
            "public_key": sealed.public_key,
            "role": "creator",
            "data_dir": sealed.data_dir,
            "is_current": sealed.is_current,
        }));
    } else {
        say("A pact has been sealed.");
        let agent = match &sealed.display_name {
            Some(d) => format!("{d} ({})", sealed.handle),
            None => sealed.handle.clone(),
        };
        card(
            &sealed.name,
            &[
                ("Alias", current_marker(&sealed.alias, sealed.is_current)),
                ("Purpose", sealed.purpose.clone().unwrap_or_default()),
                ("Pact key", sealed.pact_id.clone()),
                ("Agent", agent),
                ("Data dir", sealed.data_dir.clone()),
            ],
        );
    }
    if !daemon_was_running && !args.no_start && prompt::stdin_is_terminal() {
        process::start(dir, &StartArgs::default())?;
    }
    Ok(())
}

/// Creates the pact's files with no daemon running, and registers it (current if none is).
fn create_locally(dir: &DataDir, args: &InitArgs, new: &NewPact) -> Result<Sealed, CliError> {
    let _lock = lock_for_files(dir)?;
    dir.ensure().map_err(CliError::local)?;
    let file = dir.load().map_err(CliError::local)?;
    let alias = match &args.alias {
        Some(a) if file.alias_taken(a) && args.force => {
            remove_locally(dir, a)?;
            a.clone()
        }
        Some(a) if file.alias_taken(a) => {
            return Err(CliError::coded(
                Code::PactAliasExists,
                format!(
                    "a pact named {a} already exists. Pass --force to replace it, or --alias to pick another"
                ),
            ));
        }
        Some(a) => a.clone(),
        None => datadir::slug_alias(&new.name, |a| {
            file.alias_taken(a) || dir.pact_dir(a).exists()
        }),
    };
    let entry = pact::create_files(dir, &alias, new, &SystemClock).map_err(CliError::local)?;
    let registered = dir.update(|f| {
        f.pacts.push(entry.clone());
        if f.current_alias.is_none() {
            f.current_alias = Some(alias.clone());
        }
        Ok(f.current_alias.as_deref() == Some(alias.as_str()))
    });
    let is_current = match registered {
        Ok(c) => c,
        Err(e) => {
            // Not in the registry: keep nothing of it.
            let _ = std::fs::remove_dir_all(dir.pact_dir(&alias));
            return Err(CliError::local(e));
        }
    };
    let key = dir
        .read_member_seed(&alias)
        .map(|seed| Signer::from_seed(seed).public())
        .map_err(CliError::local)?;
    Ok(Sealed {
        alias: alias.clone(),
        pact_id: entry.pact_id,
        name: new.name.clone(),
        purpose: new.purpose.clone(),
        display_name: new.display_name.clone(),
        handle: key.handle(),
        public_key: key.to_hex(),
        data_dir: dir.pact_dir(&alias).display().to_string(),
        is_current,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("Cannot start the async runtime: {e}")))
}
