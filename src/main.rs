//! The `ostrom` binary: parse the command line, run it, print errors with stable codes.

use clap::Parser;

fn main() {
    let cli = ostrom::cli::Cli::parse();
    if let Err(error) = ostrom::cli::run(cli) {
        eprintln!("error[{}]: {}", error.code, error.message);
        std::process::exit(1);
    }
}
