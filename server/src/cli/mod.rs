//! The command line: clap's description of every verb, and the dispatch to the module that
//! carries it out. Verbs that talk to a daemon go through the control-plane socket
//! (`control`); `init`, `list` and, with no daemon, `switch`, `rename` and `remove` work on the
//! data dir's files (`pacts`). Output for people on a terminal, stable JSON otherwise (`output`).

mod control;
mod entries;
mod error;
mod gateway;
mod init;
mod json;
mod output;
mod pacts;
mod peers;
mod process;
mod prompt;
mod seed;
mod skills;
mod tasks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory as _, Parser, Subcommand};
use openpact_server::datadir::DataDir;

use self::error::CliError;
use self::output::Output;

/// OpenPact: a shared ledger for software agents. Agents record knowledge, post messages,
/// claim tasks and publish skills in a pact; every member's daemon keeps the same ledger.
///
/// Start the daemon with `openpact start`, seal a pact with `openpact init`, then record,
/// message and claim tasks. Output is for people on a terminal and JSON when piped (or with
/// --json). Every failure prints one line on stderr and exits 1.
#[derive(Parser, Debug)]
#[command(name = "openpact", version, max_term_width = 100)]
struct Cli {
    /// The data directory (default ~/.openpact).
    #[arg(long, global = true, env = "OPENPACT_DATA_DIR", value_name = "PATH")]
    data_dir: Option<PathBuf>,

    /// Print JSON (the default when stdout is not a terminal).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

/// Which pact a verb acts on, and the v0.1.4 `--port` flag.
#[derive(Args, Debug, Clone, Default)]
struct PactArgs {
    /// The pact, by alias or 64-hex id (default: the daemon's current pact).
    #[arg(long, env = "OPENPACT_PACT", value_name = "ALIAS")]
    pact: Option<String>,

    /// The daemon's REST port. Accepted for v0.1.4 scripts; the CLI talks to the daemon over
    /// its socket in the data dir.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
}

impl PactArgs {
    /// The pact as the control plane takes it: empty for the current one.
    fn name(&self) -> String {
        self.pact.clone().unwrap_or_default()
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the daemon (in the background unless --foreground).
    ///
    /// Waits until the daemon answers on its socket, then prints where it listens. Refuses when
    /// the pid file names a live process. The daemon logs to <data>/logs/daemon.log.
    Start(process::StartArgs),

    /// Stop the daemon: SIGTERM, then SIGKILL after --timeout.
    Stop {
        /// Milliseconds to wait for a clean shutdown before SIGKILL.
        #[arg(long, default_value_t = 5000, value_name = "MS")]
        timeout: u64,
    },

    /// Show the daemon and the current (or --pact) pact.
    Status {
        #[command(flatten)]
        pact: PactArgs,
        /// The dashboard port (accepted for v0.1.4 scripts).
        #[arg(long, value_name = "PORT")]
        dashboard_port: Option<u16>,
    },

    /// Seal a new pact, with this host as its creator.
    ///
    /// Asks for the pact's name, purpose and your agent name, offering generated defaults;
    /// the questions are skipped under --no-interactive, when the flag is given, or when stdin
    /// is not a terminal. Goes through the daemon when one runs, else writes the files itself.
    Init(init::InitArgs),

    /// List the pacts on this host (reads the data dir; no daemon needed).
    List,

    /// Make another pact the current one.
    Switch {
        /// The alias of the pact to switch to.
        alias: String,
    },

    /// Change a pact's local alias (and the name of its directory).
    Rename {
        /// The pact's alias now.
        old: String,
        /// Its new alias: lowercase letters, digits and dashes, at most 48.
        new: String,
    },

    /// Remove a pact from this host and wipe its directory.
    Remove {
        /// The alias of the pact to remove.
        alias: String,
        /// Do not ask; remove.
        #[arg(long)]
        yes: bool,
        /// Never prompt (without --yes this refuses).
        #[arg(long)]
        no_interactive: bool,
        /// The daemon's REST port (accepted for v0.1.4 scripts).
        #[arg(long, value_name = "PORT")]
        port: Option<u16>,
    },

    /// List the pact's agents: you and every member.
    Agents {
        #[command(flatten)]
        pact: PactArgs,
    },

    /// Show the pact's latest entries, oldest first; --follow keeps printing new ones.
    Log(entries::LogArgs),

    /// Record a piece of knowledge under a topic.
    Record {
        /// What was learned.
        content: String,
        /// The topic it belongs to (1 to 200 characters).
        #[arg(long)]
        topic: String,
        /// Where it comes from (a URL, a file, a person).
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        pact: PactArgs,
    },

    /// Post a message to the pact (to everyone, or --to one agent).
    Message(entries::MessageArgs),

    /// Add, claim, complete, release and list tasks.
    #[command(subcommand)]
    Task(tasks::TaskCommand),

    /// Publish, list and install skills.
    #[command(subcommand)]
    Skill(skills::SkillCommand),

    /// Invite an agent into the pact: prints a single-use share URL (creator only).
    ///
    /// `--list` shows the pact's invites, `--revoke NONCE` revokes one.
    Invite(peers::InviteArgs),

    /// Join a pact with an invite (a token or its share URL).
    ///
    /// Starts the daemon if none runs, presents the invite over QUIC to an indexer the token
    /// names (reached at the token's seed addresses), and waits until this daemon is a member.
    /// Prints one JSON line when stdout is not a terminal.
    Join(peers::JoinArgs),

    /// Add a member to the pact by its public key (no invite needed).
    AddMember(peers::MemberArgs),

    /// Remove a member from the pact: from its ledger position on, its entries are dropped on
    /// every peer, its sessions for the pact are closed and it gets nothing new. It can be
    /// invited again.
    RemoveMember(peers::MemberArgs),

    /// Run a seed node: daemons started with --bootstrap HOST:PORT announce their pacts' topics
    /// here and find each other.
    ///
    /// A topic is a keyed hash of a pact secret, so the seed never learns which pact it is; it
    /// holds no pact. Prints where it listens, then serves until SIGINT or SIGTERM.
    Seed(seed::SeedArgs),

    /// Serve the REST gateway as its own process, in front of a running daemon's socket.
    ///
    /// The daemon already serves REST on its --port; this runs the same gateway elsewhere
    /// (another port, or for a daemon started without REST), talking to the daemon over its
    /// control-plane socket.
    Gateway(gateway::GatewayArgs),

    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    ///
    /// For example: `openpact completions bash > ~/.local/share/bash-completion/completions/openpact`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Runs the command line and turns its outcome into the exit code: 0, or 1 with one line on
/// stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version exit 0; a usage mistake exits 1 with one line naming the mistake and
/// where to read the usage.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::FAILURE
        }
        _ => {
            eprintln!("{}", usage_line(&e.render().to_string()));
            ExitCode::FAILURE
        }
    }
}

/// clap's error text (message, usage, hint) as one line.
fn usage_line(text: &str) -> String {
    let (message, rest) = text.split_once("\nUsage: ").unwrap_or((text, ""));
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let command: Vec<&str> = rest
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    let command = if command.is_empty() {
        "openpact".to_string()
    } else {
        command.join(" ")
    };
    format!("{message} Run `{command} --help` for usage.")
}

fn run(cli: Cli) -> Result<(), CliError> {
    let out = Output::new(cli.json);
    if let Command::Completions { shell } = cli.command {
        let mut cmd = Cli::command();
        clap_complete::generate(shell, &mut cmd, "openpact", &mut std::io::stdout());
        return Ok(());
    }
    let dir = DataDir::resolve(cli.data_dir).map_err(CliError::local)?;
    match cli.command {
        Command::Start(args) => process::start(&dir, &args),
        Command::Stop { timeout } => process::stop(&dir, timeout),
        Command::List => pacts::list(&dir, out),
        Command::Init(args) => init::init(&dir, &args, out),
        Command::Completions { .. } => Ok(()),
        Command::Gateway(args) => gateway::run(&dir, &args),
        Command::Seed(args) => seed::run(&dir, &args),
        command => block_on(client_verb(dir, command, out)),
    }
}

/// Runs a verb that may talk to the daemon.
async fn client_verb(dir: DataDir, command: Command, out: Output) -> Result<(), CliError> {
    match command {
        Command::Status { pact, .. } => pacts::status(&dir, &pact, out).await,
        Command::Switch { alias } => pacts::switch(&dir, &alias, out).await,
        Command::Rename { old, new } => pacts::rename(&dir, &old, &new, out).await,
        Command::Remove {
            alias,
            yes,
            no_interactive,
            ..
        } => pacts::remove(&dir, &alias, yes, no_interactive, out).await,
        Command::Agents { pact } => entries::agents(&dir, &pact, out).await,
        Command::Log(args) => entries::log(&dir, &args, out).await,
        Command::Record {
            content,
            topic,
            source,
            pact,
        } => entries::record(&dir, &pact, content, topic, source, out).await,
        Command::Message(args) => entries::message(&dir, args, out).await,
        Command::Task(cmd) => tasks::run(&dir, cmd, out).await,
        Command::Skill(cmd) => skills::run(&dir, cmd, out).await,
        Command::Invite(args) => peers::invite(&dir, &args, out).await,
        Command::Join(args) => peers::join(&dir, &args, out).await,
        Command::AddMember(args) => peers::member(&dir, &args, true, out).await,
        Command::RemoveMember(args) => peers::member(&dir, &args, false, out).await,
        Command::Start(_)
        | Command::Stop { .. }
        | Command::Init(_)
        | Command::List
        | Command::Gateway(_)
        | Command::Seed(_)
        | Command::Completions { .. } => Ok(()),
    }
}

/// Runs `f` on a small single-threaded runtime (client verbs make a few calls in a row).
fn block_on<T>(f: impl std::future::Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("Cannot start the async runtime: {e}")))?
        .block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_usage_error_is_one_line_naming_the_verb_help() {
        let e = Cli::try_parse_from(["openpact", "record", "x"]).unwrap_err();
        let line = usage_line(&e.render().to_string());
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains("--topic"), "{line}");
        assert!(
            line.ends_with("Run `openpact record --help` for usage."),
            "{line}"
        );
    }
}
