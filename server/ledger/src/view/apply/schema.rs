//! The static schema of entry bodies (spec/rest-api.md, sections 7, 8 and 13): what can be judged
//! from the body alone. The local writer runs it before appending, so a bad local write is refused
//! with the code apply would give it, and apply runs it before any op.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::code::Code;
use crate::entry::{is_app_op, verify_header};
use crate::keys::{MemberKey, is_api_id, is_handle};
use crate::view::tables::SkillFormat;
use crate::wire;
use crate::wire::op::Op;

/// Largest entry payload, as the byte length of its JSON serialisation.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 65_536;
/// Longest display name, pact name, issuer display name (characters).
const MAX_NAME_CHARS: usize = 64;
/// Longest topic, title, purpose, skill name or version (characters).
const MAX_LINE_CHARS: usize = 200;
/// Shortest claim TTL a pact may set.
use crate::entry::MIN_CLAIM_TTL_MS;
/// Invite nonce length.
const NONCE_BYTES: usize = 24;
/// Domain label of skill checksums.
const SKILL_CHECKSUM_LABEL: &[u8] = b"openpact-skill-content:v1\n";
/// The fields a system message may carry besides `content`, `priority` and `kind`.
const SYSTEM_MESSAGE_FIELDS: [&str; 6] = [
    "prev",
    "next",
    "prev_name",
    "next_name",
    "prev_purpose",
    "next_purpose",
];

/// Static schema check of a body, used by the local writer before appending (so a bad local
/// write is refused with the same code apply would give) and by apply itself. Returns the wire
/// code on failure (`BAD_ENTRY`, `PAYLOAD_TOO_LARGE`, `SKILL_CHECKSUM_MISMATCH`,
/// `BAD_SKILL_NAME`).
pub fn check_body(body: &wire::Body) -> Result<(), Code> {
    if let Some(name) = &body.display_name {
        chars_within(name, 0, MAX_NAME_CHARS)?;
    }
    let mut mints = 0;
    for (i, op) in body.ops.iter().enumerate() {
        let Some(op) = &op.op else {
            return Err(Code::BadEntry);
        };
        if (is_app_op(op) || matches!(op, Op::CreatePact(_))) && body.ops.len() != 1 {
            return Err(Code::BadEntry);
        }
        match op {
            Op::CreatePact(cp) => check_create_pact(cp)?,
            Op::Knowledge(k) => check_knowledge(k)?,
            Op::TaskCreate(t) => check_task_create(t)?,
            Op::TaskClaim(_) | Op::TaskRelease(_) | Op::AcceptIndexer(_) => {}
            Op::TaskComplete(t) => check_payload(
                &[
                    ("status", Some(Field::Str("complete"))),
                    ("result", t.result.as_deref().map(Field::Str)),
                ],
                "",
            )?,
            Op::Skill(s) => check_skill(s)?,
            Op::Message(m) => check_message(m)?,
            Op::AddMember(a) => {
                new_member_key(&a.key)?;
            }
            Op::RemoveMember(r) => {
                key32(&r.key)?;
            }
            Op::SetIndexers(s) => check_indexer_set(&s.keys)?,
            Op::PactInfo(p) => check_pact_info(p)?,
            Op::InviteMint(m) => {
                // The invite order is keyed by position: one mint per entry.
                mints += 1;
                if mints > 1 || m.nonce_hash.len() != 32 {
                    return Err(Code::BadEntry);
                }
                if let Some(d) = &m.issuer_display {
                    chars_within(d, 0, MAX_NAME_CHARS)?;
                }
            }
            Op::InviteRevoke(r) => {
                if r.nonce_hash.len() != 32 {
                    return Err(Code::BadEntry);
                }
            }
            Op::RedeemInvite(r) => {
                let pays_for = body.ops.get(i + 1).and_then(|o| o.op.as_ref());
                if r.nonce.len() != NONCE_BYTES || !matches!(pays_for, Some(Op::AddMember(_))) {
                    return Err(Code::BadEntry);
                }
            }
            Op::ReportFork(f) => {
                fork_proof(f)?;
            }
        }
    }
    Ok(())
}

/// Whether `s` is a valid skill name or version: 1–200 characters matching
/// `^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*$`.
pub fn is_skill_name(s: &str) -> bool {
    let first = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let rest = |b: u8| first(b) || b == b'_' || b == b'-';
    // Every allowed character is ASCII, so bytes are characters.
    (1..=MAX_LINE_CHARS).contains(&s.len())
        && s.split('.').all(|seg| match seg.as_bytes().split_first() {
            Some((&b, tail)) => first(b) && tail.iter().all(|&c| rest(c)),
            None => false,
        })
}

/// The canonical checksum of skill content:
/// `"sha256:" + hex(SHA-256("openpact-skill-content:v1\n" || content))`.
pub fn skill_checksum(content: &str) -> String {
    let mut h = Sha256::new();
    h.update(SKILL_CHECKSUM_LABEL);
    h.update(content.as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// A verified fork proof: two different headers signed by one author at one seq.
pub(super) struct ForkProof {
    /// The author who signed both.
    pub author: MemberKey,
    /// The `pact` field of each header.
    pub pacts: [Vec<u8>; 2],
}

/// Verifies the signatures and shape of a fork proof; the pact binding is checked at apply.
pub(super) fn fork_proof(f: &wire::ReportFork) -> Result<ForkProof, Code> {
    let (a, _) = verify_header(&f.header_a, &f.signature_a).map_err(|_| Code::BadEntry)?;
    let (b, _) = verify_header(&f.header_b, &f.signature_b).map_err(|_| Code::BadEntry)?;
    if f.header_a == f.header_b || a.author != b.author || a.seq != b.seq {
        return Err(Code::BadEntry);
    }
    let author = MemberKey::from_slice(&a.author).ok_or(Code::BadEntry)?;
    Ok(ForkProof {
        author,
        pacts: [a.pact, b.pact],
    })
}

/// A key that may become a member: 32 bytes that are a usable ed25519 verifying key.
pub(super) fn new_member_key(key: &[u8]) -> Result<MemberKey, Code> {
    let key = key32(key)?;
    // A weak (small-order) key could never sign an entry that verifies strictly.
    match key.verifying_key() {
        Some(vk) if !vk.is_weak() => Ok(key),
        _ => Err(Code::BadEntry),
    }
}

/// Exactly 32 bytes.
pub(super) fn key32(key: &[u8]) -> Result<MemberKey, Code> {
    MemberKey::from_slice(key).ok_or(Code::BadEntry)
}

fn check_create_pact(cp: &wire::CreatePact) -> Result<(), Code> {
    let Some(p) = &cp.params else {
        return Err(Code::BadEntry);
    };
    chars_within(&p.name, 1, MAX_NAME_CHARS)?;
    if let Some(purpose) = &p.purpose {
        chars_within(purpose, 0, MAX_LINE_CHARS)?;
    }
    if (p.claim_ttl_ms != 0 && p.claim_ttl_ms < MIN_CLAIM_TTL_MS) || cp.nonce.len() != 32 {
        return Err(Code::BadEntry);
    }
    Ok(())
}

fn check_knowledge(k: &wire::Knowledge) -> Result<(), Code> {
    chars_within(&k.topic, 1, MAX_LINE_CHARS)?;
    non_empty(&k.content)?;
    check_payload(
        &[
            ("topic", Some(Field::Str(&k.topic))),
            ("content", Some(Field::Str(&k.content))),
            ("source", k.source.as_deref().map(Field::Str)),
        ],
        &k.extra_json,
    )
}

fn check_task_create(t: &wire::TaskCreate) -> Result<(), Code> {
    chars_within(&t.title, 1, MAX_LINE_CHARS)?;
    if t.assigned_to.as_deref().is_some_and(|h| !is_handle(h)) {
        return Err(Code::BadEntry);
    }
    check_payload(
        &[
            ("title", Some(Field::Str(&t.title))),
            ("status", Some(Field::Str("open"))),
            ("description", t.description.as_deref().map(Field::Str)),
            ("assigned_to", t.assigned_to.as_deref().map(Field::Str)),
            ("claimed_by", None),
            ("result", None),
        ],
        &t.extra_json,
    )
}

fn check_skill(s: &wire::Skill) -> Result<(), Code> {
    let hex64 = s.checksum.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if SkillFormat::from_name(&s.format).is_none() || !hex64 {
        return Err(Code::BadEntry);
    }
    let extra = extra_object(&s.extra_json)?;
    if !is_skill_name(&s.name) || !is_skill_name(&s.version) {
        return Err(Code::BadSkillName);
    }
    if skill_checksum(&s.content) != s.checksum {
        return Err(Code::SkillChecksumMismatch);
    }
    payload_fits(
        &[
            ("name", Some(Field::Str(&s.name))),
            ("version", Some(Field::Str(&s.version))),
            ("format", Some(Field::Str(&s.format))),
            ("content", Some(Field::Str(&s.content))),
            ("checksum", Some(Field::Str(&s.checksum))),
            ("description", s.description.as_deref().map(Field::Str)),
            ("requires_approval", s.requires_approval.map(Field::Bool)),
        ],
        &extra,
    )
}

fn check_message(m: &wire::Message) -> Result<(), Code> {
    non_empty(&m.content)?;
    let priority_ok = m
        .priority
        .as_deref()
        .is_none_or(|p| matches!(p, "low" | "normal" | "high"));
    let to_ok = m.to.as_deref().is_none_or(|t| t == "*" || is_handle(t));
    let reply_ok = m.reply_to.as_deref().is_none_or(is_api_id);
    let kind_ok = match m.kind.as_deref() {
        None => m.system_json.is_empty(),
        Some(k) => matches!(k, "leave" | "rename" | "pact-update"),
    };
    if !(priority_ok && to_ok && reply_ok && kind_ok) {
        return Err(Code::BadEntry);
    }
    let system = extra_object(&m.system_json)?;
    // Only the system fields, each a string or null.
    for (k, v) in &system {
        if !SYSTEM_MESSAGE_FIELDS.contains(&k.as_str()) || !(v.is_string() || v.is_null()) {
            return Err(Code::BadEntry);
        }
    }
    payload_fits(
        &[
            ("content", Some(Field::Str(&m.content))),
            ("priority", m.priority.as_deref().map(Field::Str)),
            ("kind", m.kind.as_deref().map(Field::Str)),
        ],
        &system,
    )
}

fn check_indexer_set(keys: &[Vec<u8>]) -> Result<(), Code> {
    if keys.is_empty() {
        return Err(Code::BadEntry);
    }
    for (i, k) in keys.iter().enumerate() {
        key32(k)?;
        if keys[..i].contains(k) {
            return Err(Code::BadEntry);
        }
    }
    Ok(())
}

fn check_pact_info(p: &wire::PactInfo) -> Result<(), Code> {
    if let Some(name) = &p.name {
        // The name can be changed, never cleared.
        chars_within(
            name.value.as_deref().ok_or(Code::BadEntry)?,
            1,
            MAX_NAME_CHARS,
        )?;
    }
    if let Some(purpose) = p.purpose.as_ref().and_then(|n| n.value.as_deref()) {
        chars_within(purpose, 0, MAX_LINE_CHARS)?;
    }
    if p.claim_ttl_ms.is_some_and(|t| t < MIN_CLAIM_TTL_MS) {
        return Err(Code::BadEntry);
    }
    Ok(())
}

/// `s` has between `min` and `max` characters (Unicode scalar values, as JSON Schema counts).
fn chars_within(s: &str, min: usize, max: usize) -> Result<(), Code> {
    // Counting stops one past the bound, so a long string is never walked to its end.
    let n = s.chars().take(max.saturating_add(1)).count();
    if n < min || n > max {
        return Err(Code::BadEntry);
    }
    Ok(())
}

fn non_empty(s: &str) -> Result<(), Code> {
    if s.is_empty() {
        return Err(Code::BadEntry);
    }
    Ok(())
}

/// A payload field given outside the extra object.
#[derive(Clone, Copy)]
enum Field<'a> {
    Str(&'a str),
    Bool(bool),
}

/// The extra fields of a payload: empty, or a JSON object.
fn extra_object(json: &str) -> Result<Map<String, Value>, Code> {
    if json.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Code::BadEntry),
    }
}

fn check_payload(named: &[(&str, Option<Field<'_>>)], extra_json: &str) -> Result<(), Code> {
    payload_fits(named, &extra_object(extra_json)?)
}

/// The payload (the named fields that are present, plus the extra ones) must not be ambiguous
/// and must serialise to at most [`MAX_PAYLOAD_BYTES`] of JSON. `named` lists every field the op
/// defines, present or not: extra fields may not reuse their names.
fn payload_fits(
    named: &[(&str, Option<Field<'_>>)],
    extra: &Map<String, Value>,
) -> Result<(), Code> {
    if named.iter().any(|(k, _)| extra.contains_key(*k)) {
        return Err(Code::BadEntry);
    }
    // `{}` plus, per member, `"key":value` and a comma between members.
    let mut members = extra.len();
    let mut len = serde_json::to_vec(extra).map_or(usize::MAX, |b| b.len());
    for (k, f) in named {
        let Some(f) = f else { continue };
        let value = match f {
            Field::Str(s) => json_str_len(s),
            Field::Bool(true) => 4,
            Field::Bool(false) => 5,
        };
        len = len.saturating_add(json_str_len(k) + 1 + value + usize::from(members > 0));
        members += 1;
    }
    if len > MAX_PAYLOAD_BYTES {
        return Err(Code::PayloadTooLarge);
    }
    Ok(())
}

/// Length of `s` as a JSON string, escaped as `serde_json` and `JSON.stringify` escape it.
fn json_str_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}
