//! `heddle records …`: apply a record org from YAML and import records from CSV or JSON, as
//! the local operator; and the demo org that `serve --demo` loads.

use std::path::Path;

use anyhow::{Context, bail};
use heddle_identity::{Caller, CreateUser, Identity, IdentityError, OPERATOR_TENANT_SLUG};
use heddle_records::config::{OrgConfig, UserConfig, UserConfigKind};
use heddle_records::import::{ImportFormat, parse_records};
use heddle_recordsource::{EmbeddedRecords, RecordError, RecordSettings};
use heddle_server::config::Config;
use heddle_types::{Role, TenantId};

/// The demo org's files, built into the binary so `serve --demo` works from any directory.
const DEMO_ORG_YAML: &str = include_str!("../../../examples/demo-org/org.yaml");
/// In import order: parents before the children that refer to them.
const DEMO_RECORDS: [(&str, &str, &str); 8] = [
    (
        "Account",
        "Account.csv",
        include_str!("../../../examples/demo-org/records/Account.csv"),
    ),
    (
        "Contact",
        "Contact.csv",
        include_str!("../../../examples/demo-org/records/Contact.csv"),
    ),
    (
        "Lead",
        "Lead.csv",
        include_str!("../../../examples/demo-org/records/Lead.csv"),
    ),
    (
        "Opportunity",
        "Opportunity.csv",
        include_str!("../../../examples/demo-org/records/Opportunity.csv"),
    ),
    (
        "Case",
        "Case.csv",
        include_str!("../../../examples/demo-org/records/Case.csv"),
    ),
    (
        "Order",
        "Order.csv",
        include_str!("../../../examples/demo-org/records/Order.csv"),
    ),
    (
        "Task",
        "Task.jsonl",
        include_str!("../../../examples/demo-org/records/Task.jsonl"),
    ),
    (
        "Warranty_Claim__c",
        "Warranty_Claim__c.csv",
        include_str!("../../../examples/demo-org/records/Warranty_Claim__c.csv"),
    ),
];

async fn tenant_id(identity: &Identity, slug: &str) -> anyhow::Result<TenantId> {
    Ok(crate::admin::tenant(identity, slug).await?.id)
}

fn record_service(identity: &Identity) -> EmbeddedRecords {
    EmbeddedRecords::new(identity.clone(), RecordSettings::default())
}

/// Reads an org YAML file, reporting every problem with file, line and column.
fn read_org(file: &Path) -> anyhow::Result<OrgConfig> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    Ok(heddle_yaml::from_str(&text, &file.display().to_string())?)
}

/// Explains a record error, listing every problem of an invalid org.
fn explain(err: RecordError) -> anyhow::Error {
    match err {
        RecordError::InvalidConfig(problems) => {
            let mut message = format!("the record org has {} problem(s):", problems.len());
            for problem in problems {
                message.push_str(&format!("\n  - {problem}"));
            }
            anyhow::anyhow!(message)
        }
        other => other.into(),
    }
}

/// `heddle records apply FILE`: validate and make it the tenant's record org.
pub async fn apply(config: &Config, tenant: &str, file: &Path) -> anyhow::Result<()> {
    let org = read_org(file)?;
    let identity = crate::admin::open_identity(config).await?;
    let tenant_id = tenant_id(&identity, tenant).await?;
    let records = record_service(&identity);
    let caller = Caller::local_operator();
    // Replaces whatever is there, but only that: a change made in between is a conflict.
    let current = match records.get_org(&caller, tenant_id).await {
        Ok((version, _)) => Some(version),
        Err(RecordError::NoRecordOrg) => None,
        Err(other) => return Err(explain(other)),
    };
    let applied = records
        .apply_org(&caller, tenant_id, org, current)
        .await
        .map_err(explain)?;
    identity.audit_log().flush().await?;
    println!(
        "applied record org version {} to tenant `{tenant}`: {} users, {} objects, {} sharing rules",
        applied.version, applied.users, applied.objects, applied.sharing_rules
    );
    Ok(())
}

/// `heddle records import --object O FILE`: all rows or none.
pub async fn import(
    config: &Config,
    tenant: &str,
    object: &str,
    file: &Path,
) -> anyhow::Result<()> {
    let name = file.display().to_string();
    let Some(format) = ImportFormat::from_file_name(&name) else {
        bail!("`{name}`: name the file .csv, .json, .jsonl or .ndjson so its format is known");
    };
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read `{name}`"))?;
    let identity = crate::admin::open_identity(config).await?;
    let tenant_id = tenant_id(&identity, tenant).await?;
    let records = record_service(&identity);
    let imported = import_text(&records, tenant_id, object, format, &name, &text).await?;
    identity.audit_log().flush().await?;
    println!("imported {imported} `{object}` record(s) into tenant `{tenant}`");
    Ok(())
}

async fn import_text(
    records: &EmbeddedRecords,
    tenant_id: TenantId,
    object: &str,
    format: ImportFormat,
    name: &str,
    text: &str,
) -> anyhow::Result<usize> {
    let caller = Caller::local_operator();
    let def = records
        .object_definition(&caller, tenant_id, object)
        .await
        .map_err(explain)?;
    let rows = parse_records(&def, format, text).map_err(|problems| {
        let mut message = format!("`{name}` has {} problem(s):", problems.len());
        for problem in problems {
            message.push_str(&format!("\n  - {problem}"));
        }
        anyhow::anyhow!(message)
    })?;
    let summary = records
        .import_records(&caller, tenant_id, object, rows)
        .await
        .map_err(explain)?;
    Ok(summary.imported)
}

/// A demo person: their login, its Heddle role and the password generated for it (shown once).
pub struct DemoLogin {
    pub email: String,
    pub role: Role,
    pub password: heddle_crypto::SecretString,
}

/// The Heddle role a demo person's login gets: employees are operators, so they may run
/// agents (which then act as them); external customers and the org's service users (the ERP
/// integration) are viewers: customers reach agents through a service channel instead.
fn demo_role(org: &OrgConfig, user: &UserConfig) -> Role {
    let service_user = org.service_users.iter().any(|s| s.user == user.id);
    match user.kind {
        UserConfigKind::Internal if !service_user => Role::Operator,
        _ => Role::Viewer,
    }
}

/// Loads the demo org into the operator tenant: the org, a Heddle login for each of its
/// people (with the role [`demo_role`] gives), and its records. Safe to run on every start:
/// what exists is left alone (the org is applied only when there is none, a login or an
/// object's records only when missing).
pub async fn seed_demo_org(identity: &Identity) -> anyhow::Result<Vec<DemoLogin>> {
    let tenant_id = tenant_id(identity, OPERATOR_TENANT_SLUG).await?;
    let records = record_service(identity);
    let caller = Caller::local_operator();
    let org: OrgConfig = heddle_yaml::from_str(DEMO_ORG_YAML, "examples/demo-org/org.yaml")?;
    let logins: Vec<(String, Role)> = org
        .users
        .iter()
        .filter_map(|u| u.login.clone().map(|login| (login, demo_role(&org, u))))
        .collect();
    match records.get_org(&caller, tenant_id).await {
        Err(RecordError::NoRecordOrg) => {
            records
                .apply_org(&caller, tenant_id, org, None)
                .await
                .map_err(explain)?;
        }
        Ok(_) => {}
        Err(other) => return Err(explain(other)),
    }
    let mut created = Vec::new();
    for (email, role) in logins {
        // Already there from an earlier start: skip before hashing a password for nothing.
        if identity
            .store()
            .find_user_credentials(tenant_id, &email)
            .await?
            .is_some()
        {
            continue;
        }
        let password = heddle_crypto::generate_password()?;
        let made = identity
            .create_user(
                &caller,
                CreateUser {
                    tenant_id,
                    email: email.clone(),
                    display_name: email.clone(),
                    role,
                    password: Some(password.clone()),
                },
            )
            .await;
        match made {
            Ok(_) => created.push(DemoLogin {
                email,
                role,
                password,
            }),
            Err(IdentityError::Conflict { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    for (object, name, text) in DEMO_RECORDS {
        let format = ImportFormat::from_file_name(name).unwrap_or(ImportFormat::Csv);
        match import_text(&records, tenant_id, object, format, name, text).await {
            Ok(_) => {}
            // The file's fixed ids are there already: imported on an earlier start.
            Err(err)
                if matches!(
                    err.downcast_ref::<RecordError>(),
                    Some(RecordError::Conflict(_))
                ) => {}
            Err(err) => return Err(err.context(format!("loading the demo `{object}` records"))),
        }
    }
    identity.audit_log().flush().await?;
    Ok(created)
}
