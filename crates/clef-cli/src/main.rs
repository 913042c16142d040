//! `clef`: the command people type.

mod error;
mod sops_cmd;

use clap::{Parser, Subcommand};

/// Clef: git-native secrets management on SOPS files.
#[derive(Parser, Debug)]
#[command(name = "clef", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Native drop-in for the common sops operations (no sops binary needed).
    ///
    /// Exit codes follow sops: 0 ok, 2 unreadable or invalid input, 3 cannot write,
    /// 23 tree error, 51 MAC mismatch, 91 bad tree path, 100 no such file,
    /// 128 no key can decrypt the file, 203 already encrypted.
    #[command(subcommand)]
    Sops(sops_cmd::SopsCmd),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Sops(c) => sops_cmd::run(c),
    };
    if let Err(e) = result {
        eprintln!("clef: {}", e.msg);
        std::process::exit(e.code);
    }
}
