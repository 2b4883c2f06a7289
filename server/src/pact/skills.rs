//! Skills: publish, read verified content, install to `pacts/<alias>/skills/`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use openpact_ledger::Code;
use openpact_ledger::view::SkillFormat;
use openpact_ledger::view::apply::{is_skill_name, skill_checksum};
use openpact_ledger::wire::{self, op::Op};
use openpact_proto::v1;
use serde::{Deserialize, Serialize};

use super::lists::{check_chars, check_json_object};
use super::{OpenPact, io_error, rfc3339};
use crate::error::{ApiError, Result};

/// The installed-skills record file inside a pact's directory.
pub const INSTALLED_FILE: &str = "installed-skills.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Installed {
    name: String,
    version: String,
    format: String,
    checksum: String,
    installed_at: String,
    path: String,
}

fn is_checksum_shape(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// File extension of a skill format.
fn extension(format: &str) -> Option<&'static str> {
    Some(match SkillFormat::from_name(format)? {
        SkillFormat::Openclaw => "md",
        SkillFormat::Langchain => "py",
        SkillFormat::Generic => "txt",
    })
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename) with `mode`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path
        .parent()
        .ok_or_else(|| ApiError::internal(format!("{} has no parent", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, &e)
    })
}

impl OpenPact {
    /// Publishes a skill after checking its name, version and checksum.
    pub async fn publish_skill(&self, req: v1::PublishSkillRequest) -> Result<v1::Entry> {
        check_chars("name", &req.name, 1, 200)?;
        check_chars("version", &req.version, 1, 200)?;
        if SkillFormat::from_name(&req.format).is_none() {
            return Err(ApiError::bad_request(format!(
                "unknown format {}: use openclaw, langchain or generic",
                req.format
            )));
        }
        if !is_checksum_shape(&req.checksum) {
            return Err(ApiError::bad_request(
                "checksum must look like sha256:<64 lowercase hex>",
            ));
        }
        for (field, v) in [("name", &req.name), ("version", &req.version)] {
            if !is_skill_name(v) {
                return Err(ApiError::new(
                    Code::BadSkillName,
                    format!(
                        "skill {field} {v:?} must be lowercase letters, digits, '-', '_' in dot-separated parts"
                    ),
                ));
            }
        }
        if skill_checksum(&req.content) != req.checksum {
            return Err(ApiError::new(
                Code::SkillChecksumMismatch,
                "checksum does not match the content",
            ));
        }
        let extra_json = check_json_object("extra_json", &req.extra_json)?;
        self.append_entry(Op::Skill(wire::Skill {
            name: req.name,
            version: req.version,
            format: req.format,
            content: req.content,
            checksum: req.checksum,
            description: req.description,
            requires_approval: req.requires_approval,
            extra_json,
        }))
        .await
    }

    fn skill(&self, id: &str) -> Result<wire::Skill> {
        let view = self.reader()?.entry_by_api_id(id)?;
        match view.and_then(|v| v.op) {
            Some(Op::Skill(s)) => Ok(s),
            _ => Err(ApiError::not_found(format!("skill {id} not found"))),
        }
    }

    fn verified_skill(&self, id: &str) -> Result<wire::Skill> {
        let s = self.skill(id)?;
        if skill_checksum(&s.content) != s.checksum {
            return Err(ApiError::new(
                Code::SkillChecksumMismatch,
                format!("stored content of skill {id} does not match its checksum"),
            )
            .with_http(500));
        }
        Ok(s)
    }

    /// A skill's content, verified against its checksum.
    pub fn skill_content(&self, id: &str) -> Result<v1::SkillContent> {
        let s = self.verified_skill(id)?;
        Ok(v1::SkillContent {
            id: id.to_string(),
            name: s.name,
            version: s.version,
            format: s.format,
            checksum: s.checksum,
            content: s.content,
        })
    }

    fn installed_path(&self) -> std::path::PathBuf {
        self.dir().join(INSTALLED_FILE)
    }

    fn read_installed(&self) -> Result<BTreeMap<String, Installed>> {
        let path = self.installed_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::internal(format!(
                    "{} is not valid JSON ({e}). Fix or move it; it was left as it is.",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_error(&path, &e)),
        }
    }

    /// Installs a skill's verified content to `skills/<name>@<version>.<ext>` (mode 0644).
    pub fn install_skill(&self, req: &v1::InstallSkillRequest) -> Result<v1::InstalledSkill> {
        if !req.confirm {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "installing a skill needs confirm: true",
            ));
        }
        let s = self.verified_skill(&req.id)?;
        let ext = extension(&s.format).ok_or_else(|| {
            ApiError::bad_request(format!(
                "skill {} has an unknown format {}",
                req.id, s.format
            ))
        })?;
        if !is_skill_name(&s.name) || !is_skill_name(&s.version) {
            return Err(ApiError::new(
                Code::BadSkillName,
                "the skill's name or version would escape the skills directory",
            ));
        }
        let skills = self.dir().join("skills");
        std::fs::create_dir_all(&skills).map_err(|e| io_error(&skills, &e))?;
        let path = skills.join(format!("{}@{}.{ext}", s.name, s.version));
        write_atomic(&path, s.content.as_bytes(), 0o644)?;
        let mut all = self.read_installed()?;
        let row = Installed {
            name: s.name,
            version: s.version,
            format: s.format,
            checksum: s.checksum,
            installed_at: rfc3339(self.now()),
            path: path.display().to_string(),
        };
        all.insert(req.id.clone(), row.clone());
        let json = serde_json::to_vec_pretty(&all)
            .map_err(|e| ApiError::internal(format!("cannot encode installed skills: {e}")))?;
        write_atomic(&self.installed_path(), &json, 0o600)?;
        Ok(installed(&req.id, row))
    }

    /// Skills installed from this pact.
    pub fn installed_skills(&self) -> Result<Vec<v1::InstalledSkill>> {
        let mut rows: Vec<_> = self
            .read_installed()?
            .into_iter()
            .map(|(id, r)| installed(&id, r))
            .collect();
        rows.sort_by(|a, b| a.installed_at.cmp(&b.installed_at).then(a.id.cmp(&b.id)));
        Ok(rows)
    }
}

fn installed(id: &str, r: Installed) -> v1::InstalledSkill {
    v1::InstalledSkill {
        id: id.to_string(),
        path: r.path,
        installed_at: r.installed_at,
        checksum: r.checksum,
        name: r.name,
        version: r.version,
        format: r.format,
    }
}
