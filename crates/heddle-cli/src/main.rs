//! The `heddle` command. Every subcommand loads the same layered configuration
//! (defaults < heddle.toml < HEDDLE_* < flags); `serve` runs the server, the rest act on the
//! database directly as the local operator.

mod admin;
mod agents;
mod demo;
mod mcp;
mod records;
mod serve;
mod trust;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use heddle_server::config::{CliOverrides, Config, ConfigSources};
use heddle_types::Role;

/// mimalloc, not glibc malloc: under load the tokio workers and the SQLite connection threads
/// contended in glibc's arenas (about a sixth of the CPU in a profile of the gateway at 2,000
/// requests/s); with mimalloc the gateway benchmark's added p99 there fell from 19–52 ms to
/// about 6 ms.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "heddle",
    version,
    about = "Governed runtime and security gateway for AI agents"
)]
struct Cli {
    /// Configuration file. Read if present; when named explicitly it must exist.
    #[arg(
        long,
        global = true,
        env = "HEDDLE_CONFIG",
        default_value = "heddle.toml"
    )]
    config: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// `sqlite://…` or `postgres://…` (env HEDDLE_DATABASE_URL); default SQLite in the data dir.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Directory for the embedded database (default ./heddle-data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(serve::ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Administrative commands acting on the database directly.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage API keys and the master key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Export and verify the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Apply a record org and import business records.
    #[command(subcommand)]
    Records(RecordsCommand),
    /// Check agent, capability and model-binding files with the contract lint (no database).
    /// Exit status: 0 clean or warnings only, 1 errors, 2 files that do not load.
    Lint {
        /// A directory of .yaml files (searched recursively) or one file.
        dir: PathBuf,
        /// Print SARIF 2.1.0 for code-scanning tools instead of text.
        #[arg(long)]
        sarif: bool,
    },
    /// Trust-layer tools (no database).
    #[command(subcommand)]
    Trust(TrustCommand),
    /// A scripted tour of the runtime against the demo company, offline: a sales rep's agent
    /// reads her pipeline and is refused a peer's account, a customer verifies by one-time code
    /// on a support channel. Uses the same data as `serve --demo`, where its executions can be
    /// read afterwards.
    Demo,
    /// Serve MCP on stdin/stdout: the agent's capabilities as tools, each call on the governed
    /// path as the principal of the API key in HEDDLE_API_KEY, against the configured
    /// database. For MCP clients that launch their servers (streamable HTTP is served by
    /// `heddle serve` at /mcp/{environment}/{agent}).
    Mcp(mcp::McpArgs),
    /// Load, lint and store a directory of agent files as the next configuration version of
    /// an environment; lint errors refuse the apply.
    Apply {
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// dev, staging or prod.
        #[arg(long, default_value = "dev", value_parser = parse_environment)]
        env: heddle_types::Environment,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

fn parse_environment(value: &str) -> Result<heddle_types::Environment, String> {
    value
        .parse()
        .map_err(|err: heddle_types::EnvironmentParseError| err.to_string())
}

#[derive(Debug, Subcommand)]
enum TrustCommand {
    /// Score the PII and injection detectors on labeled JSON Lines files (the format of
    /// `shared/eval/`): per-type precision and recall (exact and overlap) with masked hard
    /// negatives counted as false positives; injection true-positive rate at 1% and 3%
    /// false-positive rate by channel. Needs at least one of --pii and --injection.
    Eval {
        #[arg(long)]
        pii: Option<PathBuf>,
        #[arg(long)]
        injection: Option<PathBuf>,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RecordsCommand {
    /// Validate a record org (YAML) and make it the tenant's; every problem is listed with its
    /// file, line or path.
    Apply {
        /// The org file, e.g. examples/demo-org/org.yaml.
        #[arg(long, short = 'f')]
        file: PathBuf,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Import records of one object from CSV (header row: Id, OwnerId, field API names) or
    /// JSON (an array or JSON Lines); all rows or none.
    Import {
        /// The object's API name, e.g. Account.
        #[arg(long)]
        object: String,
        /// A .csv, .json, .jsonl or .ndjson file.
        file: PathBuf,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Write a tenant's audit log, up to a fresh signed checkpoint, as JSON Lines.
    Export {
        #[arg(long, default_value = "default")]
        tenant: String,
        /// First sequence number to include (earlier events are summarised by a start record).
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Delete event payloads before a time (hashes and checkpoints stay; the log still verifies).
    Purge {
        #[arg(long, default_value = "default")]
        tenant: String,
        /// RFC 3339 time; payloads of the log's prefix before it are deleted.
        #[arg(long)]
        before: String,
    },
    /// Verify an export offline: every event, the chain, every checkpoint, the tail.
    Verify {
        file: PathBuf,
        /// The tenant's checkpoint public key (hex or base64), from GET /v1/audit/public-keys.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load the configuration from every source and report each problem with its source.
    Check,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a user (the first admin, or any other). Prints a generated password unless
    /// `--password-stdin` is given.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role, default_value = "admin")]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
        /// Tenant slug.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an API key; the secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Days until the key expires; no expiry when omitted.
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Pin the key to this gateway route: it can then use only that route of `--env`
        /// through the OpenAI-compatible endpoint.
        #[arg(long)]
        route: Option<String>,
        /// The environment of `--route`.
        #[arg(long = "env", default_value = "prod", requires = "route")]
        environment: heddle_types::Environment,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's API keys (never their secrets).
    List {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a fresh master key (for HEDDLE_MASTER_KEY or `vault.master_key_file`).
    GenerateMaster,
    /// Re-wrap every data key under the current master key after a key change.
    RotateMaster,
    /// Revoke an API key by id.
    Revoke {
        id: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

fn parse_role(value: &str) -> Result<Role, String> {
    value.parse::<Role>().map_err(|err| err.to_string())
}

fn load_config(cli: &Cli, extra: CliOverrides) -> Result<Config, ExitCode> {
    let file_required = cli.config != std::path::Path::new("heddle.toml");
    let overrides = CliOverrides {
        database_url: cli.database.database_url.clone(),
        data_dir: cli.database.data_dir.clone(),
        ..extra
    };
    ConfigSources::new(&cli.config, file_required, &overrides)
        .load()
        .map_err(|problems| {
            eprintln!(
                "heddle: the configuration has {} problem(s):",
                problems.len()
            );
            for problem in problems {
                eprintln!("  - {problem}");
            }
            ExitCode::from(2)
        })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Offline commands need neither configuration nor a runtime.
    match &cli.command {
        Command::Audit(AuditCommand::Verify { file, public_key }) => {
            return verify::verify_file(file, public_key.as_deref()).unwrap_or_else(|err| {
                eprintln!("heddle: {err:#}");
                ExitCode::from(2)
            });
        }
        Command::Trust(TrustCommand::Eval {
            pii,
            injection,
            json,
        }) => {
            return match trust::eval(pii.as_deref(), injection.as_deref(), *json) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("heddle: {err:#}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Lint { dir, sarif } => {
            return agents::lint_dir(dir, *sarif).unwrap_or_else(|err| {
                eprintln!("heddle: {err:#}");
                ExitCode::from(2)
            });
        }
        Command::Keys(KeysCommand::GenerateMaster) => {
            return match admin::generate_master_key() {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("heddle: {err:#}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("heddle: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let overrides = match &cli.command {
        Command::Serve(args) => args.overrides(),
        _ => CliOverrides::default(),
    };
    let config = match load_config(&cli, overrides) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(config, args).await,
        Command::Migrate => admin::migrate(&config).await,
        Command::Config(ConfigCommand::Check) => {
            println!(
                "configuration OK (database: {})",
                redact_url(&config.effective_database_url())
            );
            Ok(())
        }
        Command::Admin(AdminCommand::CreateUser {
            email,
            role,
            display_name,
            tenant,
            password_stdin,
        }) => {
            admin::create_user(&config, &tenant, &email, role, display_name, password_stdin).await
        }
        Command::Keys(KeysCommand::Create {
            name,
            role,
            tenant,
            expires_in_days,
            route,
            environment,
            json,
        }) => {
            let route = route.map(|route| heddle_types::RoutePin { environment, route });
            admin::create_key(
                &config,
                &tenant,
                admin::NewKey {
                    name,
                    role,
                    expires_in_days,
                    route,
                },
                json,
            )
            .await
        }
        Command::Keys(KeysCommand::List { tenant, json }) => {
            admin::list_keys(&config, &tenant, json).await
        }
        Command::Keys(KeysCommand::Revoke { id, tenant }) => {
            admin::revoke_key(&config, &tenant, &id).await
        }
        Command::Keys(KeysCommand::RotateMaster) => admin::rotate_master_key(&config).await,
        Command::Audit(AuditCommand::Export {
            tenant,
            since,
            output,
        }) => admin::export_audit(&config, &tenant, since, output.as_deref()).await,
        Command::Audit(AuditCommand::Purge { tenant, before }) => {
            admin::purge_audit(&config, &tenant, &before).await
        }
        Command::Records(RecordsCommand::Apply { file, tenant }) => {
            records::apply(&config, &tenant, &file).await
        }
        Command::Records(RecordsCommand::Import {
            object,
            file,
            tenant,
        }) => records::import(&config, &tenant, &object, &file).await,
        Command::Apply { file, env, tenant } => agents::apply(&config, &tenant, env, &file).await,
        Command::Demo => demo::run(config).await,
        Command::Mcp(args) => mcp::run(config, args).await,
        // Handled before the runtime started.
        Command::Lint { .. }
        | Command::Trust(_)
        | Command::Audit(AuditCommand::Verify { .. })
        | Command::Keys(KeysCommand::GenerateMaster) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("heddle: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Hides a password in a database URL before printing it.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:[redacted]{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
