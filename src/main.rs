use std::process::ExitCode;

fn main() -> ExitCode {
    // `.env` fills in variables that are not already set, before any thread
    // starts, so flags > environment > .env > defaults holds by itself.
    let _ = dotenvy::dotenv();
    clavox::cli::run()
}
