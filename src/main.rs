//! The `haul` binary: everything lives in haul-cli.

fn main() -> std::process::ExitCode {
    haul_alloc::tune();
    haul_cli::main()
}
