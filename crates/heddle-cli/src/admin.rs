//! Commands that act on the database directly as the local operator.

use std::io::Read;

use anyhow::{Context, bail};
use heddle_audit_log::{AuditLog, AuditLogSettings};
use heddle_crypto::{ExposeSecret, MasterKey, PasswordHasher, SecretString, Zeroizing};
use heddle_identity::{
    BootstrapOutcome, Caller, CreateApiKey, CreateUser, Identity, IdentitySettings,
    OPERATOR_TENANT_SLUG,
};
use heddle_server::config::Config;
use heddle_types::{ApiKeyId, PageRequest, Role, SystemClock};
use heddle_vault::{MasterKeySource, Vault};

/// Opens the configured database (applying migrations) and the identity service.
pub async fn open_identity(config: &Config) -> anyhow::Result<Identity> {
    let url = config.effective_database_url();
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory `{}`",
                config.data_dir.display()
            )
        })?;
    }
    let store = heddle_store::connect(&url)
        .await
        .with_context(|| format!("cannot open the database `{}`", crate::redact_url(&url)))?;
    let settings = IdentitySettings {
        access_token_ttl: time::Duration::minutes(i64::from(config.auth.access_token_ttl_minutes)),
        ..IdentitySettings::default()
    };
    let clock: std::sync::Arc<dyn heddle_types::Clock> = std::sync::Arc::new(SystemClock);
    let (current, previous, source) = load_master_keys(config)?;
    if let MasterKeySource::Generated(path) = &source {
        // stderr: `heddle mcp` keeps stdout for protocol messages.
        eprintln!(
            "Generated a master key at {} (owner-only). Back it up and keep it apart from the \
             database: without it nothing in the vault can be read.",
            path.display()
        );
    }
    let vault = Vault::new(store.clone(), current, previous, clock.clone());
    let audit = AuditLog::start(store.clone(), clock.clone(), AuditLogSettings::default());
    Ok(Identity::new(
        store,
        audit,
        vault,
        PasswordHasher::recommended(),
        clock,
        settings,
    )?)
}

/// The current master key (HEDDLE_MASTER_KEY, `vault.master_key_file`, or the embedded
/// setup's generated file) and any previous ones from a rotation in progress.
pub fn load_master_keys(
    config: &Config,
) -> anyhow::Result<(MasterKey, Vec<MasterKey>, MasterKeySource)> {
    let from_env = std::env::var("HEDDLE_MASTER_KEY")
        .ok()
        .filter(|value| !value.is_empty())
        .map(Zeroizing::new);
    let (current, source) = heddle_vault::load_master_key(
        from_env.as_ref().map(|value| value.as_str()),
        config.vault.master_key_file.as_deref(),
        config.generated_master_key_path().as_deref(),
    )?;
    let mut previous = Vec::new();
    for path in &config.vault.previous_master_key_files {
        previous.push(heddle_vault::load_master_key(None, Some(path), None)?.0);
    }
    Ok((current, previous, source))
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let identity = open_identity(config).await?;
    println!(
        "migrations applied ({} database {})",
        identity.store().engine(),
        crate::redact_url(&config.effective_database_url())
    );
    Ok(())
}

pub async fn create_user(
    config: &Config,
    tenant_slug: &str,
    email: &str,
    role: Role,
    display_name: Option<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let identity = open_identity(config).await?;
    let (password, generated) = if password_stdin {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .context("cannot read the password from standard input")?;
        let trimmed = input.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            bail!("no password on standard input");
        }
        (SecretString::from(trimmed.to_owned()), false)
    } else {
        (heddle_crypto::generate_password()?, true)
    };
    // On an empty database the first admin also creates the operator tenant.
    if role == Role::Admin && tenant_slug == OPERATOR_TENANT_SLUG {
        let outcome = identity
            .bootstrap(Some(email), Some(password.clone()))
            .await?;
        if let BootstrapOutcome::Created {
            tenant_slug,
            admin_email,
            ..
        } = outcome
        {
            println!(
                "created the operator tenant `{tenant_slug}` and its first admin `{admin_email}`"
            );
            if generated {
                println!("password (shown once): {}", password.expose_secret());
            }
            return Ok(());
        }
    }
    let tenant = tenant(&identity, tenant_slug).await?;
    let user = identity
        .create_user(
            &Caller::local_operator(),
            CreateUser {
                tenant_id: tenant.id,
                email: email.to_owned(),
                display_name: display_name.unwrap_or_else(|| email.to_owned()),
                role,
                password: Some(password.clone()),
            },
        )
        .await?;
    println!(
        "created {} `{}` ({}) in tenant `{}`",
        user.role, user.email, user.id, tenant.slug
    );
    if generated {
        println!("password (shown once): {}", password.expose_secret());
    }
    Ok(())
}

/// What `heddle keys create` asks for.
#[derive(Debug)]
pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub expires_in_days: Option<u32>,
    pub route: Option<heddle_types::RoutePin>,
}

pub async fn create_key(
    config: &Config,
    tenant_slug: &str,
    key: NewKey,
    json: bool,
) -> anyhow::Result<()> {
    let NewKey {
        name,
        role,
        expires_in_days,
        route,
    } = key;
    let identity = open_identity(config).await?;
    let tenant = tenant(&identity, tenant_slug).await?;
    let expires_at = expires_in_days
        .map(|days| time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(days)));
    let issued = identity
        .create_api_key(
            &Caller::local_operator(),
            CreateApiKey {
                tenant_id: tenant.id,
                name,
                role,
                expires_at,
                route,
            },
        )
        .await?;
    if json {
        let value = serde_json::json!({
            "key": issued.key,
            "token": issued.token.expose_secret(),
        });
        println!("{value}");
    } else {
        println!(
            "created API key `{}` ({}) with role {} in tenant `{}`",
            issued.key.name, issued.key.id, issued.key.role, tenant.slug
        );
        if let Some(pin) = &issued.key.route {
            println!("pinned to route `{}` of `{}`", pin.route, pin.environment);
        }
        println!("key (shown once): {}", issued.token.expose_secret());
    }
    Ok(())
}

pub async fn list_keys(config: &Config, tenant_slug: &str, json: bool) -> anyhow::Result<()> {
    let identity = open_identity(config).await?;
    let tenant = tenant(&identity, tenant_slug).await?;
    let mut keys = Vec::new();
    let mut page = PageRequest::first(heddle_types::MAX_PAGE_LIMIT);
    loop {
        let batch = identity
            .list_api_keys(&Caller::local_operator(), tenant.id, page)
            .await?;
        keys.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    if json {
        println!("{}", serde_json::to_string(&keys)?);
        return Ok(());
    }
    let now = time::OffsetDateTime::now_utc();
    println!(
        "{:<36}  {:<22}  {:<18}  {:<8}  NAME",
        "ID", "PREFIX", "ROLE", "STATE"
    );
    for key in keys {
        let state = if key.revoked_at.is_some() {
            "revoked"
        } else if key.is_active(now) {
            "active"
        } else {
            "expired"
        };
        println!(
            "{:<36}  {:<22}  {:<18}  {:<8}  {}",
            key.id, key.prefix, key.role, state, key.name
        );
    }
    Ok(())
}

pub async fn revoke_key(config: &Config, tenant_slug: &str, id: &str) -> anyhow::Result<()> {
    let id: ApiKeyId = id.parse()?;
    let identity = open_identity(config).await?;
    let tenant = tenant(&identity, tenant_slug).await?;
    let key = identity
        .revoke_api_key(&Caller::local_operator(), tenant.id, id)
        .await?;
    println!("revoked API key `{}` ({})", key.name, key.id);
    Ok(())
}

pub fn generate_master_key() -> anyhow::Result<()> {
    let key = MasterKey::generate()?;
    println!("{}", key.to_encoded().as_str());
    eprintln!(
        "Store this as HEDDLE_MASTER_KEY or in a file named by vault.master_key_file \
         (owner-only permissions), apart from the database."
    );
    Ok(())
}

/// Re-wraps every data key under the current master key; run with the new key current and
/// the old one in `vault.previous_master_key_files`, then remove the old one.
pub async fn rotate_master_key(config: &Config) -> anyhow::Result<()> {
    if config.vault.previous_master_key_files.is_empty() {
        anyhow::bail!(
            "configure the new key as the master key and the old one in \
             `vault.previous_master_key_files`, then run this again"
        );
    }
    let identity = open_identity(config).await?;
    let rewrapped = identity.vault().rewrap_all().await?;
    println!(
        "re-wrapped {rewrapped} data key(s) under master key {}; remove the previous key \
         files from the configuration now",
        identity.vault().master_key_id()
    );
    Ok(())
}

pub async fn export_audit(
    config: &Config,
    tenant_slug: &str,
    since: u64,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let identity = open_identity(config).await?;
    let tenant = tenant(&identity, tenant_slug).await?;
    let (bytes, summary) = identity
        .export_audit_log(&Caller::local_operator(), tenant.id, since)
        .await?;
    match output {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write `{}`", path.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    eprintln!(
        "exported seq {}..{} of tenant `{}`: {} event(s), {} purged, {} checkpoint(s)",
        summary.start_size,
        summary.end_size,
        tenant.slug,
        summary.events,
        summary.purged,
        summary.checkpoints
    );
    Ok(())
}

pub async fn purge_audit(config: &Config, tenant_slug: &str, before: &str) -> anyhow::Result<()> {
    let cutoff =
        time::OffsetDateTime::parse(before, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("`{before}` is not an RFC 3339 time"))?;
    let identity = open_identity(config).await?;
    let tenant = tenant(&identity, tenant_slug).await?;
    let purged = identity
        .purge_audit_log(&Caller::local_operator(), tenant.id, cutoff)
        .await?;
    println!(
        "purged {purged} audit event payload(s) of tenant `{}`; hashes and checkpoints kept",
        tenant.slug
    );
    Ok(())
}

/// The tenant a command names; a missing one says how to get it instead of only "not found".
pub async fn tenant(identity: &Identity, slug: &str) -> anyhow::Result<heddle_types::Tenant> {
    match identity.tenant_by_slug(slug).await {
        Ok(tenant) => Ok(tenant),
        Err(heddle_identity::IdentityError::NotFound { .. }) => anyhow::bail!(
            "there is no tenant `{slug}` in this database; start `heddle serve` once to create \
             the operator tenant `default`, or name an existing tenant with --tenant"
        ),
        Err(other) => Err(other.into()),
    }
}
