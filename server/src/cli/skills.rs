//! `openpact skill`: publish a skill file to the pact, list the pact's skills, and install one
//! (its content verified against its checksum first) under `pacts/<alias>/skills/`.

use std::path::PathBuf;

use clap::Subcommand;
use openpact_ledger::view::apply::skill_checksum;
use openpact_proto::v1;
use openpact_server::datadir::DataDir;
use serde_json::Value;

use super::error::CliError;
use super::output::{Output, json_doc, say};
use super::{PactArgs, control, json, prompt};

const FORMATS: [&str; 3] = ["openclaw", "langchain", "generic"];

/// The skill verbs.
#[derive(Subcommand, Debug)]
pub enum SkillCommand {
    /// Publish a skill file to the pact.
    Publish {
        /// The file holding the skill (UTF-8 text).
        file: PathBuf,
        /// The skill's name: lowercase letters, digits, `-`, `_`, dot-separated.
        #[arg(long)]
        name: String,
        /// Its version, e.g. 1.0.0.
        #[arg(long)]
        version: String,
        /// Its format: openclaw, langchain or generic.
        #[arg(long)]
        format: String,
        /// What it does.
        #[arg(long)]
        description: Option<String>,
        /// Ask people to approve before an agent uses it.
        #[arg(long)]
        requires_approval: bool,
        #[command(flatten)]
        pact: PactArgs,
    },

    /// List the pact's skills, newest first.
    List {
        /// Only this format.
        #[arg(long)]
        format: Option<String>,
        /// How many to show (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        pact: PactArgs,
    },

    /// Install a skill into this pact's skills directory, after checking its content.
    Install {
        /// The skill's entry id.
        id: String,
        /// Do not ask; install.
        #[arg(long)]
        yes: bool,
        /// Never prompt (without --yes this refuses).
        #[arg(long)]
        no_interactive: bool,
        #[command(flatten)]
        pact: PactArgs,
    },

    /// List the skills installed from this pact.
    Installed {
        #[command(flatten)]
        pact: PactArgs,
    },
}

/// Runs a skill verb.
pub async fn run(dir: &DataDir, cmd: SkillCommand, out: Output) -> Result<(), CliError> {
    match cmd {
        SkillCommand::Publish {
            file,
            name,
            version,
            format,
            description,
            requires_approval,
            pact,
        } => {
            if !FORMATS.contains(&format.as_str()) {
                return Err(CliError::new(format!(
                    "unknown format: {format}. Allowed: {}",
                    FORMATS.join(", ")
                )));
            }
            let content = std::fs::read_to_string(&file).map_err(|e| {
                CliError::new(format!(
                    "Cannot read the skill file {}: {e}",
                    file.display()
                ))
            })?;
            let checksum = skill_checksum(&content);
            let mut client = control::connect(dir).await?;
            let e = client
                .pact
                .publish_skill(v1::PublishSkillRequest {
                    pact: pact.name(),
                    name: name.clone(),
                    version: version.clone(),
                    format: format.clone(),
                    content,
                    checksum,
                    description,
                    requires_approval: requires_approval.then_some(true),
                    extra_json: String::new(),
                })
                .await?
                .into_inner();
            if out.json() {
                json_doc(&json::entry(&e));
            } else {
                say(format!("Published {name}@{version} ({format}) {}", e.id));
            }
        }
        SkillCommand::List {
            format,
            limit,
            pact,
        } => {
            if !(1..=1000).contains(&limit) {
                return Err(CliError::new("--limit must be between 1 and 1000"));
            }
            let mut client = control::connect(dir).await?;
            let page = client
                .pact
                .list_skills(v1::ListSkillsRequest {
                    pact: pact.name(),
                    page: Some(v1::PageRequest {
                        order: v1::Order::Desc as i32,
                        limit,
                        cursor: None,
                    }),
                    format,
                })
                .await?
                .into_inner();
            if out.json() {
                json_doc(&Value::Array(
                    page.entries.iter().map(json::entry).collect(),
                ));
            } else if page.entries.is_empty() {
                say("No skills yet.");
            } else {
                for e in &page.entries {
                    if let Some(v1::entry::Payload::Skill(s)) = &e.payload {
                        say(format!(
                            "{}  {}@{} ({}) by {}",
                            e.id, s.name, s.version, s.format, e.agent_id
                        ));
                    }
                }
            }
        }
        SkillCommand::Install {
            id,
            yes,
            no_interactive,
            pact,
        } => {
            let mut client = control::connect(dir).await?;
            // Fetch (and so verify) the content before asking anyone anything.
            let content = client
                .pact
                .get_skill_content(v1::GetSkillContentRequest {
                    pact: pact.name(),
                    id: id.clone(),
                })
                .await?
                .into_inner();
            if !yes {
                if no_interactive || !prompt::stdin_is_terminal() {
                    return Err(CliError::new(format!(
                        "refusing to install {id} without --yes ({}@{}, {} bytes)",
                        content.name,
                        content.version,
                        content.content.len()
                    )));
                }
                eprintln!(
                    "{}@{} ({}), {} bytes, checksum {}",
                    content.name,
                    content.version,
                    content.format,
                    content.content.len(),
                    content.checksum
                );
                if !prompt::confirm_typed("Type \"install\" to confirm", "install") {
                    return Err(CliError::new(
                        "Not installed: the confirmation did not match.",
                    ));
                }
            }
            let installed = client
                .pact
                .install_skill(v1::InstallSkillRequest {
                    pact: pact.name(),
                    id,
                    confirm: true,
                })
                .await?
                .into_inner();
            if out.json() {
                json_doc(&json::installed_skill(&installed));
            } else {
                say(format!(
                    "Installed {}@{} to {}",
                    installed.name, installed.version, installed.path
                ));
            }
        }
        SkillCommand::Installed { pact } => {
            let mut client = control::connect(dir).await?;
            let skills = client
                .pact
                .list_installed_skills(v1::ListInstalledSkillsRequest { pact: pact.name() })
                .await?
                .into_inner()
                .skills;
            if out.json() {
                json_doc(&Value::Array(
                    skills.iter().map(json::installed_skill).collect(),
                ));
            } else if skills.is_empty() {
                say("No skills installed from this pact.");
            } else {
                for s in &skills {
                    say(format!(
                        "{}  {}@{} ({})  {}",
                        s.id, s.name, s.version, s.format, s.path
                    ));
                }
            }
        }
    }
    Ok(())
}
