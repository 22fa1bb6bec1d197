//! The records table on SQLite: fields as JSON text, the sharing filter with `json_each`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use heddle_records::{
    Org, OrgUser, Record, RecordId, Restriction, UserId, Visibility, strip_inaccessible,
    visibility_for,
};
use heddle_types::TenantId;
use sqlx::sqlite::SqliteRow;
use sqlx::types::{Json, JsonValue};
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;

use super::audit::insert_outbox_event;
use super::{BEGIN_IMMEDIATE, SqliteStore, to_micros};

use crate::db_error::{conflict_or_database, is_foreign_key_violation, not_found};
use crate::records::{RecordQueryError, RecordStore, Seek, VisibleRecord};
use crate::{NewAuditEvent, StoreError, StoreResult};

/// Rows per INSERT statement (7 parameters each, well below SQLite's parameter limit).
const INSERT_CHUNK: usize = 500;

fn record_from_row(row: &SqliteRow) -> StoreResult<Record> {
    let id: String = row.try_get("id")?;
    let Json(fields): Json<BTreeMap<String, JsonValue>> = row.try_get("fields")?;
    Ok(Record {
        id: RecordId::parse(&id).map_err(|err| StoreError::Corrupt(err.to_string()))?,
        object: row.try_get("object")?,
        owner_id: UserId::new(row.try_get::<String, _>("owner_id")?),
        fields,
    })
}

/// Appends ` AND (…)` restricting `r` to what `restriction` opens.
fn push_restriction(query: &mut QueryBuilder<Sqlite>, restriction: &Restriction) {
    query.push(" AND (r.owner_id IN (SELECT value FROM json_each(");
    query.push_bind(Json(restriction.owners.clone()));
    query.push(")) OR r.id IN (SELECT value FROM json_each(");
    query.push_bind(Json(restriction.shared_ids.clone()));
    query.push("))");
    for (field, value) in &restriction.criteria {
        // `->` renders the stored value as JSON text, `json()` the rule's: equal texts are
        // equal values.
        query.push(" OR EXISTS (SELECT 1 FROM json_each(r.fields) j WHERE j.key = ");
        query.push_bind(field.clone());
        query.push(" AND (r.fields -> j.fullkey) = json(");
        query.push_bind(Json(value.clone()));
        query.push("))");
    }
    if let Some(link) = &restriction.customer_link {
        // The value must parse as a record id equal to the contact's: its exact 15-character
        // form, or an 18-character form whose suffix matches case-insensitively and whose
        // first 15 characters are either exact or folded to one case (see `RecordId::parse`).
        let canonical = link.contact_id.as_str();
        query.push(
            " OR EXISTS (SELECT 1 FROM json_each(r.fields) j WHERE j.type = 'text' AND j.key = ",
        );
        query.push_bind(link.field.clone());
        query.push(" AND (j.value = ");
        query.push_bind(link.contact_id.to_15().to_owned());
        query.push(
            " OR (length(j.value) = 18 AND j.value NOT GLOB '*[^0-9A-Za-z]*' AND upper(j.value) = ",
        );
        query.push_bind(canonical.to_ascii_uppercase());
        query.push(" AND (substr(j.value, 1, 15) = ");
        query.push_bind(link.contact_id.to_15().to_owned());
        query.push(
            " OR substr(j.value, 1, 15) = lower(substr(j.value, 1, 15)) \
             OR substr(j.value, 1, 15) = upper(substr(j.value, 1, 15))))))",
        );
    }
    query.push(")");
}

impl SqliteStore {
    async fn select_visible(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        object: &str,
        seek: Seek<'_>,
    ) -> Result<Vec<VisibleRecord>, RecordQueryError> {
        let restriction = match visibility_for(org, user, object)? {
            Visibility::None => return Ok(Vec::new()),
            Visibility::All => None,
            Visibility::Restricted(restriction) => Some(restriction),
        };
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT r.id, r.object, r.owner_id, r.fields FROM records r WHERE r.tenant_id = ",
        );
        query.push_bind(tenant_id.as_uuid());
        query.push(" AND r.object = ");
        query.push_bind(object.to_owned());
        let limit = match seek {
            Seek::Page { after, limit } => {
                if let Some(after) = after {
                    query.push(" AND r.id > ");
                    query.push_bind(after.as_str().to_owned());
                }
                limit
            }
            Seek::Only(id) => {
                query.push(" AND r.id = ");
                query.push_bind(id.as_str().to_owned());
                1
            }
        };
        if let Some(restriction) = &restriction {
            push_restriction(&mut query, restriction);
        }
        query.push(" ORDER BY r.id LIMIT ");
        query.push_bind(i64::from(limit));
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        rows.iter()
            .map(|row| {
                let mut record = record_from_row(row)?;
                let (fields, removed_fields) = strip_inaccessible(org, user, &record);
                record.fields = fields;
                Ok(VisibleRecord {
                    record,
                    removed_fields,
                })
            })
            .collect()
    }
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn insert_records(
        &self,
        tenant_id: TenantId,
        records: Vec<Record>,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin_with(BEGIN_IMMEDIATE).await?;
        for chunk in records.chunks(INSERT_CHUNK) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO records (tenant_id, id, object, owner_id, fields, created_at, \
                 updated_at) ",
            );
            query.push_values(chunk, |mut row, record| {
                row.push_bind(tenant_id.as_uuid())
                    .push_bind(record.id.as_str().to_owned())
                    .push_bind(record.object.clone())
                    .push_bind(record.owner_id.0.clone())
                    .push_bind(Json(record.fields.clone()))
                    .push_bind(to_micros(at))
                    .push_bind(to_micros(at));
            });
            query.build().execute(&mut *tx).await.map_err(|err| {
                if is_foreign_key_violation(&err) {
                    not_found("tenant", tenant_id)
                } else {
                    conflict_or_database(err, "record", "in this batch", &[])
                }
            })?;
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn query_visible(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        object: &str,
        limit: u32,
        after: Option<&RecordId>,
    ) -> Result<Vec<VisibleRecord>, RecordQueryError> {
        self.select_visible(tenant_id, org, user, object, Seek::Page { after, limit })
            .await
    }

    async fn get_visible(
        &self,
        tenant_id: TenantId,
        org: &Org,
        user: &OrgUser,
        id: &RecordId,
    ) -> Result<Option<VisibleRecord>, RecordQueryError> {
        let object: Option<String> =
            sqlx::query_scalar("SELECT object FROM records WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id.as_uuid())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from)?;
        let Some(object) = object else {
            return Ok(None);
        };
        let mut found = self
            .select_visible(tenant_id, org, user, &object, Seek::Only(id))
            .await?;
        Ok(found.pop())
    }
}
