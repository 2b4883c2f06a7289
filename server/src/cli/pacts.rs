//! The pacts of this host: `list`, `status`, `switch`, `rename` and `remove`. With a daemon
//! running they go through it; with none, `switch`, `rename` and `remove` work on the files
//! under the data dir's lock (so a daemon cannot start in between). `list` always reads the
//! files.

use openpact_ledger::Code;
use openpact_proto::v1;
use openpact_server::datadir::{self, DataDir, DirLock, PactList};
use serde_json::{Value, json};

use super::error::CliError;
use super::output::{Output, card, json_doc, say};
use super::{PactArgs, control, json, process, prompt};

/// Takes the data dir for a change of its files with no daemon. Fails when a daemon holds it
/// (one that did not answer on its socket); clears a stale pid file.
pub(super) fn lock_for_files(dir: &DataDir) -> Result<DirLock, CliError> {
    let lock = datadir::lock_dir(dir).map_err(CliError::local)?;
    if let Ok(Some(pid)) = datadir::read_pid(dir)
        && !process::running(pid)
    {
        let _ = datadir::remove_pid(dir);
    }
    Ok(lock)
}

/// `openpact list`: from the files, no daemon needed.
pub fn list(dir: &DataDir, out: Output) -> Result<(), CliError> {
    let list: PactList = dir.list().map_err(CliError::local)?;
    if out.json() {
        let v = serde_json::to_value(&list)
            .map_err(|e| CliError::new(format!("Cannot encode the pact list: {e}")))?;
        json_doc(&v);
        return Ok(());
    }
    if list.pacts.is_empty() {
        say("No pacts yet. Run `openpact init` to seal one.");
        return Ok(());
    }
    let width = list
        .pacts
        .iter()
        .map(|p| p.alias.len())
        .max()
        .unwrap_or(0)
        .max(5);
    say(format!(
        "  {:<width$}  {:<32}  {:<8}  Pact ID",
        "Alias", "Name", "Role"
    ));
    for p in &list.pacts {
        let name = p.pact_name.as_deref().unwrap_or("(unnamed)");
        say(format!(
            "{} {:<width$}  {:<32}  {:<8}  {}",
            if p.is_current { "*" } else { " " },
            p.alias,
            super::output::clip(name, 32),
            p.role.as_deref().unwrap_or("-"),
            &p.pact_id[..p.pact_id.len().min(12)],
        ));
    }
    Ok(())
}

/// `openpact status`.
pub async fn status(dir: &DataDir, pact: &PactArgs, out: Output) -> Result<(), CliError> {
    let mut client = control::connect(dir).await?;
    let host = client
        .host
        .status(v1::HostStatusRequest {})
        .await?
        .into_inner();
    let pact_status = if pact.pact.is_none() && host.current.is_none() {
        None
    } else {
        Some(
            client
                .pact
                .status(v1::PactStatusRequest { pact: pact.name() })
                .await?
                .into_inner(),
        )
    };
    if out.json() {
        json_doc(&json!({
            "daemon": json::host_status(&host),
            "pact": pact_status.as_ref().map_or(Value::Null, json::pact_status),
        }));
        return Ok(());
    }
    let Some(s) = pact_status else {
        card(
            "OpenPact daemon · Daemon is running",
            &[
                (
                    "Pacts",
                    match &host.current {
                        Some(c) => format!("{} · current {c}", host.pact_count),
                        None => format!("{} · No pacts yet", host.pact_count),
                    },
                ),
                ("Agents", host.agents.to_string()),
                ("Socket", dir.socket_path().display().to_string()),
                ("PID", host.pid.to_string()),
                ("Data dir", host.data_dir.clone()),
                ("Version", host.version.clone()),
            ],
        );
        return Ok(());
    };
    let name = s.pact_name.clone().unwrap_or_else(|| "(unnamed)".into());
    let agent = {
        let who = match &s.display_name {
            Some(d) => format!("{d} ({})", s.peer_handle),
            None => s.peer_handle.clone(),
        };
        match &s.role {
            Some(r) => format!("{who} · {r}"),
            None => format!("{who} · not a member yet"),
        }
    };
    let others = if host.pact_count == 1 {
        "1 pact on this host".to_string()
    } else {
        format!("{} pacts on this host", host.pact_count)
    };
    card(
        &name,
        &[
            ("Pact", name.clone()),
            (
                "Alias",
                format!("{} · {others}", current_marker(&s.alias, s.is_current)),
            ),
            ("Purpose", s.pact_purpose.clone().unwrap_or_default()),
            ("ID", s.pact_id.chars().take(16).collect()),
            ("Agent", agent),
            ("Agents", format!("{} online", s.agents)),
            (
                "Entries",
                format!(
                    "{} · {}",
                    s.entries,
                    if s.synced { "synced" } else { "not synced" }
                ),
            ),
            (
                "Ledger",
                format!(
                    "{} stored · {} confirmed · {} in the tail",
                    s.stored, s.confirmed, s.tail
                ),
            ),
            ("Peers", peers_line(&s.peers)),
            ("Socket", dir.socket_path().display().to_string()),
            ("PID", host.pid.to_string()),
            ("Data dir", s.data_dir.clone()),
        ],
    );
    Ok(())
}

/// The peer sessions of a pact in one line: how many, and where.
fn peers_line(peers: &[v1::PeerSession]) -> String {
    if peers.is_empty() {
        return "none connected".to_string();
    }
    let list: Vec<String> = peers
        .iter()
        .map(|p| {
            format!(
                "{} ({}, {} pulled / {} served)",
                p.address,
                &p.member_key[..p.member_key.len().min(8)],
                p.pulled,
                p.served
            )
        })
        .collect();
    format!("{} · {}", peers.len(), list.join(", "))
}

/// `openpact switch`.
pub async fn switch(dir: &DataDir, alias: &str, out: Output) -> Result<(), CliError> {
    let current = match control::try_connect(dir).await? {
        Some(mut client) => {
            let before = client
                .host
                .status(v1::HostStatusRequest {})
                .await?
                .into_inner()
                .current;
            if before.as_deref() != Some(alias) {
                client
                    .host
                    .switch_pact(v1::SwitchPactRequest {
                        alias: alias.to_string(),
                        confirm: alias.to_string(),
                    })
                    .await?;
            }
            before
        }
        None => {
            let _lock = lock_for_files(dir)?;
            let file = dir.load().map_err(CliError::local)?;
            if !file.alias_taken(alias) {
                return Err(unknown_alias(alias, &file));
            }
            let before = file.current_alias.clone();
            dir.update(|f| {
                f.current_alias = Some(alias.to_string());
                Ok(())
            })
            .map_err(CliError::local)?;
            before
        }
    };
    let already = current.as_deref() == Some(alias);
    if out.json() {
        json_doc(&json!({"ok": true, "current": alias, "changed": !already}));
    } else if already {
        say(format!("Already on {alias}."));
    } else {
        say(format!("Switched to {alias}."));
    }
    Ok(())
}

fn unknown_alias(alias: &str, file: &datadir::DaemonFile) -> CliError {
    let known: Vec<&str> = file.pacts.iter().map(|p| p.alias.as_str()).collect();
    if known.is_empty() {
        return CliError::coded(
            Code::UnknownPact,
            format!(
                "no pact named {alias}: there are no pacts yet. Run `openpact init` to seal one."
            ),
        );
    }
    CliError::coded(
        Code::UnknownPact,
        format!("no pact named {alias}. known: {}", known.join(", ")),
    )
}

/// `openpact rename`.
pub async fn rename(dir: &DataDir, old: &str, new: &str, out: Output) -> Result<(), CliError> {
    datadir::validate_alias(new).map_err(CliError::local)?;
    let pact_id = match control::try_connect(dir).await? {
        Some(mut client) => {
            client
                .host
                .rename_pact(v1::RenamePactRequest {
                    pact: old.to_string(),
                    alias: new.to_string(),
                })
                .await?
                .into_inner()
                .pact_id
        }
        None => rename_locally(dir, old, new)?,
    };
    if out.json() {
        json_doc(&json!({"ok": true, "alias": new, "previous": old, "pact_id": pact_id}));
    } else {
        say(format!("Renamed {old} → {new}."));
    }
    Ok(())
}

fn rename_locally(dir: &DataDir, old: &str, new: &str) -> Result<String, CliError> {
    let _lock = lock_for_files(dir)?;
    let file = dir.load().map_err(CliError::local)?;
    let Some(entry) = file.find(old).cloned() else {
        return Err(unknown_alias(old, &file));
    };
    if file.alias_taken(new) {
        return Err(CliError::coded(
            Code::PactAliasExists,
            format!("a pact named {new} already exists"),
        ));
    }
    let (from, to) = (dir.pact_dir(&entry.alias), dir.pact_dir(new));
    if to.exists() {
        return Err(CliError::coded(
            Code::PactAliasExists,
            format!(
                "{} already exists. Move it away or pick another alias.",
                to.display()
            ),
        ));
    }
    std::fs::rename(&from, &to).map_err(|e| {
        CliError::new(format!(
            "Cannot move {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })?;
    let updated = dir.update(|f| {
        for e in f.pacts.iter_mut().filter(|e| e.alias == entry.alias) {
            e.alias = new.to_string();
        }
        if f.current_alias.as_deref() == Some(entry.alias.as_str()) {
            f.current_alias = Some(new.to_string());
        }
        Ok(())
    });
    if let Err(e) = updated {
        let _ = std::fs::rename(&to, &from);
        return Err(CliError::local(e));
    }
    Ok(entry.pact_id)
}

/// `openpact remove`.
pub async fn remove(
    dir: &DataDir,
    alias: &str,
    yes: bool,
    no_interactive: bool,
    out: Output,
) -> Result<(), CliError> {
    let wiped = dir.pact_dir(alias);
    if !yes {
        if no_interactive || !prompt::stdin_is_terminal() {
            return Err(CliError::new(format!(
                "refusing to remove {alias} without --yes (would wipe {})",
                wiped.display()
            )));
        }
        eprintln!("This wipes {} and its ledger.", wiped.display());
        if !prompt::confirm_typed(&format!("Type \"{alias}\" to confirm removal"), alias) {
            return Err(CliError::new(format!(
                "Kept {alias}: the confirmation did not match."
            )));
        }
    }
    let (alias, pact_id, wiped) = match control::try_connect(dir).await? {
        Some(mut client) => {
            let r = client
                .host
                .delete_pact(v1::DeletePactRequest {
                    pact: alias.to_string(),
                    confirm: alias.to_string(),
                })
                .await?
                .into_inner();
            (r.alias, r.pact_id, r.data_dir)
        }
        None => {
            let _lock = lock_for_files(dir)?;
            let (a, id) = remove_locally(dir, alias)?;
            (a, id, wiped.display().to_string())
        }
    };
    if out.json() {
        json_doc(&json!({"ok": true, "alias": alias, "pact_id": pact_id, "data_dir": wiped}));
    } else {
        say(format!("Removed {alias}"));
        say(format!("Wiped {wiped}"));
    }
    Ok(())
}

/// Removes a pact with no daemon (the caller holds the dir lock): its registry row (the current
/// pact moves to the first left), then its directory.
pub(super) fn remove_locally(dir: &DataDir, alias: &str) -> Result<(String, String), CliError> {
    let file = dir.load().map_err(CliError::local)?;
    let Some(entry) = file.find(alias).cloned() else {
        return Err(unknown_alias(alias, &file));
    };
    dir.update(|f| {
        f.pacts.retain(|e| e.alias != entry.alias);
        if f.current_alias.as_deref() == Some(entry.alias.as_str()) {
            f.current_alias = f.pacts.first().map(|e| e.alias.clone());
        }
        Ok(())
    })
    .map_err(CliError::local)?;
    let path = dir.pact_dir(&entry.alias);
    match std::fs::remove_dir_all(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(CliError::new(format!(
                "Removed {} from the registry, but cannot wipe {}: {e}",
                entry.alias,
                path.display()
            )));
        }
    }
    Ok((entry.alias, entry.pact_id))
}

/// `alias`, marked when it is the current pact.
pub(super) fn current_marker(alias: &str, current: bool) -> String {
    if current {
        format!("{alias} (current)")
    } else {
        alias.to_string()
    }
}
