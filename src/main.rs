//! The command line: parse arguments, load the config, run, map errors to exit codes
//! (0 ok, 1 runtime failure, 2 bad usage or bad config). Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use lanseal::config::Config;

const USAGE: &str = "\
usage: lanseal run [-c FILE]           serve (without -c: the embedded default config)
       lanseal check-config [-c FILE]  validate a config file and exit
       lanseal --version";

enum Command {
    Run(Option<PathBuf>),
    CheckConfig(Option<PathBuf>),
    Version,
    Help,
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("lanseal: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Version => println!("lanseal {}", env!("CARGO_PKG_VERSION")),
        Command::Help => println!("{USAGE}"),
        Command::CheckConfig(path) => match Config::load(path.as_deref()) {
            Ok(config) => {
                let records: usize = config.zones.iter().map(|z| z.records.len()).sum();
                println!(
                    "{}: ok ({} zone(s), {records} record(s))",
                    config.source,
                    config.zones.len()
                );
            }
            Err(e) => return config_error(&e),
        },
        Command::Run(path) => {
            let config = match Config::load(path.as_deref()) {
                Ok(config) => config,
                Err(e) => return config_error(&e),
            };
            if let Err(e) = lanseal::daemon::run(config) {
                eprintln!("lanseal: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

fn config_error(error: &lanseal::config::ConfigError) -> ExitCode {
    eprintln!("lanseal: config error: {error}");
    ExitCode::from(2)
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let Some(first) = args.next() else {
        return Err("missing command".into());
    };
    let command = match first.as_str() {
        "--version" | "-V" => return Ok(Command::Version),
        "--help" | "-h" | "help" => return Ok(Command::Help),
        "run" | "check-config" => first,
        other => return Err(format!("unknown command `{other}`")),
    };
    let mut config = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" | "--config" => {
                let path = args.next().ok_or("-c needs a file name")?;
                config = Some(PathBuf::from(path));
            }
            other => return Err(format!("unknown option `{other}` for `{command}`")),
        }
    }
    Ok(if command == "run" {
        Command::Run(config)
    } else {
        Command::CheckConfig(config)
    })
}
