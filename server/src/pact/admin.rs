//! Admin: members, promotion (not yet), pact info, and this daemon's display name.

use openpact_ledger::wire::{self, op::Op};
use openpact_ledger::{Code, MemberKey, Outcome};
use openpact_proto::v1;

use super::{OpenPact, system_message};
use crate::error::{ApiError, Result};

/// A 64-hex member key (either case) that is an ed25519 public key, or `BAD_REQUEST` saying
/// which of the two it is not.
pub(crate) fn member_key(key: &str) -> Result<MemberKey> {
    let parsed = MemberKey::from_hex(&key.to_ascii_lowercase()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "key must be 64 hex chars (got {})",
            key.chars().count()
        ))
    })?;
    if parsed.verifying_key().is_none() {
        return Err(ApiError::bad_request(
            "key is 64 hex chars but not an ed25519 public key; pass the member's public key \
             as its daemon shows it (`openpact status`)",
        ));
    }
    Ok(parsed)
}

/// An admin entry's outcome as an answer: applied, or its code.
fn applied(outcome: Outcome, what: &str) -> Result<()> {
    match outcome {
        Outcome::Applied => Ok(()),
        Outcome::Rejected(code) => Err(ApiError::new(code, format!("{what} was rejected: {code}"))),
        Outcome::Dropped(r) => Err(ApiError::new(
            Code::NotAMember,
            format!("{what} was dropped ({})", r.as_str()),
        )),
    }
}

/// Trimmed; blank becomes `None`.
fn trimmed(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl OpenPact {
    fn require_creator(&self, code: Code) -> Result<()> {
        let r = self.reader()?;
        if self.role(&r)? == Some("creator") {
            Ok(())
        } else {
            Err(ApiError::new(
                code,
                "Only the pact's creator can do this on this daemon.",
            ))
        }
    }

    /// Adds a member (an indexer needs multi-indexer finality: not yet).
    pub async fn add_member(&self, req: &v1::AddMemberRequest) -> Result<v1::MemberResponse> {
        let key = member_key(&req.key)?;
        self.require_member(&self.reader()?)?;
        if req.indexer {
            return Err(ApiError::new(
                Code::NotSupportedYet,
                "Adding an indexer needs multi-indexer finality, which a later release brings. Add the key as a member.",
            ));
        }
        let from_seq = self
            .reader()?
            .frontier()?
            .into_iter()
            .find(|(k, _, _)| *k == key)
            .map_or(0, |(_, seq, _)| seq + 1);
        let done = self
            .append(vec![Op::AddMember(wire::AddMember {
                key: key.0.to_vec(),
                from_seq,
            })])
            .await?;
        applied(done.outcome, "adding the member")?;
        Ok(v1::MemberResponse {
            ok: true,
            key: key.to_hex(),
            indexer: Some(false),
        })
    }

    /// Removes a member.
    pub async fn remove_member(&self, key: &str) -> Result<v1::MemberResponse> {
        let key = member_key(key)?;
        self.require_member(&self.reader()?)?;
        self.remove(key).await
    }

    async fn remove(&self, key: MemberKey) -> Result<v1::MemberResponse> {
        let r = self.reader()?;
        if let Some(p) = r.pact()?
            && p.indexers == [key]
        {
            return Err(ApiError::new(
                Code::LastIndexer,
                "That key is the pact's only indexer; it cannot be removed.",
            ));
        }
        let done = self
            .append(vec![Op::RemoveMember(wire::RemoveMember {
                key: key.0.to_vec(),
            })])
            .await?;
        applied(done.outcome, "removing the member")?;
        Ok(v1::MemberResponse {
            ok: true,
            key: key.to_hex(),
            indexer: None,
        })
    }

    /// `POST /admin/promote`: checked as the spec says, then not supported yet.
    pub fn promote(&self, req: &v1::PromoteMemberRequest) -> Result<v1::MemberResponse> {
        let _ = member_key(&req.key)?;
        if !req.confirm {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "promote needs confirm: true",
            ));
        }
        self.require_creator(Code::NotIndexer)?;
        Err(ApiError::new(
            Code::NotSupportedYet,
            "Promotion to indexer needs multi-indexer finality, which a later release brings.",
        ))
    }

    /// `POST /admin/remove`: a removal by the creator.
    pub async fn admin_remove(&self, req: &v1::PromoteMemberRequest) -> Result<v1::MemberResponse> {
        let key = member_key(&req.key)?;
        if !req.confirm {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "remove needs confirm: true",
            ));
        }
        self.require_creator(Code::NotIndexer)?;
        self.remove(key).await
    }

    /// Changes the pact's name, purpose or claim TTL; appends a pact-update message when the name
    /// or purpose changed.
    pub async fn set_info(&self, req: &v1::SetInfoRequest) -> Result<v1::SetInfoResponse> {
        let name = req.name.as_ref().map(|n| trimmed(n.value.as_deref()));
        let purpose = req.purpose.as_ref().map(|p| trimmed(p.value.as_deref()));
        if let Some(Some(n)) = &name
            && n.chars().count() > 64
        {
            return Err(ApiError::bad_request("name must be at most 64 characters"));
        }
        if let Some(Some(p)) = &purpose
            && p.chars().count() > 200
        {
            return Err(ApiError::bad_request(
                "purpose must be at most 200 characters",
            ));
        }
        if let Some(Some(_)) | None = &name {
        } else {
            return Err(ApiError::bad_request("a pact's name cannot be cleared"));
        }
        super::check_claim_ttl(req.claim_ttl_ms)?;
        self.require_creator(Code::NotIndexer)?;
        let r = self.reader()?;
        let now = r
            .pact()?
            .ok_or_else(|| ApiError::new(Code::PactNotReady, "the pact has no genesis yet"))?;
        let name = name.flatten().filter(|n| *n != now.name);
        let purpose = purpose.filter(|p| *p != now.purpose);
        let ttl = req.claim_ttl_ms.filter(|t| *t != now.claim_ttl_ms);
        if name.is_none() && purpose.is_none() && ttl.is_none() {
            return Ok(v1::SetInfoResponse {
                ok: true,
                pact_name: Some(now.name),
                pact_purpose: now.purpose,
                claim_ttl_ms: now.claim_ttl_ms,
            });
        }
        let info = wire::PactInfo {
            name: name
                .clone()
                .map(|n| wire::NullableString { value: Some(n) }),
            purpose: purpose.clone().map(|p| wire::NullableString { value: p }),
            claim_ttl_ms: ttl,
        };
        let done = self.append(vec![Op::PactInfo(info)]).await?;
        applied(done.outcome, "the info change")?;
        if name.is_some() || purpose.is_some() {
            let actor = self
                .config()
                .display_name
                .unwrap_or_else(|| self.me.handle());
            let content = match (&name, &purpose) {
                (Some(n), None) => {
                    format!("{actor} renamed the pact from '{}' to '{n}'.", now.name)
                }
                (None, Some(Some(_))) => format!("{actor} updated the pact purpose."),
                (None, Some(None)) => format!("{actor} cleared the pact purpose."),
                _ => format!("{actor} updated the pact."),
            };
            let fields = serde_json::json!({
                "prev_name": now.name,
                "next_name": name.clone().unwrap_or_else(|| now.name.clone()),
                "prev_purpose": now.purpose,
                "next_purpose": purpose.clone().unwrap_or_else(|| now.purpose.clone()),
            });
            let body = system_message(content, "pact-update", fields, self.display_name());
            self.append_body(body).await?;
        }
        self.update_config(|c| {
            if let Some(n) = &name {
                c.pact_name = Some(n.clone());
            }
            if let Some(p) = &purpose {
                c.pact_purpose = p.clone();
            }
        })?;
        let after = self.reader()?.pact()?;
        Ok(v1::SetInfoResponse {
            ok: true,
            pact_name: after.as_ref().map(|p| p.name.clone()),
            pact_purpose: after.as_ref().and_then(|p| p.purpose.clone()),
            claim_ttl_ms: after.map_or(0, |p| p.claim_ttl_ms),
        })
    }

    /// Sets this daemon's display name in the pact; announces it when a member.
    pub async fn set_me(&self, req: &v1::SetMeRequest) -> Result<v1::SetMeResponse> {
        let next = req.display_name.clone().filter(|n| !n.is_empty());
        if let Some(n) = &next
            && n.chars().count() > 64
        {
            return Err(ApiError::bad_request(
                "display_name must be at most 64 characters",
            ));
        }
        let prev = self.display_name();
        self.update_config(|c| c.display_name = next.clone())?;
        if let Some(n) = &next
            && self.role(&self.reader()?)?.is_some()
        {
            let content = match &prev {
                Some(p) => format!("{p} is now known as {n}."),
                None => format!("{n} joined the pact."),
            };
            let fields = serde_json::json!({"prev": prev, "next": n});
            let body = system_message(content, "rename", fields, Some(n.clone()));
            self.append_body(body).await?;
        }
        Ok(v1::SetMeResponse {
            ok: true,
            display_name: next,
        })
    }
}
