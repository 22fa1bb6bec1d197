//! Structured record queries on SQLite: a [`ValidQuery`] compiled to one `SELECT` with every
//! value bound, field names included (as JSON paths), the sharing filter applied in the
//! database and keyset pagination; field-level security is stripped afterwards.
//!
//! A field's value is typed by `json_type`, so a stored value of another JSON type is NULL,
//! as in the reference evaluator ([`heddle_records::query`]). Every condition is wrapped to be
//! two-valued (`COALESCE(…, FALSE)`), so `NOT` and `ne` match NULL the way the reference does.
//! Text compares with SQLite's default `BINARY` collation, which is bytewise UTF-8.

use heddle_records::query::{
    FieldTest, Number, Operand, Position, Predicate, QueryField, SortKey, SortValue, Test,
    ValueKind,
};
use heddle_records::{Org, OrgUser, Record, ValidQuery};
use heddle_types::TenantId;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::record_visibility::push_sharing_filter;
use super::records::record_from_row;
use crate::StoreError;
use crate::records::{QueryPage, RecordQueryError, VisibleRecord};

/// One page of `query` as `user` reads it.
pub(super) async fn query_records(
    pool: &SqlitePool,
    tenant_id: TenantId,
    org: &Org,
    user: &OrgUser,
    query: &ValidQuery,
) -> Result<QueryPage, RecordQueryError> {
    query.recheck(org, user)?;
    let mut sql = QueryBuilder::<Sqlite>::new(
        "SELECT r.id, r.object, r.owner_id, r.fields FROM records r WHERE r.tenant_id = ",
    );
    sql.push_bind(tenant_id.as_uuid());
    sql.push(" AND r.object = ");
    sql.push_bind(query.object().to_owned());
    if !push_sharing_filter(&mut sql, org, user, query.object())? {
        return Ok(QueryPage::default());
    }
    if let Some(filter) = query.filter() {
        sql.push(" AND ");
        push_predicate(&mut sql, filter);
    }
    if let Some(position) = query.after() {
        sql.push(" AND ");
        push_after(&mut sql, query.order_by(), position);
    }
    sql.push(" ORDER BY ");
    for key in query.order_by() {
        push_value(&mut sql, &key.field);
        sql.push(if key.descending {
            " DESC NULLS LAST, "
        } else {
            " ASC NULLS FIRST, "
        });
    }
    // One row more than the page tells whether there is a next page.
    sql.push("r.id ASC LIMIT ");
    sql.push_bind(i64::from(query.limit()) + 1);
    let rows = sql
        .build()
        .fetch_all(pool)
        .await
        .map_err(StoreError::from)?;
    let mut records = rows
        .iter()
        .map(record_from_row)
        .collect::<Result<Vec<Record>, StoreError>>()?;
    let page_size = usize::try_from(query.limit()).unwrap_or(usize::MAX);
    let next_cursor = if records.len() > page_size {
        records.truncate(page_size);
        records.last().map(|last| query.cursor_after(last))
    } else {
        None
    };
    let records = records
        .into_iter()
        .map(|record| {
            let (fields, removed_fields) = query.visible_fields(org, user, &record);
            VisibleRecord {
                record: Record { fields, ..record },
                removed_fields,
            }
        })
        .collect();
    Ok(QueryPage {
        records,
        next_cursor,
    })
}

/// Appends the field's typed value: NULL when missing, JSON null or of another JSON type.
fn push_value(sql: &mut QueryBuilder<Sqlite>, field: &QueryField) {
    let (name, kind) = match field {
        QueryField::Id => {
            sql.push("r.id");
            return;
        }
        QueryField::OwnerId => {
            sql.push("r.owner_id");
            return;
        }
        QueryField::Field { name, kind } => (name, *kind),
    };
    let test = match kind {
        ValueKind::Text => "= 'text' THEN ",
        ValueKind::Number => "IN ('integer', 'real') THEN ",
        // json_extract (and json_each's atom) yield 1 and 0 for JSON true and false.
        ValueKind::Boolean => "IN ('true', 'false') THEN ",
    };
    if name.contains(['"', '\\']) {
        // A JSON path cannot quote these characters; look the key up instead.
        sql.push("(SELECT CASE WHEN j.type ");
        sql.push(test);
        sql.push("j.atom END FROM json_each(r.fields) j WHERE j.key = ");
        sql.push_bind(name.clone());
        sql.push(")");
        return;
    }
    // A bound JSON path, not SQL text.
    let path = format!("$.\"{name}\"");
    sql.push("(CASE WHEN json_type(r.fields, ");
    sql.push_bind(path.clone());
    sql.push(") ");
    sql.push(test);
    sql.push("json_extract(r.fields, ");
    sql.push_bind(path);
    sql.push(") END)");
}

fn push_number(sql: &mut QueryBuilder<Sqlite>, number: &Number) {
    match (number.as_i64(), number.as_f64()) {
        (Some(int), _) => sql.push_bind(int),
        // Integers beyond i64 become doubles here, as SQLite's JSON functions make them.
        (None, Some(float)) => sql.push_bind(float),
        (None, None) => sql.push("NULL"),
    };
}

fn push_operand(sql: &mut QueryBuilder<Sqlite>, operand: &Operand) {
    match operand {
        Operand::Text(text) => {
            sql.push_bind(text.clone());
        }
        Operand::Number(number) => push_number(sql, number),
        Operand::Boolean(b) => {
            sql.push_bind(i64::from(*b));
        }
        // Both stored forms of the id; only ever inside `IN (…)`.
        Operand::Id(id) => {
            sql.push_bind(id.as_str().to_owned());
            sql.push(", ");
            sql.push_bind(id.to_15().to_owned());
        }
    }
}

fn push_sort_value(sql: &mut QueryBuilder<Sqlite>, value: &SortValue) {
    match value {
        SortValue::Null => {
            sql.push("NULL");
        }
        SortValue::Text(text) => {
            sql.push_bind(text.clone());
        }
        SortValue::Number(number) => push_number(sql, number),
        SortValue::Boolean(b) => {
            sql.push_bind(i64::from(*b));
        }
    }
}

fn push_predicate(sql: &mut QueryBuilder<Sqlite>, predicate: &Predicate) {
    match predicate {
        Predicate::And(all) => push_group(sql, all, " AND ", "TRUE"),
        Predicate::Or(any) => push_group(sql, any, " OR ", "FALSE"),
        Predicate::Not(inner) => {
            sql.push("(NOT ");
            push_predicate(sql, inner);
            sql.push(")");
        }
        Predicate::Test(test) => push_test(sql, test),
    }
}

fn push_group(sql: &mut QueryBuilder<Sqlite>, members: &[Predicate], joiner: &str, empty: &str) {
    if members.is_empty() {
        sql.push(empty);
        return;
    }
    sql.push("(");
    for (i, member) in members.iter().enumerate() {
        if i > 0 {
            sql.push(joiner);
        }
        push_predicate(sql, member);
    }
    sql.push(")");
}

/// `COALESCE(value <op> operand, FALSE)`: two-valued, false on NULL.
fn push_compare(sql: &mut QueryBuilder<Sqlite>, field: &QueryField, op: &str, operand: &Operand) {
    sql.push("COALESCE(");
    push_value(sql, field);
    sql.push(op);
    push_operand(sql, operand);
    sql.push(", FALSE)");
}

fn push_in(sql: &mut QueryBuilder<Sqlite>, field: &QueryField, operands: &[Operand]) {
    if operands.is_empty() {
        sql.push("FALSE");
        return;
    }
    sql.push("COALESCE(");
    push_value(sql, field);
    sql.push(" IN (");
    for (i, operand) in operands.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        push_operand(sql, operand);
    }
    sql.push("), FALSE)");
}

fn push_eq(sql: &mut QueryBuilder<Sqlite>, field: &QueryField, operand: &Operand) {
    if matches!(operand, Operand::Id(_)) {
        push_in(sql, field, std::slice::from_ref(operand));
    } else {
        push_compare(sql, field, " = ", operand);
    }
}

fn push_test(sql: &mut QueryBuilder<Sqlite>, test: &FieldTest) {
    let field = &test.field;
    match &test.test {
        Test::Eq(operand) => push_eq(sql, field, operand),
        Test::Ne(operand) => {
            sql.push("(NOT ");
            push_eq(sql, field, operand);
            sql.push(")");
        }
        Test::Lt(operand) => push_compare(sql, field, " < ", operand),
        Test::Le(operand) => push_compare(sql, field, " <= ", operand),
        Test::Gt(operand) => push_compare(sql, field, " > ", operand),
        Test::Ge(operand) => push_compare(sql, field, " >= ", operand),
        Test::In(operands) => push_in(sql, field, operands),
        Test::StartsWith(prefix) | Test::Contains(prefix) => {
            // instr is case-sensitive and finds '' at 1, as str::starts_with/contains do.
            sql.push("COALESCE(instr(");
            push_value(sql, field);
            sql.push(", ");
            sql.push_bind(prefix.clone());
            sql.push(if matches!(test.test, Test::StartsWith(_)) {
                ") = 1, FALSE)"
            } else {
                ") > 0, FALSE)"
            });
        }
        Test::IsNull(null) => {
            sql.push("(");
            push_value(sql, field);
            sql.push(if *null { " IS NULL)" } else { " IS NOT NULL)" });
        }
    }
}

/// Rows after `position` in the query's order: for each key, strictly after its value, or
/// equal and after on the remaining keys; finally a greater id.
fn push_after(sql: &mut QueryBuilder<Sqlite>, keys: &[SortKey], position: &Position) {
    for (key, value) in keys.iter().zip(&position.values) {
        sql.push("(");
        push_key_after(sql, key, value);
        sql.push(" OR (");
        if matches!(value, SortValue::Null) {
            sql.push("(");
            push_value(sql, &key.field);
            sql.push(" IS NULL)");
        } else {
            sql.push("COALESCE(");
            push_value(sql, &key.field);
            sql.push(" = ");
            push_sort_value(sql, value);
            sql.push(", FALSE)");
        }
        sql.push(" AND ");
    }
    sql.push("r.id > ");
    sql.push_bind(position.id.as_str().to_owned());
    for _ in keys.iter().zip(&position.values) {
        sql.push("))");
    }
}

/// Strictly after `value` on one key: null sorts first ascending, last descending.
fn push_key_after(sql: &mut QueryBuilder<Sqlite>, key: &SortKey, value: &SortValue) {
    match (key.descending, value) {
        (false, SortValue::Null) => {
            sql.push("(");
            push_value(sql, &key.field);
            sql.push(" IS NOT NULL)");
        }
        (true, SortValue::Null) => {
            sql.push("FALSE");
        }
        (false, value) => {
            sql.push("COALESCE(");
            push_value(sql, &key.field);
            sql.push(" > ");
            push_sort_value(sql, value);
            sql.push(", FALSE)");
        }
        (true, value) => {
            sql.push("(");
            push_value(sql, &key.field);
            sql.push(" IS NULL OR COALESCE(");
            push_value(sql, &key.field);
            sql.push(" < ");
            push_sort_value(sql, value);
            sql.push(", FALSE))");
        }
    }
}
