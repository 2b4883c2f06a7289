//! Where verbs print: lines and cards for people on a terminal, one JSON document (or one JSON
//! line per item when following) otherwise.

use std::fmt::Display;
use std::io::{IsTerminal as _, Write as _};

/// How this run prints data.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    /// JSON when asked for, or when stdout is not a terminal.
    pub fn new(json_flag: bool) -> Self {
        Output {
            json: json_flag || !std::io::stdout().is_terminal(),
        }
    }

    /// Whether data is printed as JSON.
    pub fn json(self) -> bool {
        self.json
    }
}

/// Prints one line on stdout. A closed pipe (`openpact log | head`) ends the process quietly.
pub fn say(line: impl Display) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Prints `value` as one line of JSON.
pub fn json_line(value: &serde_json::Value) {
    say(value);
}

/// Prints `value` as indented JSON.
pub fn json_doc(value: &serde_json::Value) {
    say(serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// Prints a card: a title line, then aligned `label  value` rows (rows with an empty value are
/// left out).
pub fn card(title: &str, rows: &[(&str, String)]) {
    say(title);
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, value) in rows.iter().filter(|(_, v)| !v.is_empty()) {
        say(format!("  {label:<width$}  {value}"));
    }
}

/// The first `n` characters of `s`, with an ellipsis when cut.
pub fn clip(s: &str, n: usize) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(n.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// An RFC 3339 UTC time with milliseconds for `ms` since the epoch.
pub fn time(ms: u64) -> String {
    openpact_server::pact::rfc3339(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_to_n_characters() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("line\nbreak", 20), "line break");
        let cut = clip(&"é".repeat(100), 80);
        assert_eq!(cut.chars().count(), 80);
        assert!(cut.ends_with('…'));
    }
}
