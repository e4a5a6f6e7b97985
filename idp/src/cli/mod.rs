//! The `idp` command line: `args.rs` declares the flags and subcommands
//! (clap), `commands.rs` carries each one out. `main.rs` only parses and
//! sets up logging.

mod args;
mod commands;

pub use args::{
    parse_duration, ApisCommand, Cli, ClientsCommand, Command, DbArgs, KeysCommand, LifetimeArgs,
    ServeArgs, UsersCommand,
};
pub use commands::run;
