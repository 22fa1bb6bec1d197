//! The sharing filter on Postgres: what a user may read of one object, as a `WHERE` clause on
//! the records table aliased `r`, with every value bound.

use heddle_records::{Org, OrgUser, Restriction, Visibility, visibility_for};
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};

use crate::records::RecordQueryError;

/// Appends ` AND (…)` limiting `r` to the records of `object` that `user` may read. Returns
/// `false`, appending nothing, when no record is visible (the caller then skips the query).
pub(super) fn push_sharing_filter(
    query: &mut QueryBuilder<Postgres>,
    org: &Org,
    user: &OrgUser,
    object: &str,
) -> Result<bool, RecordQueryError> {
    match visibility_for(org, user, object)? {
        Visibility::None => Ok(false),
        Visibility::All => Ok(true),
        Visibility::Restricted(restriction) => {
            push_restriction(query, &restriction);
            Ok(true)
        }
    }
}

/// Appends ` AND (…)` restricting `r` to what `restriction` opens.
fn push_restriction(query: &mut QueryBuilder<Postgres>, restriction: &Restriction) {
    query.push(" AND (r.owner_id = ANY(");
    query.push_bind(restriction.owners.clone());
    query.push(") OR r.id = ANY(");
    query.push_bind(restriction.shared_ids.clone());
    query.push(")");
    for (field, value) in &restriction.criteria {
        // Compared as jsonb's canonical text, not with jsonb `=`, which would equate `1` and
        // `1.0` where the reference does not.
        query.push(" OR (r.fields -> ");
        query.push_bind(field.clone());
        query.push(")::text = (");
        query.push_bind(Json(value.clone()));
        query.push("::jsonb)::text");
    }
    if let Some(link) = &restriction.customer_link {
        // The value must parse as a record id equal to the contact's: its exact 15-character
        // form, or an 18-character form whose suffix matches case-insensitively and whose
        // first 15 characters are either exact or folded to one case (see `RecordId::parse`).
        query.push(" OR (jsonb_typeof(r.fields -> ");
        query.push_bind(link.field.clone());
        query.push(") = 'string' AND (r.fields ->> ");
        query.push_bind(link.field.clone());
        query.push(") = ");
        query.push_bind(link.contact_id.to_15().to_owned());
        query.push(" OR (jsonb_typeof(r.fields -> ");
        query.push_bind(link.field.clone());
        query.push(") = 'string' AND (r.fields ->> ");
        query.push_bind(link.field.clone());
        query.push(") ~ '^[0-9A-Za-z]{18}$' AND upper(r.fields ->> ");
        query.push_bind(link.field.clone());
        query.push(") = ");
        query.push_bind(link.contact_id.as_str().to_ascii_uppercase());
        query.push(" AND (left(r.fields ->> ");
        query.push_bind(link.field.clone());
        query.push(", 15) IN (");
        query.push_bind(link.contact_id.to_15().to_owned());
        query.push(", lower(left(r.fields ->> ");
        query.push_bind(link.field.clone());
        query.push(", 15)), upper(left(r.fields ->> ");
        query.push_bind(link.field.clone());
        query.push(", 15))))))");
    }
    query.push(")");
}
