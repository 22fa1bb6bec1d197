//! The sharing filter on Sqlite: what a user may read of one object, as a `WHERE` clause on
//! the records table aliased `r`, with every value bound.

use heddle_records::{Org, OrgUser, Restriction, Visibility, visibility_for};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};

use crate::records::RecordQueryError;

/// Appends ` AND (…)` limiting `r` to the records of `object` that `user` may read. Returns
/// `false`, appending nothing, when no record is visible (the caller then skips the query).
pub(super) fn push_sharing_filter(
    query: &mut QueryBuilder<Sqlite>,
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
