//! Ledger benchmarks: durable appends through the writer, apply throughput of a synced log, the
//! cost of a tail rollback, list latency on a large pact, and bytes on disk per entry.
//!
//! ```text
//! cargo bench -p openpact-ledger --bench ledger -- [--quick] [--runs N] [--entries N] [GROUP...]
//! ```
//!
//! Groups: `append`, `apply`, `rollback`, `list`, `size` (default: all). Every measurement uses a
//! real redb file in a temporary directory with the default durable commits
//! (`Durability::Immediate`), and builds its state from scratch: nothing is cached between runs.
//! Each measurement is taken `--runs` times (default 3) and reported as the median with the
//! spread (min..max). `--quick` shrinks every group so CI can run the whole binary in seconds as a
//! smoke test; its numbers are not benchmarks and targets are not judged. docs/BENCHMARKS.md has
//! the numbers and the machine they were taken on.

// The daemon allocates with mimalloc (server/src/main.rs); the ledger is measured as it runs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::VecDeque;
use std::error::Error;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use openpact_ledger::entry;
use openpact_ledger::view::Kind;
use openpact_ledger::view::read::ListQuery;
use openpact_ledger::{
    Clock, Event, Ingested, JournalFile, Ledger, MemberKey, PactId, PactParams, Signer,
    SystemClock, WriteBehind, Writer, WriterConfig, wire,
};
use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableHandle};
use tempfile::TempDir;

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// Ingest batch size of a sync session (spec/ledger.md: requests capped at 256 entries).
const SYNC_BATCH: usize = 256;
/// Appends per `ledger.batch` when building large pacts.
const BULK_BATCH: u64 = 1_000;

fn main() {
    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&opts) {
        eprintln!("Benchmark failed: {e}");
        std::process::exit(1);
    }
}

const USAGE: &str = "\
Usage: cargo bench -p openpact-ledger --bench ledger -- [OPTIONS] [GROUP...]

Groups (default: all): append, apply, rollback, list, size

Options:
  --quick        Smoke run: tiny sizes, one run, targets not judged (seconds, for CI)
  --runs N       Take each measurement N times (default 3; --quick: 1)
  --entries N    Entries in the list group's pact (default 1000000; --quick: 2000)
  -h, --help     Show this help";

fn run(opts: &Opts) -> BenchResult<()> {
    let started = Instant::now();
    println!(
        "openpact-ledger benchmarks: {} mode, {} run(s) per measurement, groups: {}",
        if opts.quick {
            "quick (smoke, not a benchmark)"
        } else {
            "full"
        },
        opts.runs,
        opts.groups
            .iter()
            .map(|g| g.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut report = Report {
        rows: Vec::new(),
        quick: opts.quick,
    };
    for group in &opts.groups {
        let t = Instant::now();
        let first = report.rows.len();
        match group {
            Group::Append => bench_append(opts, &mut report)?,
            Group::Apply => bench_apply(opts, &mut report)?,
            Group::Rollback => bench_rollback(opts, &mut report)?,
            Group::List => bench_list(opts, &mut report)?,
            Group::Size => bench_size(opts, &mut report)?,
        }
        println!(
            "\n[{}] done in {:.1} s",
            group.name(),
            t.elapsed().as_secs_f64()
        );
        report.print(first);
    }
    println!(
        "\nSummary ({:.0} s in all)",
        started.elapsed().as_secs_f64()
    );
    report.print(0);
    Ok(())
}

// ---- options ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Append,
    Apply,
    Rollback,
    List,
    Size,
}

impl Group {
    const ALL: [Group; 5] = [
        Group::Append,
        Group::Apply,
        Group::Rollback,
        Group::List,
        Group::Size,
    ];

    fn name(self) -> &'static str {
        match self {
            Group::Append => "append",
            Group::Apply => "apply",
            Group::Rollback => "rollback",
            Group::List => "list",
            Group::Size => "size",
        }
    }
}

struct Opts {
    quick: bool,
    runs: usize,
    list_entries: u64,
    groups: Vec<Group>,
}

impl Opts {
    fn parse(args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let mut quick = false;
        let mut runs = None;
        let mut entries = None;
        let mut groups = Vec::new();
        let mut args = args.peekable();
        while let Some(a) = args.next() {
            match a.as_str() {
                // `cargo bench` passes `--bench` to every bench binary.
                "--bench" => {}
                "--quick" => quick = true,
                "--runs" | "--entries" => {
                    let v = args.next().ok_or_else(|| format!("{a} needs a number."))?;
                    let n: u64 = v
                        .replace('_', "")
                        .parse()
                        .map_err(|_| format!("{a} needs a positive number, not `{v}`."))?;
                    if n == 0 {
                        return Err(format!("{a} needs a positive number, not 0."));
                    }
                    if a == "--runs" {
                        runs = Some(n as usize);
                    } else {
                        entries = Some(n);
                    }
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                name => match Group::ALL.iter().find(|g| g.name() == name) {
                    Some(g) if !groups.contains(g) => groups.push(*g),
                    Some(_) => {}
                    None => return Err(format!("Unknown group or option `{name}`.")),
                },
            }
        }
        if groups.is_empty() {
            groups = Group::ALL.to_vec();
        }
        Ok(Opts {
            quick,
            runs: runs.unwrap_or(if quick { 1 } else { 3 }),
            list_entries: entries.unwrap_or(if quick { 2_000 } else { 1_000_000 }),
            groups,
        })
    }

    /// `full` normally, `quick` under `--quick`.
    fn size<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

// ---- report ----

#[derive(Clone, Copy)]
enum Target {
    AtLeast(f64),
    Below(f64),
}

impl Target {
    fn text(self) -> String {
        match self {
            Target::AtLeast(v) => format!(">= {}", fmt_num(v)),
            Target::Below(v) => format!("< {}", fmt_num(v)),
        }
    }

    fn met(self, v: f64) -> bool {
        match self {
            Target::AtLeast(t) => v >= t,
            Target::Below(t) => v < t,
        }
    }
}

struct Row {
    group: &'static str,
    case: String,
    metric: &'static str,
    values: Vec<f64>,
    target: Option<Target>,
}

struct Report {
    rows: Vec<Row>,
    quick: bool,
}

impl Report {
    fn add(
        &mut self,
        group: Group,
        case: impl Into<String>,
        metric: &'static str,
        values: Vec<f64>,
    ) {
        self.rows.push(Row {
            group: group.name(),
            case: case.into(),
            metric,
            values,
            target: None,
        });
    }

    fn add_target(
        &mut self,
        group: Group,
        case: impl Into<String>,
        metric: &'static str,
        values: Vec<f64>,
        target: Target,
    ) {
        self.add(group, case, metric, values);
        if let Some(r) = self.rows.last_mut() {
            r.target = Some(target);
        }
    }

    fn print(&self, from: usize) {
        let header = [
            "group",
            "case",
            "metric",
            "median",
            "spread (min..max)",
            "n",
            "target",
        ];
        let mut lines = vec![header.map(String::from).to_vec()];
        for r in &self.rows[from..] {
            let (med, min, max) = median_spread(&r.values);
            let target = match r.target {
                None => String::new(),
                Some(_) if self.quick => "not judged (quick)".into(),
                Some(t) => format!("{} {}", t.text(), if t.met(med) { "met" } else { "MISSED" }),
            };
            lines.push(vec![
                r.group.into(),
                r.case.clone(),
                r.metric.into(),
                fmt_num(med),
                format!("{}..{}", fmt_num(min), fmt_num(max)),
                r.values.len().to_string(),
                target,
            ]);
        }
        let mut widths = vec![0; header.len()];
        for l in &lines {
            for (w, c) in widths.iter_mut().zip(l) {
                *w = (*w).max(c.chars().count());
            }
        }
        println!();
        for (i, l) in lines.iter().enumerate() {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(j, (c, w))| {
                    // Numbers right-aligned, text left-aligned.
                    if (3..=5).contains(&j) {
                        format!("{c:>w$}")
                    } else {
                        format!("{c:<w$}")
                    }
                })
                .collect();
            println!("| {} |", cells.join(" | "));
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                println!("|-{}-|", rule.join("-|-"));
            }
        }
    }
}

fn median_spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    (median, v[0], v[v.len() - 1])
}

/// Thousands separators from 1000 on; up to three significant decimals below.
fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.abs() >= 1000.0 {
        let digits = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if v < 0.0 { format!("-{out}") } else { out }
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Percentile `p` (0..=100) of sorted durations, in ms (nearest rank).
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

// ---- building ledgers ----

/// A short knowledge entry: about 60 bytes of content.
fn note(i: u64) -> wire::Body {
    let content = format!(
        "{:.<60}",
        format!("note {i}: deploy to staging before prod ")
    );
    wire::Body {
        ops: vec![wire::Op {
            op: Some(wire::op::Op::Knowledge(wire::Knowledge {
                topic: "bench".into(),
                content,
                ..Default::default()
            })),
        }],
        display_name: None,
    }
}

fn add_member(key: &MemberKey) -> wire::Body {
    wire::Body {
        ops: vec![wire::Op {
            op: Some(wire::op::Op::AddMember(wire::AddMember {
                key: key.0.to_vec(),
                from_seq: 0,
            })),
        }],
        display_name: None,
    }
}

fn now_ms() -> u64 {
    SystemClock.now_ms()
}

fn open_db(path: &Path) -> BenchResult<Database> {
    Ok(Database::create(path)?)
}

/// A new pact in a new file, created by `creator`.
/// Opens the ledger at `path` as the daemon does: its file written behind, and the two journal
/// files beside it attached (their flushes counted in `flushes`, when given).
fn open_journaled(path: &Path, flushes: Option<Arc<AtomicU64>>) -> BenchResult<Ledger> {
    let (backend, sync) = WriteBehind::open_file(path)?;
    let mut ledger = Ledger::open(Database::builder().create_with_backend(backend)?)?;
    let counted = |name: &str| -> BenchResult<CountedSyncs> {
        Ok(CountedSyncs(
            JournalFile::open(&path.with_file_name(name))?,
            flushes.clone().unwrap_or_default(),
        ))
    };
    ledger.attach_journal(
        counted("ledger.journal")?,
        counted("ledger.journal2")?,
        Some(sync),
    )?;
    Ok(ledger)
}

fn create(path: &Path, creator: &Signer) -> BenchResult<Ledger> {
    Ok(Ledger::create(
        open_db(path)?,
        creator,
        PactParams::named("bench"),
        now_ms(),
        [7; 32],
    )?)
}

/// Appends `n` short knowledge entries by `signer`, `per_batch` per durable commit.
fn append_notes(ledger: &mut Ledger, signer: &Signer, n: u64, per_batch: u64) -> BenchResult<()> {
    let mut done = 0;
    while done < n {
        let k = per_batch.min(n - done);
        ledger.batch(|b| {
            for i in done..done + k {
                b.append(signer, note(i), now_ms())?;
            }
            Ok(())
        })?;
        done += k;
    }
    Ok(())
}

/// Ingests `entries` in sync-sized batches; every one must be new.
fn ingest_all(ledger: &mut Ledger, entries: &[Vec<u8>]) -> BenchResult<()> {
    for chunk in entries.chunks(SYNC_BATCH) {
        let (res, _) = ledger.batch(|b| {
            chunk
                .iter()
                .map(|e| b.ingest(e))
                .collect::<Result<Vec<_>, _>>()
        })?;
        if let Some(bad) = res.iter().find(|r| !matches!(r, Ingested::New(_))) {
            return Err(format!("ingest did not store an entry: {bad:?}").into());
        }
    }
    Ok(())
}

/// `author`'s log in seq order, as sync sends it.
fn log_of(ledger: &Ledger, author: &MemberKey) -> BenchResult<Vec<Vec<u8>>> {
    Ok(ledger.reader()?.log_range(author, 0, usize::MAX)?)
}

/// A peer that joins `pact` in a new file under `dir`.
fn join(dir: &Path, name: &str, pact: PactId) -> BenchResult<Ledger> {
    Ok(Ledger::join(open_db(&dir.join(name))?, pact)?)
}

// ---- append: durable appends per second through the writer ----

/// Who calls the writer.
#[derive(Clone, Copy)]
enum Load {
    /// N threads, each calling the blocking `writer.append` in a loop (the measurement).
    Threads(usize),
    /// One thread keeping N `append_async` calls in flight: not a target case, but it shows
    /// what the writer does when batches are larger than the number of blocking callers.
    Pipelined(usize),
}

impl Load {
    fn case(self) -> String {
        match self {
            Load::Threads(1) => "1 writer thread".into(),
            Load::Threads(n) => format!("{n} writer threads"),
            Load::Pipelined(n) => format!("diagnostic: 1 thread, {n} append_async in flight"),
        }
    }
}

struct AppendRun {
    commits_per_entry: f64,
    /// Journal `fdatasync`s per entry (the flusher writes the records of several batches at once).
    flushes_per_entry: f64,
    /// Shares of the window the writer thread spent on a core, and runnable waiting for one.
    sched: Option<(f64, f64)>,
    /// CPU time per append in the window, by thread role ([`ROLES`]), in microseconds.
    cpu: Option<[f64; ROLES.len()]>,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn bench_append(opts: &Opts, report: &mut Report) -> BenchResult<()> {
    let warmup = opts.size(Duration::from_millis(300), Duration::from_millis(50));
    let window = opts.size(Duration::from_secs(3), Duration::from_millis(200));
    for load in [Load::Threads(1), Load::Threads(16), Load::Pipelined(256)] {
        let (mut rate, mut per_entry, mut per_commit, mut p50, mut p99) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut on_core, mut runnable) = (Vec::new(), Vec::new());
        let mut cpu: [Vec<f64>; ROLES.len()] = Default::default();
        for _ in 0..opts.runs {
            let mut r = append_run(load, warmup, window)?;
            if let Some((run, wait)) = r.sched {
                on_core.push(run * 100.0);
                runnable.push(wait * 100.0);
            }
            if let Some(c) = r.cpu {
                for (all, one) in cpu.iter_mut().zip(c) {
                    all.push(one);
                }
            }
            r.latencies.sort();
            let appends = r.latencies.len() as f64;
            rate.push(appends / r.elapsed.as_secs_f64());
            per_entry.push(r.flushes_per_entry);
            per_commit.push(1.0 / r.commits_per_entry);
            p50.push(percentile_ms(&r.latencies, 50.0));
            p99.push(percentile_ms(&r.latencies, 99.0));
            println!(
                "  append, {}: {appends} appends in {:.2} s, {:.1} per commit",
                load.case(),
                r.elapsed.as_secs_f64(),
                1.0 / r.commits_per_entry
            );
        }
        let case = load.case();
        if let Load::Threads(16) = load {
            let target = Target::AtLeast(20_000.0);
            report.add_target(Group::Append, &case, "durable appends/s", rate, target);
        } else {
            report.add(Group::Append, &case, "durable appends/s", rate);
        }
        report.add(Group::Append, &case, "journal fsyncs per entry", per_entry);
        report.add(Group::Append, &case, "entries per commit", per_commit);
        report.add(Group::Append, &case, "append latency p50 (ms)", p50);
        report.add(Group::Append, &case, "append latency p99 (ms)", p99);
        if !on_core.is_empty() {
            report.add(Group::Append, &case, "writer thread on a core (%)", on_core);
            report.add(
                Group::Append,
                &case,
                "writer thread waiting for a core (%)",
                runnable,
            );
        }
        for ((metric, _), values) in ROLES.iter().zip(cpu) {
            if !values.is_empty() {
                report.add(Group::Append, &case, metric, values);
            }
        }
    }
    // The part of each append that no batching amortises: building and signing the entry.
    let creator = Signer::from_seed([1; 32]);
    let n = opts.size(10_000, 1_000);
    let mut sign = Vec::new();
    for _ in 0..opts.runs {
        let drafts: Vec<entry::Draft> = (0..n)
            .map(|i| entry::Draft {
                pact: PactId([9; 32]),
                seq: i + 1,
                prev: Some(openpact_ledger::EntryHash([i as u8; 32])),
                deps: Vec::new(),
                lamport: i + 2,
                epoch: 0,
                time_ms: now_ms(),
                body: note(i),
            })
            .collect();
        let t0 = Instant::now();
        for d in drafts {
            std::hint::black_box(entry::sign(&creator, d));
        }
        sign.push(t0.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    report.add(
        Group::Append,
        "diagnostic: entry::sign alone",
        "µs/entry",
        sign,
    );
    Ok(())
}

/// Runs `load` against a writer on a new pact: first for `warmup`, then, once every caller is
/// warm, for `window`. An append counts when its answer (durable and applied) arrives. Commits
/// and applied entries are counted by the writer's event sink, which runs once per committed
/// batch (every batch with an append has events); the journal's flushes by a counting file.
fn append_run(load: Load, warmup: Duration, window: Duration) -> BenchResult<AppendRun> {
    let dir = TempDir::new()?;
    let creator = Signer::from_seed([1; 32]);
    let path = dir.path().join("ledger.redb");
    drop(create(&path, &creator)?);
    // As the daemon runs it: batches made durable by the journal (its flushes counted).
    let flushes = Arc::new(AtomicU64::new(0));
    let ledger = open_journaled(&path, Some(flushes.clone()))?;
    let counts = Arc::new(SinkCounts::default());
    let sink = counts.clone();
    let writer = Writer::spawn(
        ledger,
        creator,
        Arc::new(SystemClock),
        WriterConfig::default(),
        Box::new(move |events: &[Event]| sink.count(events)),
    )?;
    let threads = match load {
        Load::Threads(n) => n,
        Load::Pipelined(_) => 1,
    };
    let w = Window {
        warmup,
        length: window,
        warm: Arc::new(Barrier::new(threads + 1)),
        go: Arc::new(Barrier::new(threads + 1)),
        ended: Arc::new(Barrier::new(threads + 1)),
        read: Arc::new(Barrier::new(threads + 1)),
    };
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (writer, w) = (writer.clone(), w.clone());
            std::thread::spawn(move || {
                let mut i = (t as u64) << 40;
                let next = move || {
                    i += 1;
                    note(i)
                };
                let latencies = match load {
                    Load::Threads(_) => blocking_caller(&writer, &w, next),
                    Load::Pipelined(depth) => pipelined_caller(&writer, &w, depth, next),
                };
                w.end();
                latencies
            })
        })
        .collect();
    w.warm.wait();
    let before = counts.read();
    let flushes0 = flushes.load(Ordering::Relaxed);
    let sched0 = writer_schedstat();
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    w.go.wait();
    // The callers run until the window ends, then wait, alive, until their CPU is read.
    w.ended.wait();
    let cpu1 = thread_cpu();
    w.read.wait();
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.join().map_err(|_| "an append thread panicked")??);
    }
    let elapsed = t0.elapsed();
    let sched = writer_schedstat()
        .zip(sched0)
        .map(|((run1, wait1), (run0, wait0))| {
            let window = elapsed.as_nanos() as f64;
            (
                (run1 - run0) as f64 / window,
                (wait1 - wait0) as f64 / window,
            )
        });
    let flushes = flushes.load(Ordering::Relaxed) - flushes0;
    // Joins the writer thread, so the sink has seen every commit.
    writer.shutdown();
    let after = counts.read();
    let entries = (after.1 - before.1) as f64;
    let appends = latencies.len().max(1) as f64;
    let cpu = cpu1.zip(cpu0).map(|(c1, c0)| {
        let mut per = [0.0; ROLES.len()];
        for (i, p) in per.iter_mut().enumerate() {
            *p = c1[i].saturating_sub(c0[i]) as f64 / 1e3 / appends;
        }
        per
    });
    Ok(AppendRun {
        sched,
        cpu,
        commits_per_entry: (after.0 - before.0) as f64 / entries,
        flushes_per_entry: flushes as f64 / entries,
        elapsed,
        latencies,
    })
}

/// Each live thread of this process: its name, and its on-core and runnable-waiting
/// nanoseconds so far (Linux `schedstat`). A thread that ends between the listing and the read
/// is left out.
fn threads() -> Option<Vec<(String, u64, u64)>> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let Ok(stat) = std::fs::read_to_string(dir.join("schedstat")) else {
            continue;
        };
        let mut f = stat.split_whitespace().map(|v| v.parse::<u64>().ok());
        if let (Some(Some(run)), Some(Some(wait))) = (f.next(), f.next()) {
            out.push((comm, run, wait));
        }
    }
    Some(out)
}

/// On-core and runnable-waiting nanoseconds of the writer thread, to tell a busy writer from
/// one that waits for the disk or for a core.
fn writer_schedstat() -> Option<(u64, u64)> {
    threads()?
        .into_iter()
        .find(|(comm, _, _)| comm.starts_with("openpact-writer"))
        .map(|(_, run, wait)| (run, wait))
}

/// The roles of this process's threads, by the start of their names (the first, the sum of
/// all; the last, every thread not named by the ledger: the benchmark's callers).
const ROLES: [(&str, &str); 5] = [
    ("CPU per append, all threads (µs)", ""),
    ("CPU per append, writer thread (µs)", "openpact-writer"),
    ("CPU per append, signing helper (µs)", "openpact-signer"),
    ("CPU per append, flusher and write-behind (µs)", "openpact-"),
    ("CPU per append, the callers (µs)", ""),
];

/// On-core nanoseconds so far of this process's live threads, summed by role ([`ROLES`]).
fn thread_cpu() -> Option<[u64; ROLES.len()]> {
    let mut sum = [0u64; ROLES.len()];
    for (comm, ns, _) in threads()? {
        sum[0] += ns;
        let role = ROLES[1..ROLES.len() - 1]
            .iter()
            .position(|(_, prefix)| comm.starts_with(prefix))
            .map_or(ROLES.len() - 1, |i| i + 1);
        sum[role] += ns;
    }
    Some(sum)
}

/// A journal file that counts its flushes.
#[derive(Debug)]
struct CountedSyncs(JournalFile, Arc<AtomicU64>);

impl redb::StorageBackend for CountedSyncs {
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.0.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.write(offset, data)
    }
}

/// What the writer's event sink saw: commits, and entries applied for the first time.
#[derive(Default)]
struct SinkCounts {
    commits: AtomicU64,
    applied: AtomicU64,
}

impl SinkCounts {
    fn count(&self, events: &[Event]) {
        let applied = events
            .iter()
            .filter(|e| matches!(e, Event::Applied { .. }))
            .count();
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.applied.fetch_add(applied as u64, Ordering::Relaxed);
    }

    fn read(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.applied.load(Ordering::Relaxed),
        )
    }
}

/// The warm-up and the measured window of an append run, with the barriers between them.
#[derive(Clone)]
struct Window {
    warmup: Duration,
    length: Duration,
    /// Every caller is warm.
    warm: Arc<Barrier>,
    /// The main thread has read its counters: measure.
    go: Arc<Barrier>,
    /// Every caller is done measuring (and still alive, so its CPU can be read).
    ended: Arc<Barrier>,
    /// The main thread has read the CPU: the callers may end.
    read: Arc<Barrier>,
}

impl Window {
    /// Waits for the start of the measured window; returns its end.
    fn start(&self) -> Instant {
        self.warm.wait();
        self.go.wait();
        Instant::now() + self.length
    }

    /// Holds a caller whose window is over until the main thread has read every thread's CPU:
    /// the CPU of a thread that has ended cannot be read.
    fn end(&self) {
        self.ended.wait();
        self.read.wait();
    }
}

/// Calls the blocking `writer.append` in a loop; returns the measured latencies.
fn blocking_caller(
    writer: &Writer,
    w: &Window,
    mut next: impl FnMut() -> wire::Body,
) -> Result<Vec<Duration>, String> {
    let until = Instant::now() + w.warmup;
    while Instant::now() < until {
        writer.append(next()).map_err(|e| e.to_string())?;
    }
    let until = w.start();
    let mut lat = Vec::with_capacity(1 << 16);
    while Instant::now() < until {
        let t0 = Instant::now();
        writer.append(next()).map_err(|e| e.to_string())?;
        lat.push(t0.elapsed());
    }
    Ok(lat)
}

type Pending = oneshot::Receiver<openpact_ledger::Result<openpact_ledger::AppendResult>>;

/// Keeps `depth` `append_async` calls in flight; returns the measured latencies.
fn pipelined_caller(
    writer: &Writer,
    w: &Window,
    depth: usize,
    mut next: impl FnMut() -> wire::Body,
) -> Result<Vec<Duration>, String> {
    let mut in_flight = VecDeque::with_capacity(depth);
    let warm_until = Instant::now() + w.warmup;
    keep_in_flight(writer, &mut in_flight, depth, warm_until, &mut next, None)?;
    // No warm-up append may be counted.
    for (_, rx) in in_flight.drain(..) {
        wait_append(rx)?;
    }
    let until = w.start();
    let mut lat = Vec::with_capacity(1 << 16);
    keep_in_flight(
        writer,
        &mut in_flight,
        depth,
        until,
        &mut next,
        Some(&mut lat),
    )?;
    for (t0, rx) in in_flight.drain(..) {
        wait_append(rx)?;
        lat.push(t0.elapsed());
    }
    Ok(lat)
}

/// Until `until`: tops `in_flight` up to `depth`, then waits for the oldest.
fn keep_in_flight(
    writer: &Writer,
    in_flight: &mut VecDeque<(Instant, Pending)>,
    depth: usize,
    until: Instant,
    next: &mut impl FnMut() -> wire::Body,
    mut lat: Option<&mut Vec<Duration>>,
) -> Result<(), String> {
    while Instant::now() < until {
        while in_flight.len() < depth {
            in_flight.push_back((Instant::now(), writer.append_async(next())));
        }
        if let Some((t0, rx)) = in_flight.pop_front() {
            wait_append(rx)?;
            if let Some(lat) = lat.as_deref_mut() {
                lat.push(t0.elapsed());
            }
        }
    }
    Ok(())
}

/// Waits for an `append_async` answer.
fn wait_append(rx: Pending) -> Result<(), String> {
    match rx.recv() {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the writer stopped".into()),
    }
}

// ---- apply: a synced log ingested into a fresh peer ----

fn bench_apply(opts: &Opts, report: &mut Report) -> BenchResult<()> {
    let n = opts.size(10_000, 1_000);
    let src = TempDir::new()?;
    let creator = Signer::from_seed([1; 32]);
    let member = Signer::from_seed([2; 32]);

    // The creator's log: every entry is an anchor, so each is confirmed on arrival.
    let mut c = create(&src.path().join("creator.redb"), &creator)?;
    append_notes(&mut c, &creator, n, 1_000)?;
    let creator_log = log_of(&c, &creator.public())?;
    let creator_pact = c.pact_id();
    drop(c);

    // A member's log written while the creator is offline: on the new peer it stays in the
    // unconfirmed tail (with undo rows), the expensive case.
    let mut c = create(&src.path().join("creator2.redb"), &creator)?;
    c.batch(|b| b.append(&creator, add_member(&member.public()), now_ms()))?;
    let mut member_log = log_of(&c, &creator.public())?;
    let member_pact = c.pact_id();
    let mut m = join(src.path(), "member.redb", member_pact)?;
    ingest_all(&mut m, &member_log)?;
    append_notes(&mut m, &member, n, 1_000)?;
    member_log.extend(log_of(&m, &member.public())?);
    drop((c, m));

    let cases = [
        (
            "creator's log (confirmed on arrival)",
            creator_pact,
            &creator_log,
            0,
        ),
        (
            "member's log (unconfirmed tail)",
            member_pact,
            &member_log,
            n as usize,
        ),
    ];
    for (case, pact, log, tail) in cases {
        let mut rate = Vec::new();
        for _ in 0..opts.runs {
            let dir = TempDir::new()?;
            let mut peer = join(dir.path(), "peer.redb", pact)?;
            let t0 = Instant::now();
            ingest_all(&mut peer, log)?;
            let elapsed = t0.elapsed();
            if peer.tail_len() != tail {
                return Err(format!(
                    "{case}: tail {} after ingest, expected {tail}",
                    peer.tail_len()
                )
                .into());
            }
            rate.push(log.len() as f64 / elapsed.as_secs_f64());
            println!(
                "  apply, {case}: {} entries in {:.3} s",
                log.len(),
                elapsed.as_secs_f64()
            );
        }
        report.add(
            Group::Apply,
            format!("{case}, {} entries, batches of {SYNC_BATCH}", log.len()),
            "entries/s",
            rate,
        );
    }
    // How much of ingest is signature checking: verifying the creator's log alone.
    let mut verify = Vec::new();
    for _ in 0..opts.runs {
        let t0 = Instant::now();
        for e in &creator_log {
            entry::verify(e, &creator_pact, entry::DEFAULT_DEPS_CAP).map_err(|e| e.to_string())?;
        }
        verify.push(t0.elapsed().as_secs_f64() * 1e6 / creator_log.len() as f64);
    }
    report.add(
        Group::Apply,
        "diagnostic: entry::verify alone",
        "µs/entry",
        verify,
    );
    Ok(())
}

// ---- rollback: a late entry that sorts before a 1,000-entry tail ----

fn bench_rollback(opts: &Opts, report: &mut Report) -> BenchResult<()> {
    let tail = opts.size(1_000, 100);
    let reps = opts.size(15, 3);
    let src = TempDir::new()?;
    let creator = Signer::from_seed([1; 32]);
    let (a, b) = (Signer::from_seed([2; 32]), Signer::from_seed([3; 32]));

    // The creator admits A and B, then writes one more entry that only A sees before going
    // offline. A writes `tail + 1` entries on top of it; B, not having seen it, writes one entry
    // with a lower lamport than all of A's.
    let mut c = create(&src.path().join("creator.redb"), &creator)?;
    c.batch(|bt| {
        bt.append(&creator, add_member(&a.public()), now_ms())?;
        bt.append(&creator, add_member(&b.public()), now_ms())
    })?;
    let admitted = log_of(&c, &creator.public())?;
    c.batch(|bt| bt.append(&creator, note(0), now_ms()))?;
    let creator_log = log_of(&c, &creator.public())?;
    let pact = c.pact_id();
    drop(c);

    let mut bl = join(src.path(), "b.redb", pact)?;
    ingest_all(&mut bl, &admitted)?;
    append_notes(&mut bl, &b, 1, 1)?;
    let late = log_of(&bl, &b.public())?.pop().ok_or("B wrote nothing")?;
    drop(bl);

    let mut al = join(src.path(), "a.redb", pact)?;
    ingest_all(&mut al, &creator_log)?;
    append_notes(&mut al, &a, tail + 1, 1_000)?;
    let mut a_log = log_of(&al, &a.public())?;
    drop(al);
    let next_of_a = a_log.pop().ok_or("A wrote nothing")?;
    let mut base = creator_log;
    base.extend(a_log);

    let (mut rollback, mut at_end) = (Vec::new(), Vec::new());
    for _ in 0..opts.runs {
        let (mut rb, mut end) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            rb.push(time_ingest(&pact, &base, &late, Some(tail))?);
            end.push(time_ingest(&pact, &base, &next_of_a, None)?);
        }
        rb.sort();
        end.sort();
        println!(
            "  rollback: p50 {:.2} ms (min {:.2}, max {:.2}); entry at the end: p50 {:.2} ms",
            percentile_ms(&rb, 50.0),
            percentile_ms(&rb, 0.0),
            percentile_ms(&rb, 100.0),
            percentile_ms(&end, 50.0)
        );
        rollback.push(percentile_ms(&rb, 50.0));
        at_end.push(percentile_ms(&end, 50.0));
    }
    let per_entry: Vec<f64> = rollback
        .iter()
        .zip(&at_end)
        .map(|(r, e)| (r - e) * 1e3 / (tail + 1) as f64)
        .collect();
    report.add(
        Group::Rollback,
        format!("1 late entry before a {tail}-entry tail (p50 of {reps})"),
        "ingest batch (ms)",
        rollback,
    );
    report.add(
        Group::Rollback,
        format!("1 entry after a {tail}-entry tail (p50 of {reps})"),
        "ingest batch (ms)",
        at_end,
    );
    report.add(
        Group::Rollback,
        "difference per re-applied entry",
        "µs/entry",
        per_entry,
    );
    Ok(())
}

/// Builds a peer holding `base` (the creator's entries confirmed, A's in the tail), then times
/// the one durable batch that ingests `entry`. With `rolls_back`, the batch must roll back that
/// many tail positions; without, none.
fn time_ingest(
    pact: &PactId,
    base: &[Vec<u8>],
    entry: &[u8],
    rolls_back: Option<u64>,
) -> BenchResult<Duration> {
    let dir = TempDir::new()?;
    let mut peer = join(dir.path(), "peer.redb", *pact)?;
    ingest_all(&mut peer, base)?;
    let t0 = Instant::now();
    let (res, report) = peer.batch(|b| b.ingest(entry))?;
    let elapsed = t0.elapsed();
    if !matches!(res, Ingested::New(_)) {
        return Err(format!("the timed entry was not stored: {res:?}").into());
    }
    let rolled = report.events.iter().find_map(|e| match e {
        Event::TailRolledBack { count, .. } => Some(*count),
        _ => None,
    });
    if rolled != rolls_back {
        return Err(format!("rolled back {rolled:?} positions, expected {rolls_back:?}").into());
    }
    Ok(elapsed)
}

// ---- list: a page of 50 knowledge entries from a large pact ----

fn bench_list(opts: &Opts, report: &mut Report) -> BenchResult<()> {
    let n = opts.list_entries;
    if n < 200 {
        return Err(
            "The list group needs --entries 200 or more (a page of 50 from the middle).".into(),
        );
    }
    let reads = opts.size(2_000, 200);
    let warmup = opts.size(200, 20);
    let (mut build, mut newest50, mut newest99, mut mid50, mut mid99) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..opts.runs {
        let dir = TempDir::new()?;
        let creator = Signer::from_seed([1; 32]);
        let mut ledger = create(&dir.path().join("ledger.redb"), &creator)?;
        let t0 = Instant::now();
        let step = (n / 10).max(BULK_BATCH);
        let mut done = 0;
        while done < n {
            let k = step.min(n - done);
            append_notes(&mut ledger, &creator, k, BULK_BATCH)?;
            done += k;
            println!(
                "  list: built {done} of {n} entries, {:.0} appends/s so far",
                done as f64 / t0.elapsed().as_secs_f64()
            );
        }
        build.push(n as f64 / t0.elapsed().as_secs_f64());

        let first = ListQuery::new(Kind::Knowledge);
        let middle = ListQuery {
            cursor: Some(middle_cursor(&ledger, n)?),
            ..first.clone()
        };
        let mut newest = time_lists(&ledger, &first, warmup, reads)?;
        let mut mid = time_lists(&ledger, &middle, warmup, reads)?;
        newest.sort();
        mid.sort();
        for (name, lat) in [("newest page", &newest), ("middle page", &mid)] {
            println!(
                "  list, {name}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {reads} reads",
                percentile_ms(lat, 50.0),
                percentile_ms(lat, 99.0),
                percentile_ms(lat, 100.0)
            );
        }
        newest50.push(percentile_ms(&newest, 50.0));
        newest99.push(percentile_ms(&newest, 99.0));
        mid50.push(percentile_ms(&mid, 50.0));
        mid99.push(percentile_ms(&mid, 99.0));
    }
    let p99 = Target::Below(2.0);
    let newest = format!("newest 50 of {n} ({reads} reads)");
    let mid = format!("50 from the middle of {n} by cursor ({reads} reads)");
    report.add(Group::List, &newest, "p50 (ms)", newest50);
    report.add_target(Group::List, &newest, "p99 (ms)", newest99, p99);
    report.add(Group::List, &mid, "p50 (ms)", mid50);
    report.add_target(Group::List, &mid, "p99 (ms)", mid99, p99);
    report.add(
        Group::List,
        format!("building the pact, {BULK_BATCH} appends per commit"),
        "appends/s",
        build,
    );
    Ok(())
}

/// The cursor after the newest `n / 2` knowledge entries, found by paging as a client would.
fn middle_cursor(ledger: &Ledger, n: u64) -> BenchResult<String> {
    let half = (n / 2) as usize;
    let reader = ledger.reader()?;
    let mut q = ListQuery {
        limit: half.min(1000),
        ..ListQuery::new(Kind::Knowledge)
    };
    let mut seen = 0;
    while seen < half {
        q.limit = q.limit.min(half - seen);
        let page = reader.list(&q)?;
        seen += page.items.len();
        q.cursor = page.cursor;
        if !page.has_more {
            break;
        }
    }
    match q.cursor {
        Some(c) if seen == half => Ok(c),
        _ => Err(format!("paged through {seen} entries, expected {half}").into()),
    }
}

/// Times `reads` list calls, each on a new reader (a fresh read transaction, as one API request
/// would take), after `warmup` untimed ones. Checks every page: 50 knowledge entries, newest
/// first.
fn time_lists(
    ledger: &Ledger,
    q: &ListQuery,
    warmup: usize,
    reads: usize,
) -> BenchResult<Vec<Duration>> {
    let mut lat = Vec::with_capacity(reads);
    for i in 0..warmup + reads {
        let t0 = Instant::now();
        let page = ledger.reader()?.list(q)?;
        let took = t0.elapsed();
        let ok = page.items.len() == q.limit
            && page.items.iter().all(|e| e.kind == Some(Kind::Knowledge))
            && page.items.windows(2).all(|w| w[0].position > w[1].position);
        if !ok {
            return Err(format!("list returned a wrong page: {} items", page.items.len()).into());
        }
        std::hint::black_box(&page);
        if i >= warmup {
            lat.push(took);
        }
    }
    Ok(lat)
}

// ---- size: bytes on disk per short knowledge entry ----

fn bench_size(opts: &Opts, report: &mut Report) -> BenchResult<()> {
    let n = opts.size(100_000, 2_000);
    for (per_commit, journaled) in [(16, false), (16, true), (BULK_BATCH, false)] {
        let (mut raw, mut compacted, mut stored) = (Vec::new(), Vec::new(), Vec::new());
        let mut reopen = Vec::new();
        for run in 0..opts.runs {
            let s = size_run(n, per_commit, journaled, run == 0)?;
            raw.push(s.raw as f64 / n as f64);
            compacted.push(s.compacted as f64 / n as f64);
            stored.push(s.stored as f64 / n as f64);
            reopen.push(s.reopen.as_secs_f64() * 1000.0);
        }
        let case = if journaled {
            format!("{n} entries, {per_commit} per commit, journal (as the daemon)")
        } else {
            format!("{n} entries, {per_commit} per commit")
        };
        report.add_target(
            Group::Size,
            &case,
            "file growth, bytes/entry",
            raw,
            Target::Below(1024.0),
        );
        report.add_target(
            Group::Size,
            &case,
            "after compact, bytes/entry",
            compacted,
            Target::Below(1024.0),
        );
        report.add(Group::Size, &case, "key+value bytes/entry", stored);
        report.add(
            Group::Size,
            &case,
            "reopen after a clean close (ms)",
            reopen,
        );
    }
    Ok(())
}

struct SizeRun {
    raw: u64,
    compacted: u64,
    stored: u64,
    /// Opening the ledger again (and its journal), as a daemon does at start: it rebuilds the
    /// hashes not yet swept into `log.hashes` from their queue.
    reopen: Duration,
}

/// Creates a pact, compacts the empty file, appends `n` entries `per_commit` per commit
/// (`journaled`: through a journal, whose file counts too), and measures the files after the
/// ledger is dropped, then after compaction.
fn size_run(n: u64, per_commit: u64, journaled: bool, show_tables: bool) -> BenchResult<SizeRun> {
    let dir = TempDir::new()?;
    let path = dir.path().join("ledger.redb");
    let creator = Signer::from_seed([1; 32]);
    drop(create(&path, &creator)?);
    compact(&path)?;
    let empty = std::fs::metadata(&path)?.len();
    let stored_before = stored_bytes(&path, false)?;

    let mut ledger = match journaled {
        true => open_journaled(&path, None)?,
        false => Ledger::open(Database::open(&path)?)?,
    };
    let t0 = Instant::now();
    append_notes(&mut ledger, &creator, n, per_commit)?;
    let took = t0.elapsed();
    drop(ledger);
    let t0 = Instant::now();
    let ledger = match journaled {
        true => open_journaled(&path, None)?,
        false => Ledger::open(Database::open(&path)?)?,
    };
    let reopen = t0.elapsed();
    drop(ledger);
    let mut journal_len = 0;
    if journaled {
        for name in ["ledger.journal", "ledger.journal2"] {
            journal_len += std::fs::metadata(path.with_file_name(name))?.len();
        }
    }
    let grown = std::fs::metadata(&path)?.len() + journal_len;
    let stored = stored_bytes(&path, show_tables)? - stored_before;
    compact(&path)?;
    let compacted = std::fs::metadata(&path)?.len();
    println!(
        "  size, {per_commit} per commit: {n} appends in {:.1} s; file {} -> {} bytes, compacted {}",
        took.as_secs_f64(),
        empty,
        grown,
        compacted
    );
    Ok(SizeRun {
        raw: grown.saturating_sub(empty),
        compacted: compacted.saturating_sub(empty),
        stored,
        reopen,
    })
}

fn compact(path: &Path) -> BenchResult<()> {
    let mut db = Database::open(path)?;
    while db.compact()? {}
    Ok(())
}

/// Key and value bytes of every table; with `show`, prints where they go.
fn stored_bytes(path: &Path, show: bool) -> BenchResult<u64> {
    let db = Database::open(path)?;
    let txn = db.begin_read()?;
    let mut rows = Vec::new();
    for handle in txn.list_tables()? {
        let name = handle.name().to_string();
        let table = txn.open_untyped_table(handle)?;
        let stats = table.stats()?;
        rows.push((
            name,
            table.len()?,
            stats.stored_bytes(),
            stats.leaf_pages() + stats.branch_pages(),
        ));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.2));
    if show {
        println!(
            "  {:<24} {:>10} {:>14} {:>8}",
            "table", "rows", "key+value B", "pages"
        );
        for (name, len, bytes, pages) in &rows {
            if *len > 0 {
                println!("  {name:<24} {len:>10} {bytes:>14} {pages:>8}");
            }
        }
    }
    Ok(rows.iter().map(|r| r.2).sum())
}
