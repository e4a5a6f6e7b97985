//! The `resource-server` binary: the demo API of this crate, configured from
//! its command line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let args = resource_server_demo::Args::parse();
    serve::init_logging(
        args.log_format,
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    );
    if let Err(message) = args.validate() {
        use clap::CommandFactory as _;
        resource_server_demo::Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    match resource_server_demo::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "resource-server failed");
            ExitCode::FAILURE
        }
    }
}
