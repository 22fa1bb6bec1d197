//! The embedded record store behind [`RecordSource`]: the tenant's record org (cached briefly
//! per process), the pure checks of `heddle-records` before anything is written, and the
//! store's transactional writes, which run the same checks again under lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use heddle_identity::{Actor, Caller, Identity, IdentityError};
use heddle_records::config::{OrgConfig, OrgDirectory};
use heddle_records::query::{QueryError, RecordQuery, validate_query};
use heddle_records::{
    AccessDenied, FieldPermissions, ObjectDef, ObjectPermissions, Org, OrgUser, PermissionSet,
    PermissionSetId, Record, RecordId, UserId, check_required, describe_object, field_access,
    strip_inaccessible, strip_uneditable, validate_fields,
};
use heddle_store::{RecordWriteError, VisibleRecord};
use heddle_types::{Action, Resource, TenantId};
use serde_json::Value as JsonValue;

use crate::audit::{RecordOp, finish};
use crate::{
    AccessMode, Applied, QueryResult, RecordActor, RecordError, RecordResult, RecordSource,
    RecordView, WriteMode, WriteOutcome,
};

/// The permission set system mode grants its service user, by a name no org can declare
/// (org ids are validated identifiers).
const SYSTEM_MODE_PERMISSION_SET: &str = "heddle:system-mode";

/// Tunables with safe defaults.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    /// How long a process trusts its cached copy of a tenant's record org; another process's
    /// change is seen after at most this long.
    pub org_cache_ttl: Duration,
}

impl Default for RecordSettings {
    fn default() -> Self {
        Self {
            org_cache_ttl: Duration::from_secs(2),
        }
    }
}

/// A tenant's record org as loaded: the directory, and the org system mode evaluates in.
#[derive(Debug)]
pub(crate) struct LoadedOrg {
    pub(crate) directory: OrgDirectory,
    system_org: Org,
}

impl LoadedOrg {
    pub(crate) fn new(directory: OrgDirectory) -> Self {
        let system_org = system_mode_org(&directory);
        Self {
            directory,
            system_org,
        }
    }
}

/// The org with one more permission set — everything on every object and field — given to
/// the service users only. System mode then runs through the same code paths as user mode,
/// with every check passing, instead of through a second, unchecked implementation.
fn system_mode_org(directory: &OrgDirectory) -> Org {
    let mut org = directory.org.clone();
    let everything = ObjectPermissions {
        read: true,
        create: true,
        edit: true,
        delete: true,
        view_all: true,
        modify_all: true,
    };
    let id = PermissionSetId::new(SYSTEM_MODE_PERMISSION_SET);
    org.permission_sets.push(PermissionSet {
        id: id.clone(),
        objects: org
            .objects
            .iter()
            .map(|o| (o.api_name.clone(), everything))
            .collect(),
        fields: org
            .objects
            .iter()
            .map(|o| {
                let fields = o
                    .fields
                    .iter()
                    .map(|f| {
                        let all = FieldPermissions {
                            read: true,
                            edit: true,
                        };
                        (f.api_name.clone(), all)
                    })
                    .collect();
                (o.api_name.clone(), fields)
            })
            .collect(),
    });
    for user in &mut org.users {
        if directory.service_users.contains_key(&user.id) {
            user.permission_sets.push(id.clone());
        }
    }
    org
}

/// Heddle's own record store as a [`RecordSource`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EmbeddedRecords {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    identity: Identity,
    settings: RecordSettings,
    orgs: RwLock<HashMap<TenantId, (Instant, Arc<LoadedOrg>)>>,
}

impl EmbeddedRecords {
    pub fn new(identity: Identity, settings: RecordSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                identity,
                settings,
                orgs: RwLock::default(),
            }),
        }
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The tenant's record org, from the cache when fresh.
    pub(crate) async fn loaded(&self, tenant_id: TenantId) -> RecordResult<Arc<LoadedOrg>> {
        {
            let orgs = self.inner.orgs.read().unwrap_or_else(|p| p.into_inner());
            if let Some((at, loaded)) = orgs.get(&tenant_id)
                && at.elapsed() < self.inner.settings.org_cache_ttl
            {
                return Ok(loaded.clone());
            }
        }
        let stored = self
            .identity()
            .store()
            .get_record_org(tenant_id)
            .await?
            .ok_or(RecordError::NoRecordOrg)?;
        let config: OrgConfig = serde_json::from_value(stored.config).map_err(|err| {
            RecordError::InvalidOrg(vec![heddle_records::config::ConfigError {
                path: String::new(),
                message: err.to_string(),
            }])
        })?;
        let directory = config.build().map_err(RecordError::InvalidOrg)?;
        let loaded = Arc::new(LoadedOrg::new(directory));
        self.remember(tenant_id, loaded.clone());
        Ok(loaded)
    }

    pub(crate) fn remember(&self, tenant_id: TenantId, loaded: Arc<LoadedOrg>) {
        let mut orgs = self.inner.orgs.write().unwrap_or_else(|p| p.into_inner());
        orgs.insert(tenant_id, (Instant::now(), loaded));
    }

    /// An object's full definition in the tenant's record org, for administrative tools such
    /// as import. Needs `view_record_org`; callers acting on records use `describe_object`.
    pub async fn object_definition(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        object: &str,
    ) -> RecordResult<ObjectDef> {
        self.identity()
            .authorize(
                &caller.actor,
                Action::ViewRecordOrg,
                Resource::Tenant(tenant_id),
            )
            .await?;
        let loaded = self.loaded(tenant_id).await?;
        loaded
            .directory
            .org
            .object(object)
            .cloned()
            .ok_or_else(|| RecordError::NotFound {
                what: format!("object `{object}`"),
            })
    }

    /// The caller as the org user their login maps to, in user mode. Needs `use_records`
    /// (people only: an API key has no person behind it).
    pub async fn user_actor(&self, caller: &Caller) -> RecordResult<RecordActor> {
        let Actor::Principal(principal) = &caller.actor else {
            return Err(RecordError::NoRecordIdentity(
                "the local operator has no record identity; use a service user in system mode"
                    .to_owned(),
            ));
        };
        let tenant_id = principal.tenant_id;
        self.identity()
            .authorize(
                &caller.actor,
                Action::UseRecords,
                Resource::Tenant(tenant_id),
            )
            .await?;
        let user = self
            .identity()
            .store()
            .get_user(tenant_id, heddle_types::UserId::from_uuid(principal.id))
            .await
            .map_err(IdentityError::from)?;
        let loaded = self.loaded(tenant_id).await?;
        let org_user = loaded
            .directory
            .user_for_login(&user.email)
            .ok_or_else(|| {
                RecordError::NoRecordIdentity(format!(
                    "`{}` is not a user of this tenant's record org; an admin adds a user with \
                     this login to the org",
                    user.email
                ))
            })?;
        Ok(RecordActor {
            tenant_id,
            caller: caller.clone(),
            user_id: org_user.id.clone(),
            mode: AccessMode::User,
        })
    }

    /// The contact id a customer's email verifies as, for the runtime's verification flow;
    /// `None` when the address belongs to no customer user of the tenant's record org.
    pub async fn find_customer_contact(
        &self,
        tenant_id: TenantId,
        email: &str,
    ) -> RecordResult<Option<RecordId>> {
        let loaded = self.loaded(tenant_id).await?;
        Ok(loaded.directory.customer_contact_for_email(email).cloned())
    }

    /// The external customer behind a verified contact id, in user mode: their sharing, CRUD
    /// and FLS apply. Only the runtime calls this, once the session's customer verified; the
    /// caller (the service channel) must be allowed to run agents.
    pub async fn verified_customer_actor(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        contact_id: &RecordId,
    ) -> RecordResult<RecordActor> {
        self.identity()
            .authorize(
                &caller.actor,
                Action::ExecuteAgent,
                Resource::Tenant(tenant_id),
            )
            .await?;
        let loaded = self.loaded(tenant_id).await?;
        let user = loaded.directory.customer_user(contact_id).ok_or_else(|| {
            RecordError::NoRecordIdentity(format!(
                "contact `{contact_id}` is no customer user of this tenant's record org"
            ))
        })?;
        Ok(RecordActor {
            tenant_id,
            caller: caller.clone(),
            user_id: user.id.clone(),
            mode: AccessMode::User,
        })
    }

    /// System mode for an agent whose applied configuration declares `identity: service_user`
    /// (the contract lint marks every such agent). The record org must still list the user
    /// under `service_users` with its justification; the caller needs only to be allowed to
    /// run agents, since the elevation is the agent's declared design, not the caller's.
    pub async fn agent_service_actor(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        service_user: &UserId,
    ) -> RecordResult<RecordActor> {
        self.identity()
            .authorize(
                &caller.actor,
                Action::ExecuteAgent,
                Resource::Tenant(tenant_id),
            )
            .await?;
        self.service_actor(caller, tenant_id, service_user).await
    }

    /// The explicitly named system-mode path: acts as `service_user` without sharing, CRUD or
    /// FLS. The user must be listed under `service_users` in the record org (with its
    /// justification), and the caller must be allowed to manage the record org (the local
    /// operator and trusted runtime code are).
    pub async fn system_actor(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        service_user: &UserId,
    ) -> RecordResult<RecordActor> {
        self.identity()
            .authorize(
                &caller.actor,
                Action::ManageRecordOrg,
                Resource::Tenant(tenant_id),
            )
            .await?;
        self.service_actor(caller, tenant_id, service_user).await
    }

    /// A service user of the record org as an actor; the caller was authorized already.
    async fn service_actor(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        service_user: &UserId,
    ) -> RecordResult<RecordActor> {
        let loaded = self.loaded(tenant_id).await?;
        let justification = loaded
            .directory
            .service_justification(service_user)
            .ok_or_else(|| {
                RecordError::Invalid(format!(
                    "`{service_user}` is not a service user of this tenant's record org; list \
                     it under `service_users` with a justification to allow system mode"
                ))
            })?;
        Ok(RecordActor {
            tenant_id,
            caller: caller.clone(),
            user_id: service_user.clone(),
            mode: AccessMode::System {
                justification: justification.to_owned(),
            },
        })
    }

    /// The org the actor's access is evaluated in, and the actor as its user.
    async fn access(&self, actor: &RecordActor) -> RecordResult<(Arc<LoadedOrg>, OrgUser)> {
        let loaded = self.loaded(actor.tenant_id).await?;
        let org = org_for(&loaded, actor);
        let user = org.user(&actor.user_id).cloned().ok_or_else(|| {
            RecordError::NoRecordIdentity(format!(
                "org user `{}` is no longer in this tenant's record org",
                actor.user_id
            ))
        })?;
        if let AccessMode::System { .. } = &actor.mode
            && loaded
                .directory
                .service_justification(&actor.user_id)
                .is_none()
        {
            return Err(RecordError::NoRecordIdentity(format!(
                "`{}` is no longer a service user of this tenant's record org",
                actor.user_id
            )));
        }
        Ok((loaded, user))
    }

    fn now(&self) -> time::OffsetDateTime {
        self.identity().now()
    }
}

pub(crate) fn org_for<'a>(loaded: &'a LoadedOrg, actor: &RecordActor) -> &'a Org {
    match actor.mode {
        AccessMode::User => &loaded.directory.org,
        AccessMode::System { .. } => &loaded.system_org,
    }
}

pub(crate) fn view(record: Record, removed_fields: Vec<String>) -> RecordView {
    RecordView {
        id: record.id,
        object: record.object,
        owner_id: record.owner_id.0,
        fields: record.fields,
        removed_fields,
    }
}

fn visible_view(visible: VisibleRecord) -> RecordView {
    view(visible.record, visible.removed_fields)
}

/// The object as the actor may write it: unknown and unreadable objects are both "not found".
fn writable_object<'a>(org: &'a Org, user: &OrgUser, object: &str) -> RecordResult<&'a ObjectDef> {
    describe_object(org, user, object)
        .and_then(|_| org.object(object))
        .ok_or_else(|| RecordError::NotFound {
            what: format!("object `{object}`"),
        })
}

/// Applies the write mode to the fields a write supplies: strict refuses the first field the
/// user may not edit, partial drops them all and reports them. A field the user cannot even
/// read is reported exactly like one that does not exist, so writes do not reveal hidden
/// fields.
fn editable_fields(
    org: &Org,
    user: &OrgUser,
    object: &ObjectDef,
    fields: BTreeMap<String, JsonValue>,
    mode: WriteMode,
) -> RecordResult<(BTreeMap<String, JsonValue>, Vec<String>)> {
    match mode {
        WriteMode::Partial => Ok(strip_uneditable(org, user, &object.api_name, &fields)),
        WriteMode::Strict => {
            for name in fields.keys() {
                let access = field_access(org, user, &object.api_name, name);
                if !access.read || object.field(name).is_none() {
                    return Err(RecordError::Denied(format!(
                        "field `{name}` does not exist on object `{}` or is not editable by \
                         this user",
                        object.api_name
                    )));
                }
                if !access.edit {
                    return Err(RecordError::Denied(
                        AccessDenied::FieldNotEditable {
                            object: object.api_name.clone(),
                            field: name.clone(),
                        }
                        .to_string(),
                    ));
                }
            }
            Ok((fields, Vec::new()))
        }
    }
}

fn write_error(err: RecordWriteError) -> RecordError {
    match err {
        RecordWriteError::NotFound { id } => RecordError::NotFound {
            what: format!("record `{id}`"),
        },
        RecordWriteError::Denied(denied) => denied.into(),
        RecordWriteError::Conflict { id } => {
            RecordError::Conflict(format!("record `{id}` already exists"))
        }
        // Only writes with an idempotency key report it; these pass none.
        RecordWriteError::AlreadyApplied { .. } => {
            RecordError::Conflict("this change was already applied".to_owned())
        }
        RecordWriteError::Store(store) => RecordError::Store(store),
    }
}

/// A fresh record id with the object's key prefix: 12 random base62 characters after it.
pub(crate) fn new_record_id(object: &ObjectDef) -> RecordResult<RecordId> {
    let mut bytes = [0_u8; 8];
    heddle_crypto::fill_random(&mut bytes)
        .map_err(|err| RecordError::Store(heddle_store::StoreError::Corrupt(err.to_string())))?;
    RecordId::generate(&object.key_prefix, u64::from_le_bytes(bytes))
        .map_err(|err| RecordError::Store(heddle_store::StoreError::Corrupt(err.to_string())))
}

fn field_names<'a>(fields: impl Iterator<Item = &'a String>) -> JsonValue {
    JsonValue::from(fields.cloned().collect::<Vec<_>>())
}

#[async_trait]
impl RecordSource for EmbeddedRecords {
    async fn describe_objects(&self, actor: &RecordActor) -> RecordResult<Vec<ObjectDef>> {
        let op = RecordOp::new("record.describe");
        let result = async {
            let (loaded, user) = self.access(actor).await?;
            let org = org_for(&loaded, actor);
            Ok(org
                .objects
                .iter()
                .filter_map(|o| describe_object(org, &user, &o.api_name))
                .collect())
        }
        .await;
        finish(self.identity(), actor, op, false, result).await
    }

    async fn describe_object(&self, actor: &RecordActor, object: &str) -> RecordResult<ObjectDef> {
        let op = RecordOp::new("record.describe").with("object", object);
        let result = async {
            let (loaded, user) = self.access(actor).await?;
            describe_object(org_for(&loaded, actor), &user, object).ok_or_else(|| {
                RecordError::NotFound {
                    what: format!("object `{object}`"),
                }
            })
        }
        .await;
        finish(self.identity(), actor, op, false, result).await
    }

    async fn query(&self, actor: &RecordActor, query: &RecordQuery) -> RecordResult<QueryResult> {
        let op = RecordOp::new("record.query").with("object", query.object.clone());
        let result = async {
            let (loaded, user) = self.access(actor).await?;
            let org = org_for(&loaded, actor);
            let valid = validate_query(org, &user, query).map_err(|err| match err {
                // Like describe: an object you may not read does not exist for you.
                QueryError::ObjectNotReadable { object } => RecordError::NotFound {
                    what: format!("object `{object}`"),
                },
                other => other.into(),
            })?;
            let page = self
                .identity()
                .store()
                .query_records(actor.tenant_id, org, &user, &valid)
                .await?;
            Ok(QueryResult {
                records: page.records.into_iter().map(visible_view).collect(),
                next_cursor: page.next_cursor,
            })
        }
        .await;
        finish(self.identity(), actor, op, false, result).await
    }

    async fn get(&self, actor: &RecordActor, id: &RecordId) -> RecordResult<RecordView> {
        let op = RecordOp::new("record.get").on("record", id);
        let result = async {
            let (loaded, user) = self.access(actor).await?;
            let org = org_for(&loaded, actor);
            self.identity()
                .store()
                .get_visible(actor.tenant_id, org, &user, id)
                .await?
                .map(visible_view)
                .ok_or_else(|| RecordError::NotFound {
                    what: format!("record `{id}`"),
                })
        }
        .await;
        finish(self.identity(), actor, op, false, result).await
    }

    async fn create(
        &self,
        actor: &RecordActor,
        object: &str,
        fields: BTreeMap<String, JsonValue>,
        mode: WriteMode,
    ) -> RecordResult<WriteOutcome> {
        self.create_keyed(actor, object, fields, mode, None)
            .await
            .and_then(Applied::now)
    }

    async fn update(
        &self,
        actor: &RecordActor,
        id: &RecordId,
        changes: BTreeMap<String, JsonValue>,
        mode: WriteMode,
    ) -> RecordResult<WriteOutcome> {
        self.update_keyed(actor, id, changes, mode, None)
            .await
            .and_then(Applied::now)
    }

    async fn delete(&self, actor: &RecordActor, id: &RecordId) -> RecordResult<()> {
        let op = RecordOp::new("record.delete").on("record", id);
        let result = async {
            let (loaded, user) = self.access(actor).await?;
            let org = org_for(&loaded, actor);
            let audit = crate::audit::change_event(self.identity(), actor, &op);
            self.identity()
                .store()
                .delete_record(actor.tenant_id, org, &user, id, self.now(), None, audit)
                .await
                .map_err(write_error)
        }
        .await;
        finish(self.identity(), actor, op, true, result).await
    }
}

impl EmbeddedRecords {
    /// [`RecordSource::create`] at most once per `key` in the tenant: the record and the key
    /// commit together, and a later call with the key changes nothing and returns what the
    /// first did ([`Applied::Before`]). For actions that must run once (approved calls).
    pub async fn create_once(
        &self,
        actor: &RecordActor,
        object: &str,
        fields: BTreeMap<String, JsonValue>,
        mode: WriteMode,
        key: &str,
    ) -> RecordResult<Applied<WriteOutcome>> {
        self.create_keyed(actor, object, fields, mode, Some(key))
            .await
    }

    /// [`RecordSource::update`] at most once per `key`, as [`EmbeddedRecords::create_once`].
    pub async fn update_once(
        &self,
        actor: &RecordActor,
        id: &RecordId,
        changes: BTreeMap<String, JsonValue>,
        mode: WriteMode,
        key: &str,
    ) -> RecordResult<Applied<WriteOutcome>> {
        self.update_keyed(actor, id, changes, mode, Some(key)).await
    }

    async fn create_keyed(
        &self,
        actor: &RecordActor,
        object: &str,
        fields: BTreeMap<String, JsonValue>,
        mode: WriteMode,
        key: Option<&str>,
    ) -> RecordResult<Applied<WriteOutcome>> {
        let mut op = RecordOp::new("record.create").with("object", object);
        let result = async {
            let (loaded, user) = self.access(actor).await?;
            let org = org_for(&loaded, actor);
            let def = writable_object(org, &user, object)?;
            let (kept, dropped) = editable_fields(org, &user, def, fields, mode)?;
            let mut values = validate_fields(&org.objects, def, &kept)?;
            // A null on create means "not set".
            values.retain(|_, v| !v.is_null());
            check_required(def, &values)?;
            let record = Record {
                id: new_record_id(def)?,
                object: def.api_name.clone(),
                owner_id: user.id.clone(),
                fields: values,
            };
            op = op
                .clone()
                .on("record", &record.id)
                .with("fields", field_names(record.fields.keys()))
                .with("dropped_fields", field_names(dropped.iter()));
            let audit = crate::audit::change_event(self.identity(), actor, &op);
            let created = self
                .identity()
                .store()
                .create_record(actor.tenant_id, org, &user, record, self.now(), key, audit)
                .await;
            let created = match created {
                Err(RecordWriteError::AlreadyApplied { result }) => {
                    return Ok(Applied::Before(result));
                }
                other => other.map_err(write_error)?,
            };
            let (readable, removed) = strip_inaccessible(org, &user, &created);
            Ok(Applied::Now(WriteOutcome {
                record: view(
                    Record {
                        fields: readable,
                        ..created
                    },
                    removed,
                ),
                dropped_fields: dropped,
            }))
        }
        .await;
        finish(self.identity(), actor, op, true, result).await
    }

    async fn update_keyed(
        &self,
        actor: &RecordActor,
        id: &RecordId,
        changes: BTreeMap<String, JsonValue>,
        mode: WriteMode,
        key: Option<&str>,
    ) -> RecordResult<Applied<WriteOutcome>> {
        let mut op = RecordOp::new("record.update").on("record", id);
        let result = async {
            let (loaded, user) = self.access(actor).await?;
            let org = org_for(&loaded, actor);
            let def = org
                .objects
                .iter()
                .find(|o| o.key_prefix == id.key_prefix())
                .ok_or_else(|| RecordError::NotFound {
                    what: format!("record `{id}`"),
                })?;
            // Unknown and unreadable objects look like a missing record.
            if describe_object(org, &user, &def.api_name).is_none() {
                return Err(RecordError::NotFound {
                    what: format!("record `{id}`"),
                });
            }
            let (kept, dropped) = editable_fields(org, &user, def, changes, mode)?;
            let values = validate_fields(&org.objects, def, &kept)?;
            op = op
                .clone()
                .with("object", def.api_name.clone())
                .with("fields", field_names(values.keys()))
                .with("dropped_fields", field_names(dropped.iter()));
            let audit = crate::audit::change_event(self.identity(), actor, &op);
            let updated = self
                .identity()
                .store()
                .update_record(
                    actor.tenant_id,
                    org,
                    &user,
                    id,
                    values,
                    self.now(),
                    key,
                    audit,
                )
                .await;
            let updated = match updated {
                Err(RecordWriteError::AlreadyApplied { result }) => {
                    return Ok(Applied::Before(result));
                }
                other => other.map_err(write_error)?,
            };
            let (readable, removed) = strip_inaccessible(org, &user, &updated);
            Ok(Applied::Now(WriteOutcome {
                record: view(
                    Record {
                        fields: readable,
                        ..updated
                    },
                    removed,
                ),
                dropped_fields: dropped,
            }))
        }
        .await;
        finish(self.identity(), actor, op, true, result).await
    }
}
