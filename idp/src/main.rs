//! `idp`: the identity provider's command line. Everything it does lives in
//! the library; this file only parses arguments and sets up logging.
#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = idp::cli::Cli::parse();
    // The server logs its work; one-shot commands speak through stdout and
    // log only what goes wrong.
    let default_level = match cli.command {
        idp::cli::Command::Serve(_) => "info",
        _ => "warn",
    };
    let filter = match serve::log_filter("IDP_LOG", default_level) {
        Ok(filter) => filter,
        Err(message) => {
            eprintln!("error: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    serve::init_logging(cli.log_format, filter);
    match idp::cli::run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
