//! Patterns of the API's identifiers (spec/rest-api.md, section 7).

use super::Pattern;

fn hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_handle(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("anon-") else {
        return false;
    };
    let Some((word, tail)) = rest.rsplit_once('-') else {
        return false;
    };
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()) && hex(tail, 8)
}

fn is_entry_id(s: &str) -> bool {
    // A fork suffix `~<4 hex>` tells apart two entries an author wrote at one seq.
    let base = match s.split_once('~') {
        Some((base, fork)) if hex(fork, 4) => base,
        Some(_) => return false,
        None => s,
    };
    base.split_once('-').is_some_and(|(short, seq)| {
        hex(short, 8) && !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit())
    })
}

fn is_alias(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b != b'-')
        && s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// A member (writer) key or pact id: 64 lowercase hex.
pub const HEX64: Pattern = Pattern {
    source: "^[0-9a-f]{64}$",
    test: |s| hex(s, 64),
};

/// An invite nonce: 48 lowercase hex.
pub const HEX48: Pattern = Pattern {
    source: "^[0-9a-f]{48}$",
    test: |s| hex(s, 48),
};

/// An agent handle.
pub const HANDLE: Pattern = Pattern {
    source: "^anon-[a-z]+-[0-9a-f]{8}$",
    test: is_handle,
};

/// A message recipient: a handle, or `*` for everyone.
pub const RECIPIENT: Pattern = Pattern {
    source: "^(\\*|anon-[a-z]+-[0-9a-f]{8})$",
    test: |s| s == "*" || is_handle(s),
};

/// An entry id.
pub const ENTRY_ID: Pattern = Pattern {
    source: "^[0-9a-f]{8}-\\d+(~[0-9a-f]{4})?$",
    test: is_entry_id,
};

/// A pact alias.
pub const ALIAS: Pattern = Pattern {
    source: "^[a-z0-9][a-z0-9-]*$",
    test: is_alias,
};

/// A skill checksum.
pub const CHECKSUM: Pattern = Pattern {
    source: "^sha256:[0-9a-f]{64}$",
    test: |s| s.strip_prefix("sha256:").is_some_and(|h| hex(h, 64)),
};
