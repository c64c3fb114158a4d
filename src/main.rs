use std::process::ExitCode;

fn main() -> ExitCode {
    clavox::cli::run()
}
