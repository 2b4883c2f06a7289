//! What the data dir's JSON files hold: `daemon.json` (the token, the ports of the running daemon,
//! the registry of pacts and the current alias) and each pact's `config.json`. Keys this version
//! does not know are kept through rewrites, so a newer daemon's fields survive an older CLI.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::DataDir;

/// Now as RFC 3339 UTC with milliseconds, e.g. `2026-04-15T12:00:00.000Z`.
pub fn now_rfc3339_millis() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The content of `daemon.json`. A missing file is the default: no token, no pacts.
#[derive(Serialize, Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DaemonFile {
    /// The REST bearer token, 64 lowercase hex.
    pub api_token: Option<String>,
    /// The alias of the current pact, if any.
    pub current_alias: Option<String>,
    /// The registry of pacts on this host, in insertion order.
    pub pacts: Vec<PactEntry>,
    /// REST port of the running daemon, written by the daemon at start; informational.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Dashboard port of the running daemon, written by the daemon at start; informational.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard_port: Option<u16>,
    /// UDP peer port of the running daemon, written by the daemon at start; informational.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p2p_port: Option<u16>,
    /// Keys this version does not know, kept through rewrites.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl DaemonFile {
    /// The pact that `pact` names: an alias first, then an exact pact id (spec/rest-api.md, 7).
    pub fn find(&self, pact: &str) -> Option<&PactEntry> {
        self.pacts
            .iter()
            .find(|p| p.alias == pact)
            .or_else(|| self.pacts.iter().find(|p| p.pact_id == pact))
    }

    /// Whether a pact already has `alias`.
    pub fn alias_taken(&self, alias: &str) -> bool {
        self.pacts.iter().any(|p| p.alias == alias)
    }
}

/// One row of the registry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PactEntry {
    /// The local alias, also the name of the pact's directory under `pacts/`.
    pub alias: String,
    /// The pact id, 64 lowercase hex.
    pub pact_id: String,
    /// When this host added the pact, RFC 3339 with milliseconds.
    pub added_at: String,
}

impl PactEntry {
    /// A row for `alias` and `pact_id`, added now.
    pub fn new(alias: impl Into<String>, pact_id: impl Into<String>) -> Self {
        PactEntry {
            alias: alias.into(),
            pact_id: pact_id.into(),
            added_at: now_rfc3339_millis(),
        }
    }
}

/// The content of `pacts/<alias>/config.json`: what this host knows and chose about a pact.
#[derive(Serialize, Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PactConfig {
    /// The pact id, 64 lowercase hex.
    pub pact_id: String,
    /// The pact's name.
    #[serde(default)]
    pub pact_name: Option<String>,
    /// The pact's purpose.
    #[serde(default)]
    pub pact_purpose: Option<String>,
    /// This host's display name in the pact.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The local role: `creator`, `indexer`, `member`, or none before an invite is redeemed.
    #[serde(default)]
    pub role: Option<String>,
    /// When this host created or joined the pact, RFC 3339 with milliseconds.
    #[serde(default)]
    pub created_at: String,
    /// Keys this version does not know, kept through rewrites.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl PactConfig {
    /// A config for `pact_id`, created now, with every optional field empty.
    pub fn new(pact_id: impl Into<String>) -> Self {
        PactConfig {
            pact_id: pact_id.into(),
            created_at: now_rfc3339_millis(),
            ..PactConfig::default()
        }
    }
}

/// The pacts of a host as `GET /v1/pacts` and `openpact list --json` show them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PactList {
    /// The current alias, or null.
    pub current: Option<String>,
    /// One row per registered pact, in registry order.
    pub pacts: Vec<PactRow>,
}

/// One pact of a [`PactList`]. The last four fields come from the pact's `config.json`, and are
/// null when it cannot be read.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PactRow {
    /// The local alias.
    pub alias: String,
    /// The pact id, 64 lowercase hex.
    pub pact_id: String,
    /// When this host added the pact.
    pub added_at: String,
    /// The pact's directory, absolute when the data dir is.
    pub data_dir: String,
    /// Whether this is the current pact.
    pub is_current: bool,
    /// The pact's name.
    pub pact_name: Option<String>,
    /// The pact's purpose.
    pub pact_purpose: Option<String>,
    /// This host's display name in the pact.
    pub display_name: Option<String>,
    /// The local role: `creator`, `indexer`, `member` or null.
    pub role: Option<String>,
}

impl PactList {
    /// The list for `file`, reading each pact's config from `dir`.
    pub fn build(dir: &DataDir, file: &DaemonFile) -> PactList {
        let pacts = file
            .pacts
            .iter()
            .map(|p| {
                let config = dir.read_config(&p.alias).ok();
                let config = config.as_ref();
                PactRow {
                    alias: p.alias.clone(),
                    pact_id: p.pact_id.clone(),
                    added_at: p.added_at.clone(),
                    data_dir: dir.pact_dir(&p.alias).display().to_string(),
                    is_current: file.current_alias.as_deref() == Some(p.alias.as_str()),
                    pact_name: config.and_then(|c| c.pact_name.clone()),
                    pact_purpose: config.and_then(|c| c.pact_purpose.clone()),
                    display_name: config.and_then(|c| c.display_name.clone()),
                    role: config.and_then(|c| c.role.clone()),
                }
            })
            .collect();
        PactList {
            current: file.current_alias.clone(),
            pacts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(alias: &str, pact_id: &str) -> PactEntry {
        PactEntry {
            alias: alias.into(),
            pact_id: pact_id.into(),
            added_at: "2026-04-15T12:00:00.000Z".into(),
        }
    }

    #[test]
    fn find_tries_aliases_before_pact_ids() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        // An alias that looks like another pact's id wins over that id.
        let file = DaemonFile {
            pacts: vec![entry("first", &a), entry(&a, &b)],
            ..DaemonFile::default()
        };
        assert_eq!(file.find("first").map(|p| &p.pact_id), Some(&a));
        assert_eq!(file.find(&a).map(|p| &p.pact_id), Some(&b));
        assert_eq!(file.find(&b).map(|p| p.alias.as_str()), Some(a.as_str()));
        assert_eq!(file.find("nope"), None);
        // Pact ids match exactly, not by prefix or case.
        assert_eq!(file.find(&b[..16]), None);
        assert_eq!(file.find(&b.to_uppercase()), None);
    }

    #[test]
    fn alias_taken_looks_at_aliases_only() {
        let file = DaemonFile {
            pacts: vec![entry("team", &"c".repeat(64))],
            ..DaemonFile::default()
        };
        assert!(file.alias_taken("team"));
        assert!(!file.alias_taken(&"c".repeat(64)));
    }

    #[test]
    fn daemon_file_uses_camel_case_and_keeps_unknown_keys() {
        let json = r#"{"apiToken":"t","currentAlias":null,"pacts":[{"alias":"x","pactId":"p","addedAt":"2026-04-15T12:00:00.000Z"}],"port":7666,"future":{"n":1}}"#;
        let file: DaemonFile = serde_json::from_str(json).unwrap();
        assert_eq!(file.api_token.as_deref(), Some("t"));
        assert_eq!(file.port, Some(7666));
        assert_eq!(file.dashboard_port, None);
        assert_eq!(file.other["future"], serde_json::json!({"n": 1}));
        let back = serde_json::to_value(&file).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }

    #[test]
    fn an_empty_object_is_an_empty_daemon_file() {
        let file: DaemonFile = serde_json::from_str("{}").unwrap();
        assert_eq!(file, DaemonFile::default());
    }

    #[test]
    fn pact_config_keeps_unknown_keys_and_writes_nulls() {
        let json = r#"{"pactId":"p","createdAt":"2026-04-15T12:00:00.000Z","claimTtlMs":5}"#;
        let config: PactConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.pact_name, None);
        assert_eq!(config.other["claimTtlMs"], 5);
        let back = serde_json::to_value(&config).unwrap();
        assert_eq!(back["claimTtlMs"], 5);
        assert_eq!(back["pactName"], serde_json::Value::Null);
        assert_eq!(back["role"], serde_json::Value::Null);
    }

    #[test]
    fn timestamps_have_milliseconds_and_a_z() {
        let t = now_rfc3339_millis();
        assert_eq!(t.len(), "2026-04-15T12:00:00.000Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{t}");
    }
}
