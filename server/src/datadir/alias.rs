//! Pact aliases: the short local names (`^[a-z0-9][a-z0-9-]*$`, at most 48 characters) that name a
//! pact's directory under `pacts/` and stand for its pact id in routes and CLI flags
//! (spec/rest-api.md, section 7). Validation keeps a user's alias from escaping `pacts/`.

use crate::{ApiError, Result};

/// The longest alias, in characters.
pub const MAX_ALIAS_LEN: usize = 48;

const RULE: &str = "use lower-case letters, digits and '-', starting with a letter or digit, \
                    at most 48 characters";

fn is_alias_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

/// Checks `alias` against `^[a-z0-9][a-z0-9-]*$` and the 48-character limit; `BAD_REQUEST` if not.
pub fn validate_alias(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(ApiError::bad_request(format!(
            "The alias is empty; {RULE}."
        )));
    }
    let chars = alias.chars().count();
    if chars > MAX_ALIAS_LEN {
        return Err(ApiError::bad_request(format!(
            "The alias is {chars} characters long; {RULE}."
        )));
    }
    let bytes = alias.as_bytes();
    if bytes[0] == b'-' || !bytes.iter().all(|&b| is_alias_byte(b)) {
        return Err(ApiError::bad_request(format!(
            "The alias {alias:?} is not valid; {RULE}."
        )));
    }
    Ok(())
}

/// An alias made from a pact name: lower-cased, each run of characters outside `[a-z0-9]` turned
/// into one `-`, `-` trimmed from both ends, cut to 48 characters (and a trailing `-` trimmed
/// again); an empty result is `pact`. While `taken` says the alias is in use, `-2`, `-3`, ... is
/// appended, cutting the name so the whole stays within 48 characters.
///
/// `taken` must eventually say no (a registry is finite), or this never returns.
pub fn slug_alias(name: &str, taken: impl Fn(&str) -> bool) -> String {
    let base = slug_base(name);
    if !taken(&base) {
        return base;
    }
    let mut n: u64 = 2;
    loop {
        let candidate = with_suffix(&base, n);
        if !taken(&candidate) {
            return candidate;
        }
        n += 1;
    }
}

fn slug_base(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            // A gap before the first kept character is a leading '-', which is trimmed.
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    // `out` is ASCII, so cutting at a byte count is cutting at a character count.
    out.truncate(MAX_ALIAS_LEN);
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "pact".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn with_suffix(base: &str, n: u64) -> String {
    let suffix = format!("-{n}");
    let keep = MAX_ALIAS_LEN.saturating_sub(suffix.len()).min(base.len());
    format!("{}{suffix}", base[..keep].trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(_: &str) -> bool {
        false
    }

    #[test]
    fn valid_aliases_pass() {
        for a in [
            "a",
            "0",
            "default",
            "joined-12345678",
            "a-",
            "a--b",
            &"x".repeat(48),
        ] {
            validate_alias(a).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
    }

    #[test]
    fn invalid_aliases_are_bad_requests_that_state_the_rule() {
        let long = "x".repeat(49);
        for a in [
            "", "-a", "A", "ab_c", "a b", "a/b", "..", "../etc", "é", "a.b", &long,
        ] {
            let e = validate_alias(a).unwrap_err();
            assert_eq!(e.code, openpact_ledger::Code::BadRequest, "{a}");
            assert!(e.message.contains("lower-case letters"), "{a}: {e}");
            assert!(e.message.starts_with("The alias"), "{e}");
        }
    }

    #[test]
    fn slug_lowercases_and_joins_runs_of_other_characters_with_one_dash() {
        assert_eq!(slug_alias("The Quiet Harbor", free), "the-quiet-harbor");
        assert_eq!(slug_alias("  --Hello,   World!!  ", free), "hello-world");
        assert_eq!(slug_alias("a_b.c/d", free), "a-b-c-d");
        assert_eq!(slug_alias("Pact 42", free), "pact-42");
    }

    #[test]
    fn slug_of_unicode_keeps_only_ascii_letters_and_digits() {
        assert_eq!(slug_alias("Café Olé", free), "caf-ol");
        assert_eq!(slug_alias("Ünïcödé", free), "n-c-d");
        // The Kelvin sign lower-cases to an ASCII 'k'.
        assert_eq!(slug_alias("\u{212A}elvin", free), "kelvin");
        assert_eq!(slug_alias("日本語 2", free), "2");
    }

    #[test]
    fn slug_of_an_empty_or_symbol_only_name_is_pact() {
        assert_eq!(slug_alias("", free), "pact");
        assert_eq!(slug_alias("!!! ---", free), "pact");
        assert_eq!(slug_alias("日本語", free), "pact");
    }

    #[test]
    fn slug_of_a_long_name_is_cut_to_48_without_a_trailing_dash() {
        let s = slug_alias(&"a".repeat(100), free);
        assert_eq!(s, "a".repeat(48));
        // The cut lands right after a separator.
        let name = format!("{} tail", "b".repeat(47));
        assert_eq!(slug_alias(&name, free), "b".repeat(47));
    }

    #[test]
    fn slug_collisions_get_2_then_3() {
        let taken = ["team", "team-2"];
        assert_eq!(slug_alias("Team", |a| taken.contains(&a)), "team-3");
        assert_eq!(slug_alias("Team", |a| a == "team"), "team-2");
        assert_eq!(slug_alias("", |a| a == "pact"), "pact-2");
    }

    #[test]
    fn slug_collisions_of_long_names_stay_within_48() {
        let base = "c".repeat(48);
        let s = slug_alias(&base, |a| a == base);
        assert_eq!(s, format!("{}-2", "c".repeat(46)));
        let s = slug_alias(&base, |a| !a.ends_with("-10"));
        assert_eq!(s, format!("{}-10", "c".repeat(45)));
        // A cut that would end in '-' drops it: "ddd...d-e..." cut before the suffix.
        let name = format!("{}-{}", "d".repeat(45), "e".repeat(10));
        let s = slug_alias(&name, |a| !a.ends_with("-2"));
        assert_eq!(s, format!("{}-2", "d".repeat(45)));
        validate_alias(&s).unwrap();
    }

    #[test]
    fn every_slug_is_a_valid_alias() {
        for name in ["", "-", "x", "Ω", "  a  ", &"z-".repeat(40), "9 lives"] {
            let s = slug_alias(name, |a| a.len() < 3);
            validate_alias(&s).unwrap_or_else(|e| panic!("{name:?} -> {s:?}: {e}"));
        }
    }
}
