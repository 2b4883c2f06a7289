//! `openpact`: the OpenPact daemon and its command line in one binary. `openpact start` runs the
//! daemon; every other verb is a client of its control-plane socket (`init` and `list` also work
//! with no daemon). See spec/cli.md.

mod cli;

// The daemon allocates many small, short-lived buffers per request and per entry on several
// threads; mimalloc serves that pattern far faster than glibc's allocator (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
