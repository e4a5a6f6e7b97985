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
    serve::init_logging(
        cli.log_format,
        tracing_subscriber::EnvFilter::try_from_env("IDP_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
    );
    match idp::cli::run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
