//! `heddle lint DIR` and `heddle apply -f DIR`: agent configurations as files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use heddle_agents::{ConfigSet, Severity, lint, load_dir, to_sarif, to_text};
use heddle_identity::Caller;
use heddle_server::config::Config;
use heddle_types::Environment;

/// Every `.yaml` / `.yml` file under `dir`, as (path relative to `dir`, text), in path order.
fn read_files(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut paths = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        if next.is_file() {
            paths.push(next);
            continue;
        }
        let entries = std::fs::read_dir(&next)
            .with_context(|| format!("cannot read the directory `{}`", next.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                paths.push(path);
            }
        }
    }
    paths.sort();
    if paths.is_empty() {
        anyhow::bail!("no .yaml or .yml files under `{}`", dir.display());
    }
    paths
        .into_iter()
        .map(|path: PathBuf| {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let shown = path
                .strip_prefix(dir)
                .ok()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(&path)
                .display()
                .to_string();
            Ok((shown, text))
        })
        .collect()
}

/// Loads a directory, printing every load error with file, line and field.
fn load(dir: &Path) -> anyhow::Result<Result<ConfigSet, usize>> {
    let files = read_files(dir)?;
    Ok(load_dir(&files).map_err(|errors| {
        for error in &errors {
            eprintln!("{error}");
        }
        errors.len()
    }))
}

/// Exit status: 0 clean or warnings only, 1 lint errors, 2 files that do not load.
pub fn lint_dir(dir: &Path, sarif: bool) -> anyhow::Result<ExitCode> {
    let set = match load(dir)? {
        Ok(set) => set,
        Err(count) => {
            eprintln!("heddle: {count} problem(s) loading `{}`", dir.display());
            return Ok(ExitCode::from(2));
        }
    };
    let findings = lint(&set);
    if sarif {
        println!("{}", serde_json::to_string_pretty(&to_sarif(&findings))?);
    } else {
        print!("{}", to_text(&findings));
        eprintln!(
            "{} finding(s) in {} agent(s), {} capability(ies)",
            findings.len(),
            set.agents.len(),
            set.capabilities.len()
        );
    }
    let failed = findings.iter().any(|f| f.severity == Severity::Error);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Loads, lints and stores the directory as the next version of `env`.
pub async fn apply(
    config: &Config,
    tenant: &str,
    env: Environment,
    dir: &Path,
) -> anyhow::Result<()> {
    let set = match load(dir)? {
        Ok(set) => set,
        Err(count) => anyhow::bail!(
            "{count} problem(s) loading `{}`; nothing applied",
            dir.display()
        ),
    };
    let warnings = lint(&set);
    eprint!("{}", to_text(&warnings));
    let identity = crate::admin::open_identity(config).await?;
    let tenant_id = crate::admin::tenant(&identity, tenant).await?.id;
    let applied = identity
        .apply_config(&Caller::local_operator(), tenant_id, env, &set)
        .await?;
    identity.audit_log().flush().await?;
    if applied.unchanged {
        println!(
            "{env}: unchanged, version {} (sha256:{})",
            applied.version, applied.content_hash
        );
    } else {
        println!(
            "{env}: applied version {} (sha256:{}): {} agent(s), {} capability(ies)",
            applied.version,
            applied.content_hash,
            set.agents.len(),
            set.capabilities.len()
        );
    }
    Ok(())
}
