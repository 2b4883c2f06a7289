//! Apply must be a pure function of (view state, entry, ledger time): no clock, no randomness,
//! no I/O. Its signature only hands it a `ViewTxn` and an `ApplyCtx`; this lint keeps anyone from
//! reaching around that with a global.

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "SystemTime",
    "Instant",
    "UNIX_EPOCH",
    "rand::",
    "getrandom",
    "thread_rng",
    "std::fs",
    "std::net",
    "std::env",
    "std::thread",
    "std::process",
    "RandomState",
    "HashMap",
    "HashSet",
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read source dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn apply_uses_no_clock_randomness_io_or_unordered_maps() {
    let view = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/view");
    let mut files = vec![view.join("apply.rs")];
    if view.join("apply").is_dir() {
        sources(&view.join("apply"), &mut files);
    }
    let mut checked = 0;
    for f in files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name == "tests.rs" {
            continue; // unit tests may build fixtures however they like
        }
        let text = std::fs::read_to_string(&f).expect("read source");
        // Only the code before the unit tests counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for word in FORBIDDEN {
            assert!(
                !code.contains(word),
                "{} uses `{word}`, which apply must not",
                f.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 1, "found no apply sources to check");
}
