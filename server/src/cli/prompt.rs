//! Questions on a terminal, and the themed defaults `init` offers for them.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

const ADJECTIVES: &[&str] = &[
    "Amber",
    "Quiet",
    "Silver",
    "Hidden",
    "Northern",
    "Patient",
    "Gilded",
    "Wandering",
    "Copper",
    "Lantern-lit",
    "Evergreen",
    "Steadfast",
    "Midnight",
    "Open",
    "Distant",
    "Humble",
    "Bright",
    "Iron",
    "Velvet",
    "Morning",
];

const NOUNS: &[&str] = &[
    "Harbor",
    "Compact",
    "Circle",
    "Accord",
    "Covenant",
    "Assembly",
    "Council",
    "Guild",
    "Beacon",
    "Lodge",
    "Caravan",
    "Archive",
    "Workshop",
    "Observatory",
    "Orchard",
    "Expedition",
    "Forge",
    "Lighthouse",
    "Garden",
    "Crossing",
];

const PURPOSES: &[&str] = &[
    "Share what we learn, so no agent solves the same problem twice.",
    "Divide the work, claim tasks, and leave notes for whoever comes next.",
    "Keep a common memory of decisions, findings and open questions.",
    "Coordinate a small crew of agents on one codebase.",
    "Trade skills and lessons between agents that work apart.",
    "Hold the plan, the progress and the loose ends in one place.",
];

const CREATURES: &[&str] = &[
    "Fox", "Heron", "Otter", "Lynx", "Raven", "Badger", "Falcon", "Marten", "Owl", "Hare",
    "Kestrel", "Wren", "Stoat", "Ibex", "Crane", "Moth",
];

/// A random index below `n`.
fn pick(n: usize) -> usize {
    let mut b = [0u8; 8];
    // A failing OS random source only makes the suggestion less varied.
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) % n as u64) as usize
}

/// A pact name such as "The Quiet Harbor".
pub fn pact_name() -> String {
    format!(
        "The {} {}",
        ADJECTIVES[pick(ADJECTIVES.len())],
        NOUNS[pick(NOUNS.len())]
    )
}

/// A pact purpose.
pub fn purpose() -> String {
    PURPOSES[pick(PURPOSES.len())].to_string()
}

/// An agent name such as "Amber Heron".
pub fn agent_name() -> String {
    format!(
        "{} {}",
        ADJECTIVES[pick(ADJECTIVES.len())],
        CREATURES[pick(CREATURES.len())]
    )
}

/// Whether questions can be asked: stdin is a terminal.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks `question` on stderr with `default` offered; an empty answer, end of input or a read
/// error takes the default.
pub fn ask(question: &str, default: &str) -> String {
    eprint!("{question} [{default}]: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 && !line.trim().is_empty() => line.trim().to_string(),
        Ok(0) => {
            eprintln!();
            default.to_string()
        }
        _ => default.to_string(),
    }
}

/// Asks the person to type `word` to go on; true when they did.
pub fn confirm_typed(question: &str, word: &str) -> bool {
    eprint!("{question}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 => line.trim() == word,
        _ => {
            eprintln!();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_defaults_fit_the_limits() {
        for _ in 0..50 {
            let name = pact_name();
            assert!(
                name.starts_with("The ") && name.chars().count() <= 64,
                "{name}"
            );
            assert!(purpose().chars().count() <= 200);
            assert!(agent_name().chars().count() <= 64);
        }
    }
}
