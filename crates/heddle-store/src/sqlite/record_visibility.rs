//! The sharing filter on Sqlite: what a user may read of one object, as a `WHERE` clause on
//! the records table aliased `r`, with every value bound. A controlled-by-parent object's
//! filter joins the parent through the primary key as `p1` (its parent as `p2`, …); these
//! aliases, chosen by depth, are the only generated text.

use heddle_records::{Org, OrgUser, ParentGround, Restriction, Visibility, visibility_for};
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
    match visibility_for(org, user, object) {
        Visibility::None => Ok(false),
        Visibility::All => Ok(true),
        Visibility::Restricted(restriction) => {
            query.push(" AND ");
            push_restriction(query, &restriction, 0);
            Ok(true)
        }
    }
}

/// The alias of the records row filtered at `depth` parent references from `r`.
fn alias(depth: usize) -> String {
    if depth == 0 {
        "r".to_owned()
    } else {
        format!("p{depth}")
    }
}

/// Appends `(…)` restricting the row at `depth` to what `restriction` opens.
fn push_restriction(query: &mut QueryBuilder<Sqlite>, restriction: &Restriction, depth: usize) {
    let a = alias(depth);
    let mut or = Or::new(query);
    if !restriction.owners.is_empty() {
        let q = or.next();
        q.push(format!("{a}.owner_id IN (SELECT value FROM json_each("));
        q.push_bind(Json(restriction.owners.clone()));
        q.push("))");
    }
    if !restriction.shared_ids.is_empty() {
        let q = or.next();
        q.push(format!("{a}.id IN (SELECT value FROM json_each("));
        q.push_bind(Json(restriction.shared_ids.clone()));
        q.push("))");
    }
    for (field, value) in &restriction.criteria {
        // `->` renders the stored value as JSON text, `json()` the rule's: equal texts are
        // equal values. A plain name is looked up by path (one lookup instead of a walk over
        // the fields); a path cannot spell every name, so any other goes through `json_each`.
        let q = or.next();
        if let Some(path) = plain_path(field) {
            q.push(format!("({a}.fields -> "));
            q.push_bind(path);
            q.push(") = json(");
            q.push_bind(Json(value.clone()));
            q.push(")");
        } else {
            q.push(format!(
                "EXISTS (SELECT 1 FROM json_each({a}.fields) {a}j WHERE {a}j.key = "
            ));
            q.push_bind(field.clone());
            q.push(format!(" AND ({a}.fields -> {a}j.fullkey) = json("));
            q.push_bind(Json(value.clone()));
            q.push("))");
        }
    }
    if let Some(link) = &restriction.customer_link {
        // The value must parse as a record id equal to the contact's: its exact 15-character
        // form, or an 18-character form whose suffix matches case-insensitively and whose
        // first 15 characters are either exact or folded to one case (see `RecordId::parse`).
        let canonical = link.contact_id.as_str();
        let q = or.next();
        q.push(format!(
            "EXISTS (SELECT 1 FROM json_each({a}.fields) {a}j WHERE {a}j.type = 'text' \
             AND {a}j.key = "
        ));
        q.push_bind(link.field.clone());
        q.push(format!(" AND ({a}j.value = "));
        q.push_bind(link.contact_id.to_15().to_owned());
        q.push(format!(
            " OR (length({a}j.value) = 18 AND {a}j.value NOT GLOB '*[^0-9A-Za-z]*' \
             AND upper({a}j.value) = "
        ));
        q.push_bind(canonical.to_ascii_uppercase());
        q.push(format!(" AND (substr({a}j.value, 1, 15) = "));
        q.push_bind(link.contact_id.to_15().to_owned());
        q.push(format!(
            " OR substr({a}j.value, 1, 15) = lower(substr({a}j.value, 1, 15)) \
             OR substr({a}j.value, 1, 15) = upper(substr({a}j.value, 1, 15))))))"
        ));
    }
    if let Some(parent) = &restriction.parent {
        push_parent(&mut or, parent, depth);
    }
    or.finish();
}

/// The JSON path of a top-level field whose name is ASCII letters, digits and `_` (which a
/// quoted path label spells as is), e.g. `$."Industry"`.
fn plain_path(field: &str) -> Option<String> {
    let plain = !field.is_empty()
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then(|| format!("$.\"{field}\""))
}

/// Appends the grounds of a controlled-by-parent record at `depth`: naming a parent the
/// parent's filter opens, or parentless and owned by one of the orphan owners.
fn push_parent(or: &mut Or<'_>, parent: &ParentGround, depth: usize) {
    let a = alias(depth);
    if *parent.parents != Visibility::None {
        // The parent is found through the primary key: first by the reference as stored (the
        // canonical form, as a rule), then by the canonical id it parses to when that differs.
        // The second branch of the co-routine only runs when the first found nothing, as
        // `EXISTS` stops at the first row. `CROSS JOIN` keeps the references first: the
        // planner may otherwise scan the parents for each one.
        let p = alias(depth + 1);
        let q = or.next();
        q.push(format!(
            "EXISTS (SELECT 1 FROM (SELECT {p}j.value AS id FROM json_each({a}.fields) {p}j \
             WHERE {p}j.key = "
        ));
        q.push_bind(parent.field.clone());
        q.push(format!(
            " AND {p}j.type = 'text' UNION ALL SELECT nullif({}, {p}j.value) \
             FROM json_each({a}.fields) {p}j WHERE {p}j.key = ",
            canonical_id(&format!("{p}j.value"))
        ));
        q.push_bind(parent.field.clone());
        q.push(format!(
            " AND {p}j.type = 'text') {p}ref CROSS JOIN records {p} \
             ON {p}.tenant_id = {a}.tenant_id AND {p}.id = {p}ref.id WHERE {p}.object = "
        ));
        q.push_bind(parent.object.clone());
        if let Visibility::Restricted(restriction) = &*parent.parents {
            q.push(" AND ");
            push_restriction(q, restriction, depth + 1);
        }
        q.push(")");
    }
    if !parent.orphan_owners.is_empty() {
        let q = or.next();
        q.push(format!("({a}.owner_id IN (SELECT value FROM json_each("));
        q.push_bind(Json(parent.orphan_owners.clone()));
        q.push(format!(
            ")) AND NOT EXISTS (SELECT 1 FROM json_each({a}.fields) {a}j WHERE {a}j.key = "
        ));
        q.push_bind(parent.field.clone());
        q.push(format!(" AND {a}j.type <> 'null'))"));
    }
}

/// An SQL expression for the canonical id the text `value` parses to with `RecordId::parse`,
/// or NULL or a string that is no canonical id when it does not parse. `value` is an
/// expression of ours, never input.
///
/// Only values of 0-9, A-Z and a-z are considered. A 15-character id gets its checksum
/// suffix. An 18-character one keeps its body when the body is in mixed case (the id is then
/// valid only if the suffix, upper-cased, is the body's, which the equality with a stored
/// canonical id checks), and has its case restored from the suffix when the body is folded to
/// one case.
fn canonical_id(value: &str) -> String {
    const UPPER: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ'";
    const SUFFIX: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'";
    let char_at = |i: usize| format!("substr({value}, {}, 1)", i + 1);
    let suffix: Vec<String> = (0..3)
        .map(|chunk| {
            let bits: Vec<String> = (0..5)
                .map(|i| {
                    format!(
                        "(CASE WHEN instr({UPPER}, {}) > 0 THEN {} ELSE 0 END)",
                        char_at(chunk * 5 + i),
                        1 << i
                    )
                })
                .collect();
            format!("substr({SUFFIX}, 1 + {}, 1)", bits.join(" + "))
        })
        .collect();
    let restored: Vec<String> = (0..15)
        .map(|i| {
            // A character outside the suffix alphabet gives -1 (all bits): the upper-cased
            // suffix kept at the end then matches no canonical id, as the parse fails.
            format!(
                "(CASE WHEN ((instr({SUFFIX}, upper({})) - 1) & {}) <> 0 THEN upper({c}) \
                 ELSE lower({c}) END)",
                char_at(15 + i / 5),
                1 << (i % 5),
                c = char_at(i)
            )
        })
        .collect();
    let body = format!("substr({value}, 1, 15)");
    format!(
        "(CASE WHEN {value} NOT GLOB '*[^0-9A-Za-z]*' THEN CASE length({value}) \
         WHEN 15 THEN {value} || {suffix} \
         WHEN 18 THEN (CASE WHEN {body} = lower({body}) OR {body} = upper({body}) \
         THEN {restored} ELSE {body} END) || upper(substr({value}, 16, 3)) END END)",
        suffix = suffix.join(" || "),
        restored = restored.join(" || "),
    )
}

/// Joins grounds with ` OR ` inside parentheses; no ground at all is `FALSE`.
struct Or<'q> {
    query: &'q mut QueryBuilder<Sqlite>,
    grounds: usize,
}

impl<'q> Or<'q> {
    fn new(query: &'q mut QueryBuilder<Sqlite>) -> Self {
        query.push("(");
        Self { query, grounds: 0 }
    }

    /// The query, positioned for the next ground.
    fn next(&mut self) -> &mut QueryBuilder<Sqlite> {
        if self.grounds > 0 {
            self.query.push(" OR ");
        }
        self.grounds += 1;
        self.query
    }

    fn finish(self) {
        if self.grounds == 0 {
            self.query.push("FALSE");
        }
        self.query.push(")");
    }
}
