//! `openpact`: the OpenPact daemon and its command line in one binary. `openpact start` runs the
//! daemon; every other verb is a client of its control-plane socket (`init` and `list` also work
//! with no daemon). See spec/cli.md.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
