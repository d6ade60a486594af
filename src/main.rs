//! The command line: parse arguments, load the config, run, map errors to exit codes
//! (0 ok, 1 runtime failure, 2 bad usage or bad config). Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use lanseal::config::Config;

const USAGE: &str = "\
usage: lanseal run [-c FILE] [--daemon] [--pidfile FILE]
                                       serve (without -c: the embedded default config)
       lanseal check-config [-c FILE]  validate a config file and exit
       lanseal certs status [-c FILE]  each certificate: names, expiry, next renewal and why
       lanseal certs setup NAME [-c FILE]   the DNS records to add once for a [[cert]]
       lanseal certs renew NAME [-c FILE]   renew now (through the running daemon if any)
       lanseal certs import-lego FILE [-c FILE]  take over lego's acme-dns registrations
       lanseal certs export-lego FILE [-c FILE]  write them in lego's format (0600)
       lanseal api METHOD PATH [BODY|-] [-c FILE]  ask the running daemon's local API
                                       (PATH under /api/v1/ unless it starts with /)
       lanseal config from-uci FILE    print the TOML for an OpenWrt /etc/config/lanseal
       lanseal --version";

enum Command {
    Run(Option<PathBuf>, lanseal::daemon::Process),
    CheckConfig(Option<PathBuf>),
    Certs(Certs, Option<PathBuf>),
    /// Method, path, body (JSON text or `-`).
    Api(String, String, Option<String>, Option<PathBuf>),
    FromUci(PathBuf),
    Version,
    Help,
}

enum Certs {
    Status,
    Setup(String),
    Renew(String),
    ImportLego(PathBuf),
    ExportLego(PathBuf),
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
                // Counted in the built zones: zone files included, duplicates
                // dropped, the SOA and NS an authoritative zone gets added.
                let records: usize = config.zone_data.iter().map(|z| z.records()).sum();
                println!(
                    "{}: ok ({} zone(s), {records} record(s))",
                    config.source,
                    config.zones.len()
                );
            }
            Err(e) => return config_error(&e),
        },
        Command::FromUci(path) => match lanseal::config::uci::convert_file(&path) {
            Ok(toml) => print!("{toml}"),
            Err(e) => return config_error(&e),
        },
        Command::Certs(what, path) => {
            let config = match Config::load(path.as_deref()) {
                Ok(config) => config,
                Err(e) => return config_error(&e),
            };
            return certs(&what, &config);
        }
        Command::Api(method, api_path, body, path) => {
            let config = match Config::load(path.as_deref()) {
                Ok(config) => config,
                Err(e) => return config_error(&e),
            };
            return api(&config, &method, &api_path, body.as_deref());
        }
        Command::Run(path, process) => {
            let config = match Config::load(path.as_deref()) {
                Ok(config) => config,
                Err(e) => return config_error(&e),
            };
            if let Err(e) = lanseal::daemon::run(config, &process) {
                eprintln!("lanseal: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

/// `lanseal certs ...`: 0 done, 1 it failed (the message says why).
fn certs(what: &Certs, config: &Config) -> ExitCode {
    use lanseal::certs::cli as certs;
    let state_dir = certs::state_dir_of(config);
    let result = match what {
        Certs::Status => certs::status(config, &state_dir),
        Certs::Setup(name) => certs::setup(config, &state_dir, name),
        Certs::Renew(name) => certs::renew(config, &state_dir, name).and_then(|status| {
            let line = format!("{}: {}", status.name, status.state);
            match status.last_error {
                Some(error) if status.state != "valid" => Err(format!("{line}: {error}")),
                _ => Ok(format!("{line}\n")),
            }
        }),
        Certs::ImportLego(file) => certs::import_lego(&state_dir, file),
        Certs::ExportLego(file) => certs::export_lego(&state_dir, file)
            .map(|n| format!("{n} registration(s) written to {}\n", file.display())),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lanseal: {e}");
            ExitCode::from(1)
        }
    }
}

/// `lanseal api ...`: the answer's body on stdout; 0 for a 2xx, 1 otherwise
/// (the API's JSON error still printed) or when no daemon answers.
fn api(config: &Config, method: &str, path: &str, body: Option<&str>) -> ExitCode {
    use std::io::Write as _;
    match lanseal::api::client::command(config, method, path, body) {
        Ok((answer, success)) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&answer);
            if !answer.ends_with(b"\n") && !answer.is_empty() {
                let _ = out.write_all(b"\n");
            }
            if success {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("lanseal: {e}");
            ExitCode::from(1)
        }
    }
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
        "run" => return run_args(args),
        "check-config" => first,
        "certs" => return certs_args(args),
        "api" => return api_args(args),
        "config" => return config_args(args),
        other => return Err(format!("unknown command `{other}`")),
    };
    let (config, operands) = options(args, &command)?;
    if let Some(extra) = operands.first() {
        return Err(format!("unexpected argument `{extra}` for `{command}`"));
    }
    Ok(Command::CheckConfig(config))
}

/// `run [-c FILE] [--daemon] [--pidfile FILE]`.
fn run_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut process = lanseal::daemon::Process::default();
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--daemon" | "-d" => process.daemon = true,
            "--pidfile" => {
                let file = args.next().ok_or("--pidfile needs a file name")?;
                process.pidfile = Some(PathBuf::from(file));
            }
            _ => rest.push(arg),
        }
    }
    let (config, operands) = options(rest.into_iter(), "run")?;
    if let Some(extra) = operands.first() {
        return Err(format!("unexpected argument `{extra}` for `run`"));
    }
    Ok(Command::Run(config, process))
}

/// `-c FILE` and the operands, in any order.
fn options(
    mut args: impl Iterator<Item = String>,
    command: &str,
) -> Result<(Option<PathBuf>, Vec<String>), String> {
    let mut config = None;
    let mut operands = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" | "--config" => {
                let path = args.next().ok_or("-c needs a file name")?;
                config = Some(PathBuf::from(path));
            }
            other if other.starts_with('-') => {
                return Err(format!("unknown option `{other}` for `{command}`"));
            }
            _ => operands.push(arg),
        }
    }
    Ok((config, operands))
}

fn api_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let (config, operands) = options_allowing_dash(args, "api")?;
    match operands.as_slice() {
        [method, path] => Ok(Command::Api(method.clone(), path.clone(), None, config)),
        [method, path, body] => Ok(Command::Api(
            method.clone(),
            path.clone(),
            Some(body.clone()),
            config,
        )),
        _ => Err("`api` takes METHOD PATH [BODY]".into()),
    }
}

/// [`options`], where `-` alone is an operand (standard input).
fn options_allowing_dash(
    args: impl Iterator<Item = String>,
    command: &str,
) -> Result<(Option<PathBuf>, Vec<String>), String> {
    let mut dash = false;
    let args = args.filter(|arg| {
        let is_dash = arg == "-";
        dash |= is_dash;
        !is_dash
    });
    let (config, mut operands) = options(args.collect::<Vec<_>>().into_iter(), command)?;
    if dash {
        operands.push("-".to_string());
    }
    Ok((config, operands))
}

/// `config from-uci FILE`.
fn config_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    match args.collect::<Vec<_>>().as_slice() {
        [sub, file] if sub == "from-uci" && !file.starts_with('-') => {
            Ok(Command::FromUci(PathBuf::from(file)))
        }
        [sub, ..] if sub == "from-uci" => Err("`config from-uci` takes one file".into()),
        [sub, ..] => Err(format!("unknown command `config {sub}`")),
        [] => Err("`config` needs from-uci".into()),
    }
}

fn certs_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let Some(sub) = args.next() else {
        return Err("`certs` needs status, setup, renew, import-lego or export-lego".into());
    };
    let command = format!("certs {sub}");
    let (config, operands) = options(args, &command)?;
    let one = |what: &str| -> Result<String, String> {
        match operands.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(format!("`{command}` takes one {what}")),
        }
    };
    let what = match sub.as_str() {
        "status" if operands.is_empty() => Certs::Status,
        "status" => return Err("`certs status` takes no argument".into()),
        "setup" => Certs::Setup(one("certificate name")?),
        "renew" => Certs::Renew(one("certificate name")?),
        "import-lego" => Certs::ImportLego(PathBuf::from(one("file")?)),
        "export-lego" => Certs::ExportLego(PathBuf::from(one("file")?)),
        other => return Err(format!("unknown command `certs {other}`")),
    };
    Ok(Command::Certs(what, config))
}
