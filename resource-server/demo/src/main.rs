//! The `resource-server` binary: the demo API of this crate, configured from
//! its command line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = resource_server_demo::Args::parse();
    let filter = match serve::log_filter("RUST_LOG", "info") {
        Ok(filter) => filter,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    serve::init_logging(args.log_format, filter);
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
