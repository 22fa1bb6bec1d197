//! The sharing filter on PostgreSQL: what a user may read of one object, as a `WHERE` clause on
//! the records table aliased `r`, with every value bound. A controlled-by-parent object's
//! filter probes the primary key for the parent (or, for a record without one, the record
//! itself) as `p1`, its parent as `p2`, …; these aliases, chosen by depth, are the only
//! generated text.

use heddle_records::{Org, OrgUser, ParentGround, Restriction, Visibility, visibility_for};
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
fn push_restriction(query: &mut QueryBuilder<Postgres>, restriction: &Restriction, depth: usize) {
    let a = alias(depth);
    let mut or = Or::new(query);
    if !restriction.owners.is_empty() {
        let q = or.next();
        q.push(format!("{a}.owner_id = ANY("));
        q.push_bind(restriction.owners.clone());
        q.push(")");
    }
    if !restriction.shared_ids.is_empty() {
        let q = or.next();
        q.push(format!("{a}.id = ANY("));
        q.push_bind(restriction.shared_ids.clone());
        q.push(")");
    }
    for (field, value) in &restriction.criteria {
        // Compared as jsonb's canonical text, not with jsonb `=`, which would equate `1` and
        // `1.0` where the reference does not.
        let q = or.next();
        q.push(format!("({a}.fields -> "));
        q.push_bind(field.clone());
        q.push(")::text = (");
        q.push_bind(Json(value.clone()));
        q.push("::jsonb)::text");
    }
    if let Some(link) = &restriction.customer_link {
        // The value must parse as a record id equal to the contact's: its exact 15-character
        // form, or an 18-character form whose suffix matches case-insensitively and whose
        // first 15 characters are either exact or folded to one case (see `RecordId::parse`).
        let q = or.next();
        q.push(format!("(jsonb_typeof({a}.fields -> "));
        q.push_bind(link.field.clone());
        q.push(format!(") = 'string' AND ({a}.fields ->> "));
        q.push_bind(link.field.clone());
        q.push(") = ");
        q.push_bind(link.contact_id.to_15().to_owned());
        q.push(format!(" OR (jsonb_typeof({a}.fields -> "));
        q.push_bind(link.field.clone());
        q.push(format!(") = 'string' AND ({a}.fields ->> "));
        q.push_bind(link.field.clone());
        q.push(format!(
            ") ~ '^[0-9A-Za-z]{{18}}$' AND upper({a}.fields ->> "
        ));
        q.push_bind(link.field.clone());
        q.push(") = ");
        q.push_bind(link.contact_id.as_str().to_ascii_uppercase());
        q.push(format!(" AND (left({a}.fields ->> "));
        q.push_bind(link.field.clone());
        q.push(", 15) IN (");
        q.push_bind(link.contact_id.to_15().to_owned());
        q.push(format!(", lower(left({a}.fields ->> "));
        q.push_bind(link.field.clone());
        q.push(format!(", 15)), upper(left({a}.fields ->> "));
        q.push_bind(link.field.clone());
        q.push(", 15))))))");
    }
    if let Some(parent) = &restriction.parent {
        push_parent(&mut or, parent, depth);
    }
    or.finish();
}

/// Appends the ground of a controlled-by-parent record at `depth`: parentless and owned by one
/// of the orphan owners, or naming a parent the parent's filter opens.
///
/// Both cases are one `EXISTS` probing the primary key: for a parentless record the probe
/// finds the record itself and checks its owner, otherwise it finds the parent. At the top
/// level PostgreSQL turns that into a semi-join; an `EXISTS` under `OR` would stay a per-row
/// subplan, whose estimated cost also sets off JIT compilation on large lists.
fn push_parent(or: &mut Or<'_>, parent: &ParentGround, depth: usize) {
    let a = alias(depth);
    let q = or.next();
    if *parent.parents == Visibility::None {
        q.push(format!("({a}.owner_id = ANY("));
        q.push_bind(parent.orphan_owners.clone());
        q.push(") AND ");
        push_parentless(q, &a, &parent.field);
        q.push(")");
        return;
    }
    let p = alias(depth + 1);
    q.push(format!(
        "EXISTS (SELECT 1 FROM records {p} WHERE {p}.tenant_id = {a}.tenant_id AND {p}.id = \
         (CASE WHEN "
    ));
    push_parentless(q, &a, &parent.field);
    q.push(format!(" THEN {a}.id WHEN jsonb_typeof({a}.fields -> "));
    q.push_bind(parent.field.clone());
    q.push(") = 'string' THEN ");
    // The reference is turned into the canonical id it parses to (or a string no id equals).
    let value = format!("{a}.fields ->> ");
    for (i, piece) in canonical_id(VALUE).split(VALUE).enumerate() {
        if i > 0 {
            q.push(format!("({value}"));
            q.push_bind(parent.field.clone());
            q.push(")");
        }
        q.push(piece);
    }
    q.push(" END) AND (CASE WHEN ");
    push_parentless(q, &a, &parent.field);
    q.push(format!(" THEN {a}.owner_id = ANY("));
    q.push_bind(parent.orphan_owners.clone());
    q.push(format!(") ELSE {p}.object = "));
    q.push_bind(parent.object.clone());
    if let Visibility::Restricted(restriction) = &*parent.parents {
        q.push(" AND ");
        push_restriction(q, restriction, depth + 1);
    }
    q.push(" END))");
}

/// Stands for the reference value in [`canonical_id`]'s text; never part of generated SQL.
const VALUE: &str = "\u{0}";

/// Appends whether the row `a` has no parent: the reference field absent or JSON null.
fn push_parentless(q: &mut QueryBuilder<Postgres>, a: &str, field: &str) {
    q.push(format!("coalesce({a}.fields -> "));
    q.push_bind(field.to_owned());
    q.push(", 'null'::jsonb) = 'null'::jsonb");
}

/// An SQL expression for the canonical id the JSON string `value` parses to with
/// `RecordId::parse`, or NULL or a string that is no canonical id when it does not parse.
/// `value` is an expression of ours, never input.
///
/// A 15-character id gets its checksum suffix. An 18-character one keeps its body when the
/// body is in mixed case (the id is then valid only if the suffix, upper-cased, is the body's,
/// which the equality with a stored canonical id checks), and has its case restored from the
/// suffix when the body is folded to one case. Case mapping is ASCII-only (`COLLATE "C"`), as
/// in the parse; it leaves any other character in place, so a value with one matches no id
/// and needs no separate check.
fn canonical_id(value: &str) -> String {
    const UPPER: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ'";
    const SUFFIX: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345'";
    let char_at = |i: usize| format!("substr({value}, {}, 1)", i + 1);
    let suffix: Vec<String> = (0..3)
        .map(|chunk| {
            let bits: Vec<String> = (0..5)
                .map(|i| {
                    format!(
                        "(CASE WHEN strpos({UPPER}, {}) > 0 THEN {} ELSE 0 END)",
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
                "(CASE WHEN ((strpos({SUFFIX}, upper({} COLLATE \"C\")) - 1) & {}) <> 0 \
                 THEN upper({c} COLLATE \"C\") ELSE lower({c} COLLATE \"C\") END)",
                char_at(15 + i / 5),
                1 << (i % 5),
                c = char_at(i)
            )
        })
        .collect();
    let body = format!("substr({value}, 1, 15)");
    format!(
        "(CASE length({value}) WHEN 15 THEN {value} || {suffix} \
         WHEN 18 THEN (CASE WHEN {body} = lower({body} COLLATE \"C\") \
         OR {body} = upper({body} COLLATE \"C\") THEN {restored} ELSE {body} END) \
         || upper(substr({value}, 16, 3) COLLATE \"C\") END)",
        suffix = suffix.join(" || "),
        restored = restored.join(" || "),
    )
}

/// Joins grounds with ` OR ` inside parentheses; no ground at all is `FALSE`.
struct Or<'q> {
    query: &'q mut QueryBuilder<Postgres>,
    grounds: usize,
}

impl<'q> Or<'q> {
    fn new(query: &'q mut QueryBuilder<Postgres>) -> Self {
        query.push("(");
        Self { query, grounds: 0 }
    }

    /// The query, positioned for the next ground.
    fn next(&mut self) -> &mut QueryBuilder<Postgres> {
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
