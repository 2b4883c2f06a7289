//! `openpact invite` and `openpact join`: admitting a member and becoming one.

use std::time::Duration;

use clap::Args;
use openpact_proto::v1;
use openpact_server::datadir::DataDir;
use serde_json::json;

use super::PactArgs;
use super::control;
use super::error::CliError;
use super::output::{Output, card, json_doc, json_line, say};
use super::process::{self, StartArgs};

/// `openpact invite`.
#[derive(Args, Debug)]
pub struct InviteArgs {
    /// How long the invite stays valid: 90s, 30m, 12h, 7d (1 minute to 90 days).
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    ttl: humantime::Duration,

    /// List the pact's invites instead of minting one.
    #[arg(long, conflicts_with_all = ["revoke"])]
    list: bool,

    /// Revoke the invite with this nonce (48 hex) instead of minting one.
    #[arg(long, value_name = "NONCE")]
    revoke: Option<String>,

    #[command(flatten)]
    pact: PactArgs,
}

/// `openpact join`.
#[derive(Args, Debug)]
pub struct JoinArgs {
    /// The invite token, or the share URL that carries it (`...?invite=<token>`).
    token: String,

    /// The local alias for the pact (default: joined-<first 8 hex of its id>).
    #[arg(long)]
    alias: Option<String>,

    /// Your agent's display name in the pact.
    #[arg(long)]
    display_name: Option<String>,

    /// Seconds to wait until this daemon is a member.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u32,

    /// Never prompt. Accepted for scripts: join asks nothing.
    #[arg(long)]
    no_interactive: bool,

    /// The REST port of the daemon to start when none runs (default 7666; 0: any free port,
    /// and then any free dashboard port too).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
}

/// `openpact add-member` and `openpact remove-member`.
#[derive(Args, Debug)]
pub struct MemberArgs {
    /// The member's public key: 64 hex, as its daemon shows it (`openpact status`).
    key: String,

    #[command(flatten)]
    pact: PactArgs,
}

/// `openpact add-member KEY` (`add: true`) or `openpact remove-member KEY`.
pub async fn member(
    dir: &DataDir,
    args: &MemberArgs,
    add: bool,
    out: Output,
) -> Result<(), CliError> {
    let mut client = control::connect(dir).await?;
    let (pact, key) = (args.pact.name(), args.key.trim().to_ascii_lowercase());
    let r = if add {
        client
            .pact
            .add_member(v1::AddMemberRequest {
                pact,
                key,
                indexer: false,
            })
            .await?
    } else {
        client
            .pact
            .remove_member(v1::RemoveMemberRequest { pact, key })
            .await?
    }
    .into_inner();
    if out.json() {
        json_line(&json!({"ok": r.ok, "key": r.key, "added": add}));
    } else if add {
        say(format!("Added {} as a member.", r.key));
    } else {
        say(format!(
            "Removed {}. Its later entries are dropped on every peer, and it gets nothing new.",
            r.key
        ));
    }
    Ok(())
}

/// `openpact invite`.
pub async fn invite(dir: &DataDir, args: &InviteArgs, out: Output) -> Result<(), CliError> {
    let mut client = control::connect(dir).await?;
    let pact = args.pact.name();
    if args.list {
        let list = client
            .pact
            .list_invites(v1::ListInvitesRequest { pact })
            .await?
            .into_inner();
        if out.json() {
            json_doc(&json!({
                "entries": list.invites.iter().map(super::json::invite).collect::<Vec<_>>(),
            }));
        } else if list.invites.is_empty() {
            say("No invites yet. Mint one with `openpact invite`.");
        } else {
            for i in &list.invites {
                let state = if i.revoked {
                    "revoked".to_string()
                } else if let Some(by) = &i.spent_by {
                    format!("used by {}", &by[..by.len().min(8)])
                } else if i.dead {
                    "expired".to_string()
                } else {
                    format!("open until {}", i.expires_at)
                };
                say(format!("{}  {state}", i.nonce));
            }
        }
        return Ok(());
    }
    if let Some(nonce) = &args.revoke {
        let r = client
            .pact
            .revoke_invite(v1::RevokeInviteRequest {
                pact,
                nonce: nonce.clone(),
                confirm: nonce.clone(),
            })
            .await?
            .into_inner();
        if out.json() {
            json_line(&json!({"ok": r.ok, "nonce": r.nonce}));
        } else {
            say(format!("Revoked invite {}.", r.nonce));
        }
        return Ok(());
    }
    let ttl_ms = u64::try_from(Duration::from(args.ttl).as_millis()).unwrap_or(u64::MAX);
    let r = client
        .pact
        .mint_invite(v1::MintInviteRequest {
            pact,
            confirm: true,
            ttl_ms,
        })
        .await?
        .into_inner();
    if out.json() {
        json_line(&super::json::minted(&r));
    } else {
        // The URL alone on stdout, so `openpact invite | ...` hands it on; the rest on stderr.
        say(&r.share_url);
        eprintln!(
            "Single use, valid until {}. The joiner runs: openpact join '<url>'. Revoke with: openpact invite --revoke {}",
            r.expires_at, r.nonce
        );
    }
    Ok(())
}

/// The token itself, from a token or a share URL.
fn token_of(arg: &str) -> String {
    let arg = arg.trim();
    match arg.split_once("invite=") {
        Some((_, rest)) => rest.split('&').next().unwrap_or(rest).to_string(),
        None => arg.to_string(),
    }
}

/// `openpact join`.
pub async fn join(dir: &DataDir, args: &JoinArgs, out: Output) -> Result<(), CliError> {
    let token = token_of(&args.token);
    let mut client = match control::try_connect(dir).await? {
        Some(c) => c,
        None => {
            let defaults = StartArgs::default();
            let start = StartArgs {
                port: args.port.unwrap_or(defaults.port),
                dashboard_port: if args.port == Some(0) {
                    0
                } else {
                    defaults.dashboard_port
                },
                ..defaults
            };
            let d = dir.clone();
            tokio::task::spawn_blocking(move || process::start_for_verb(&d, &start))
                .await
                .map_err(|e| CliError::new(format!("starting the daemon failed: {e}")))??;
            control::connect(dir).await?
        }
    };
    if !out.json() {
        eprintln!("Presenting the invite to the pact's indexers...");
    }
    // Transient failures (no indexer reachable yet) are tried again until the timeout.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(args.timeout));
    let r = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let attempt = client
            .host
            .join_pact(v1::JoinPactRequest {
                key: String::new(),
                alias: args.alias.clone(),
                display_name: args.display_name.clone(),
                pact_name: None,
                pact_purpose: None,
                confirm: true,
                token: Some(token.clone()),
                timeout_ms: u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1),
            })
            .await;
        match attempt {
            Ok(r) => break r.into_inner(),
            Err(s)
                if CliError::remote(&s).is_code(openpact_ledger::Code::NoIndexerReachable)
                    && tokio::time::Instant::now() + Duration::from_secs(1) < deadline =>
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(s) => return Err(CliError::remote(&s)),
        }
    };
    // Joining asks nothing, so there is nothing for --no-interactive to skip.
    let _ = args.no_interactive;
    if out.json() {
        json_line(&super::json::joined(&r));
    } else {
        card(
            &format!(
                "Joined {}",
                r.pact_name.clone().unwrap_or_else(|| r.alias.clone())
            ),
            &[
                ("Alias", r.alias.clone()),
                ("ID", r.pact_id.chars().take(16).collect()),
                (
                    "Role",
                    r.role.clone().unwrap_or_else(|| "not a member yet".into()),
                ),
                ("Key", r.public_key.clone()),
            ],
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_url_or_a_bare_token_gives_the_token() {
        assert_eq!(token_of("abc123"), "abc123");
        assert_eq!(
            token_of(" https://openpact.dev/join/?invite=abc123 "),
            "abc123"
        );
        assert_eq!(token_of("https://x/?invite=abc&utm=1"), "abc");
    }
}
