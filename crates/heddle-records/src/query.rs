//! Structured record queries: what an agent sends instead of query text, its validation against
//! the org's metadata and the user's field-level security, a pure reference evaluator (filter
//! and order) and the opaque keyset cursor. Storage engines compile a [`ValidQuery`] to
//! parameterized SQL and are property-tested against [`ValidQuery::matches`] and
//! [`ValidQuery::compare`].
//!
//! # The request
//!
//! ```json
//! {
//!   "object": "Opportunity",
//!   "fields": ["Name", "Amount", "StageName"],
//!   "filter": {"and": [
//!     {"field": "Amount", "op": "gt", "value": 1000},
//!     {"or": [
//!       {"field": "StageName", "op": "in", "value": ["Proposal", "Negotiation"]},
//!       {"not": {"field": "CloseDate", "op": "lt", "value": "2026-01-01"}}
//!     ]}
//!   ]},
//!   "order_by": [{"field": "Amount", "direction": "desc"}],
//!   "limit": 20,
//!   "cursor": null
//! }
//! ```
//!
//! `fields` empty means every field the user can read; `limit` defaults to [`DEFAULT_LIMIT`].
//!
//! # Semantics
//!
//! **The value of a field** on a record is typed by the field's type: a JSON string for text,
//! email, phone, picklist, date and reference fields; a JSON number for number and currency; a
//! JSON boolean for boolean. A missing field, a JSON null and a stored value of another JSON
//! type are all *null*: matched only by `is_null: true`, sorted as null. `Id` and `OwnerId`
//! are the record's own id and owner (never null).
//!
//! **Conditions are two-valued.** `eq`, `lt`, `le`, `gt`, `ge`, `in`, `starts_with` and
//! `contains` are false on null; `ne` is exactly `not eq`, so it matches null (as SOQL's `!=`
//! does); `not` negates. `and`/`or` need at least one member.
//!
//! | field type | operators | value |
//! |---|---|---|
//! | text, email, phone | all | a string |
//! | picklist | `eq` `ne` `in` `is_null` | one of the values (any letter case; the declared spelling is used) |
//! | number, currency | `eq` `ne` `lt` `le` `gt` `ge` `in` `is_null` | a number |
//! | date | `eq` `ne` `lt` `le` `gt` `ge` `in` `is_null` | `"YYYY-MM-DD"`, a real date |
//! | boolean | `eq` `ne` `is_null` | `true` or `false` |
//! | reference, `Id`, `OwnerId` | `eq` `ne` `in` `is_null` | a 15- or 18-character id |
//!
//! `is_null` takes `true` or `false`; `in` takes 1 to [`MAX_IN_VALUES`] values. An id matches a
//! stored value that is its canonical 18-character form or its exact 15-character form (the
//! write path stores the 18-character form; imports may hold the 15).
//!
//! **Comparison.** Text, dates (as strings) and ids compare bytewise on UTF-8, which is code
//! point order (PostgreSQL `COLLATE "C"`, SQLite `BINARY`); `starts_with` and `contains` are
//! case-sensitive. Numbers compare by exact value (`1` equals `1.0`), in the reference and in
//! PostgreSQL (`numeric`); SQLite holds integers beyond 64 bits and decimal fractions as
//! doubles, so there only values a double represents exactly are guaranteed to agree. Booleans:
//! `false < true`. Picklists sort as text, not in declaration order as Salesforce does.
//!
//! **Order.** The sort keys in turn, then `Id` ascending as the final tie-break, so the order
//! is total. Null sorts first ascending and last descending (Salesforce's default `NULLS
//! FIRST` for `ASC`).
//!
//! **Access.** The object must be readable; every field named in `fields`, `filter` or
//! `order_by` must exist and be readable by the user, so that neither results, errors nor
//! ordering leak an unreadable field. The refusal is the same whether the field does not exist
//! or the user lacks field-level security on it. `Id` and `OwnerId` are always readable with
//! the object.
//!
//! **Cursor.** Opaque: base64url of a small JSON holding a fingerprint of object, filter and
//! order (so a cursor of another query is refused), the last row's sort values and its id.
//! Sort fields are readable by construction, so the cursor carries nothing the user could
//! not read. The page size may change between pages.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

/// The JSON number operands and sort values carry (re-exported so storage needs no `serde_json`).
pub use serde_json::Number;

use crate::access::{AccessDenied, check_fields_readable, strip_inaccessible};
use crate::id::{RecordId, RecordIdError};
use crate::metadata::{FieldType, ObjectDef};
use crate::org::{Org, OrgUser, Record};

/// Rows per page when the query gives no `limit`.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u32 = 200;
/// The most `order_by` entries accepted.
pub const MAX_ORDER_BY: usize = 3;
/// How deeply `and`/`or`/`not` may nest; a bare condition is depth 1.
pub const MAX_FILTER_DEPTH: usize = 8;
/// The most conditions one filter may hold.
pub const MAX_CONDITIONS: usize = 50;
/// The most values one `in` may list.
pub const MAX_IN_VALUES: usize = 100;

/// A structured query over one object's records: the JSON body of a record query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    /// The object's API name.
    pub object: String,
    /// Field API names to return; empty returns every field the user can read.
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Up to [`MAX_ORDER_BY`] sort keys; `Id` ascending always breaks ties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<OrderBy>,
    /// Rows per page, 1 to [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page, to read the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A filter: `{"and": [..]}`, `{"or": [..]}`, `{"not": {..}}` or a condition
/// `{"field": .., "op": .., "value": ..}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawFilter", into = "RawFilter")]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Condition(Condition),
}

/// One test of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    #[serde(default)]
    pub value: JsonValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    StartsWith,
    Contains,
    IsNull,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Lt => "lt",
            Self::Le => "le",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::In => "in",
            Self::StartsWith => "starts_with",
            Self::Contains => "contains",
            Self::IsNull => "is_null",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBy {
    pub field: String,
    #[serde(default)]
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// The wire shape of a [`Filter`]: every key optional, so that a wrong mix gets a message
/// saying what a filter looks like rather than serde's "did not match any variant".
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    and: Option<Vec<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    or: Option<Vec<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not: Option<Box<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    op: Option<Op>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<JsonValue>,
}

const FILTER_SHAPE: &str = "a filter is exactly one of {\"and\": [filters]}, {\"or\": [filters]}, \
                            {\"not\": filter} or a condition {\"field\": name, \"op\": operator, \
                            \"value\": value}";

impl TryFrom<RawFilter> for Filter {
    type Error = &'static str;

    fn try_from(raw: RawFilter) -> Result<Self, Self::Error> {
        let condition = raw.field.is_some() || raw.op.is_some() || raw.value.is_some();
        match (raw.and, raw.or, raw.not, condition) {
            (Some(all), None, None, false) => Ok(Self::And(all)),
            (None, Some(any), None, false) => Ok(Self::Or(any)),
            (None, None, Some(inner), false) => Ok(Self::Not(inner)),
            (None, None, None, true) => match (raw.field, raw.op) {
                (Some(field), Some(op)) => Ok(Self::Condition(Condition {
                    field,
                    op,
                    value: raw.value.unwrap_or(JsonValue::Null),
                })),
                _ => Err("a condition needs `field`, `op` and `value`"),
            },
            _ => Err(FILTER_SHAPE),
        }
    }
}

impl From<Filter> for RawFilter {
    fn from(filter: Filter) -> Self {
        let mut raw = Self {
            and: None,
            or: None,
            not: None,
            field: None,
            op: None,
            value: None,
        };
        match filter {
            Filter::And(all) => raw.and = Some(all),
            Filter::Or(any) => raw.or = Some(any),
            Filter::Not(inner) => raw.not = Some(inner),
            Filter::Condition(c) => {
                raw.field = Some(c.field);
                raw.op = Some(c.op);
                raw.value = Some(c.value);
            }
        }
        raw
    }
}

/// Where a refused field was named, so the caller knows which part of the query to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldUse {
    Select,
    Filter,
    OrderBy,
}

impl fmt::Display for FieldUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Select => "in `fields`",
            Self::Filter => "in `filter`",
            Self::OrderBy => "in `order_by`",
        })
    }
}

/// Why a query is refused. Messages say what to change; they name fields and operators the
/// caller wrote but never quote a filter value (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("object `{object}` does not exist or is not readable by this user")]
    ObjectNotReadable { object: String },
    #[error(
        "field `{field}` ({used_in}) does not exist on object `{object}` or is not readable by \
         this user"
    )]
    FieldNotReadable {
        object: String,
        field: String,
        used_in: FieldUse,
    },
    #[error(
        "operator `{op}` does not apply to field `{field}` of type {field_type}; use one of: \
         {allowed}"
    )]
    OperatorNotAllowed {
        field: String,
        op: Op,
        field_type: &'static str,
        allowed: String,
    },
    #[error("`{op}` on field `{field}` ({field_type}) needs {expected}, not {got}")]
    WrongValueType {
        field: String,
        op: Op,
        field_type: &'static str,
        expected: &'static str,
        got: &'static str,
    },
    #[error("the value for picklist `{field}` is not one of its values: {allowed}")]
    NotAPicklistValue { field: String, allowed: String },
    #[error("the value for date field `{field}` is not a calendar date written YYYY-MM-DD")]
    InvalidDate { field: String },
    #[error("the value for `{field}` is not a record id: {reason}")]
    InvalidRecordId {
        field: String,
        reason: RecordIdError,
    },
    #[error("the value for `{field}` contains a NUL character, which no stored text can hold")]
    NulInText { field: String },
    #[error("`in` on field `{field}` needs 1 to {max} values, not {got}")]
    InListSize {
        field: String,
        got: usize,
        max: usize,
    },
    #[error("an `{group}` needs at least one filter")]
    EmptyGroup { group: &'static str },
    #[error("the filter nests deeper than {max} levels; flatten nested `and`/`or`/`not`")]
    FilterTooDeep { max: usize },
    #[error("the filter has more than {max} conditions; use `in` for lists of values")]
    TooManyConditions { max: usize },
    #[error("`order_by` takes at most {max} fields, not {got}")]
    TooManyOrderBy { got: usize, max: usize },
    #[error("`limit` must be between 1 and {max}, not {got}")]
    LimitOutOfRange { got: u32, max: u32 },
    #[error("the cursor is malformed; pass back `next_cursor` exactly as it was returned")]
    InvalidCursor,
    #[error(
        "the cursor belongs to a different query (object, filter or order_by changed); run the \
         query again without a cursor"
    )]
    ForeignCursor,
}

/// A query checked against the org and the user, with typed values ready for SQL. Only
/// [`validate_query`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidQuery {
    object: String,
    selection: Selection,
    filter: Option<Predicate>,
    order_by: Vec<SortKey>,
    limit: u32,
    after: Option<Position>,
    fingerprint: String,
}

/// Which fields a page returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every field the user can read.
    Readable,
    /// These fields (all readable when validated).
    Fields(BTreeSet<String>),
}

/// A validated filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Not(Box<Predicate>),
    Test(FieldTest),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldTest {
    pub field: QueryField,
    pub test: Test,
}

/// A field a query reads, with the JSON type its values must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryField {
    /// The record id (`Id`), text.
    Id,
    /// The owner (`OwnerId`), text.
    OwnerId,
    /// A field of the record's `fields`.
    Field { name: String, kind: ValueKind },
}

impl QueryField {
    /// The type of the field's values: text for `Id` and `OwnerId`.
    pub fn kind(&self) -> ValueKind {
        match self {
            Self::Id | Self::OwnerId => ValueKind::Text,
            Self::Field { kind, .. } => *kind,
        }
    }
}

/// The JSON type a field's values have; a stored value of any other type is null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A JSON string (text, email, phone, picklist, date, reference).
    Text,
    /// A JSON number (number, currency).
    Number,
    /// A JSON boolean.
    Boolean,
}

/// A validated test. Operands have the field's [`ValueKind`], except [`Operand::Id`].
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Eq(Operand),
    Ne(Operand),
    Lt(Operand),
    Le(Operand),
    Gt(Operand),
    Ge(Operand),
    In(Vec<Operand>),
    StartsWith(String),
    Contains(String),
    /// `true`: the value is null; `false`: it is not.
    IsNull(bool),
}

/// A typed query value.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Text(String),
    Number(Number),
    Boolean(bool),
    /// Equal to a stored text that is this id's canonical 18-character or its 15-character
    /// form (only in `Eq`, `Ne` and `In`).
    Id(RecordId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: QueryField,
    pub descending: bool,
}

/// Where the previous page ended: its last row's sort values (one per sort key) and id.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub values: Vec<SortValue>,
    pub id: RecordId,
}

/// A sort key's value on one row.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Null,
    Text(String),
    Number(Number),
    Boolean(bool),
}

/// Checks `query` against the org's metadata and `user`'s access (see the module docs) and
/// types its values.
pub fn validate_query(
    org: &Org,
    user: &OrgUser,
    query: &RecordQuery,
) -> Result<ValidQuery, QueryError> {
    let def = readable_object(org, user, &query.object)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(QueryError::LimitOutOfRange {
            got: limit,
            max: MAX_LIMIT,
        });
    }
    if query.order_by.len() > MAX_ORDER_BY {
        return Err(QueryError::TooManyOrderBy {
            got: query.order_by.len(),
            max: MAX_ORDER_BY,
        });
    }
    let resolver = Resolver { org, user, def };
    let selection = if query.fields.is_empty() {
        Selection::Readable
    } else {
        for name in &query.fields {
            resolver.resolve(name, FieldUse::Select)?;
        }
        Selection::Fields(query.fields.iter().cloned().collect())
    };
    let filter = match &query.filter {
        Some(filter) => {
            let mut conditions = 0;
            Some(resolver.predicate(filter, 1, &mut conditions)?)
        }
        None => None,
    };
    let order_by = query
        .order_by
        .iter()
        .map(|key| {
            let (field, _) = resolver.resolve(&key.field, FieldUse::OrderBy)?;
            Ok(SortKey {
                field,
                descending: key.direction == Direction::Desc,
            })
        })
        .collect::<Result<Vec<_>, QueryError>>()?;
    let fingerprint = fingerprint(&query.object, query.filter.as_ref(), &query.order_by);
    let after = match &query.cursor {
        Some(cursor) => Some(decode_cursor(cursor, &fingerprint, &order_by)?),
        None => None,
    };
    Ok(ValidQuery {
        object: query.object.clone(),
        selection,
        filter,
        order_by,
        limit,
        after,
        fingerprint,
    })
}

impl ValidQuery {
    pub fn object(&self) -> &str {
        &self.object
    }

    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    pub fn filter(&self) -> Option<&Predicate> {
        self.filter.as_ref()
    }

    /// The sort keys, without the final `Id` tie-break.
    pub fn order_by(&self) -> &[SortKey] {
        &self.order_by
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Where the previous page ended, when the query carried a cursor.
    pub fn after(&self) -> Option<&Position> {
        self.after.as_ref()
    }

    /// Re-checks that `user` may read the object and every field the query names: a store
    /// calls it so that a query validated for one user cannot run for another.
    pub fn recheck(&self, org: &Org, user: &OrgUser) -> Result<(), QueryError> {
        let def = readable_object(org, user, &self.object)?;
        let resolver = Resolver { org, user, def };
        if let Selection::Fields(names) = &self.selection {
            for name in names {
                resolver.resolve(name, FieldUse::Select)?;
            }
        }
        let mut named = Vec::new();
        if let Some(filter) = &self.filter {
            filter.fields(&mut named);
        }
        for field in named {
            resolver.resolve_kind(field, FieldUse::Filter)?;
        }
        for key in &self.order_by {
            resolver.resolve_kind(&key.field, FieldUse::OrderBy)?;
        }
        Ok(())
    }

    /// Whether `record` is of the query's object and passes its filter (visibility is the
    /// caller's separate check; the cursor is [`Self::is_after_cursor`]).
    pub fn matches(&self, record: &Record) -> bool {
        record.object == self.object && self.filter.as_ref().is_none_or(|p| p.matches(record))
    }

    /// The query's total order: the sort keys, then `Id` ascending.
    pub fn compare(&self, a: &Record, b: &Record) -> Ordering {
        for key in &self.order_by {
            let order = compare_values(&value_of(a, &key.field), &value_of(b, &key.field));
            let order = if key.descending {
                order.reverse()
            } else {
                order
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        a.id.cmp(&b.id)
    }

    /// Whether `record` comes after the cursor's position in [`Self::compare`]'s order (true
    /// without a cursor): the keyset condition the SQL applies.
    pub fn is_after_cursor(&self, record: &Record) -> bool {
        let Some(position) = &self.after else {
            return true;
        };
        for (key, value) in self.order_by.iter().zip(&position.values) {
            let order = compare_values(&value_of(record, &key.field), &value.as_val());
            let order = if key.descending {
                order.reverse()
            } else {
                order
            };
            if order != Ordering::Equal {
                return order == Ordering::Greater;
            }
        }
        record.id > position.id
    }

    /// The cursor of a page that ended with `record`.
    pub fn cursor_after(&self, record: &Record) -> String {
        let values: Vec<JsonValue> = self
            .order_by
            .iter()
            .map(|key| match value_of(record, &key.field) {
                Val::Null => JsonValue::Null,
                Val::Text(s) => JsonValue::String(s.to_owned()),
                Val::Number(n) => JsonValue::Number(n.clone()),
                Val::Boolean(b) => JsonValue::Bool(b),
            })
            .collect();
        let body = serde_json::json!({
            "q": self.fingerprint,
            "k": values,
            "id": record.id.as_str(),
        });
        URL_SAFE_NO_PAD.encode(body.to_string())
    }

    /// The fields of `record` the page returns: [`strip_inaccessible`], then the selection.
    /// The removed names are those stripped, limited to the selection when there is one.
    pub fn visible_fields(
        &self,
        org: &Org,
        user: &OrgUser,
        record: &Record,
    ) -> (BTreeMap<String, JsonValue>, Vec<String>) {
        let (mut fields, mut removed) = strip_inaccessible(org, user, record);
        if let Selection::Fields(names) = &self.selection {
            fields.retain(|name, _| names.contains(name));
            removed.retain(|name| names.contains(name));
        }
        (fields, removed)
    }
}

impl Predicate {
    /// The two-valued evaluation described in the module docs.
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            Self::And(all) => all.iter().all(|p| p.matches(record)),
            Self::Or(any) => any.iter().any(|p| p.matches(record)),
            Self::Not(inner) => !inner.matches(record),
            Self::Test(test) => test.matches(record),
        }
    }

    fn fields<'a>(&'a self, out: &mut Vec<&'a QueryField>) {
        match self {
            Self::And(all) | Self::Or(all) => all.iter().for_each(|p| p.fields(out)),
            Self::Not(inner) => inner.fields(out),
            Self::Test(test) => out.push(&test.field),
        }
    }
}

impl FieldTest {
    pub fn matches(&self, record: &Record) -> bool {
        let value = value_of(record, &self.field);
        let ordered = |operand: &Operand, accept: fn(Ordering) -> bool| {
            !matches!(value, Val::Null) && accept(compare_values(&value, &operand.as_val()))
        };
        match &self.test {
            Test::Eq(operand) => equals(&value, operand),
            Test::Ne(operand) => !equals(&value, operand),
            Test::Lt(operand) => ordered(operand, Ordering::is_lt),
            Test::Le(operand) => ordered(operand, Ordering::is_le),
            Test::Gt(operand) => ordered(operand, Ordering::is_gt),
            Test::Ge(operand) => ordered(operand, Ordering::is_ge),
            Test::In(operands) => operands.iter().any(|o| equals(&value, o)),
            Test::StartsWith(prefix) => {
                matches!(value, Val::Text(s) if s.starts_with(prefix.as_str()))
            }
            Test::Contains(part) => matches!(value, Val::Text(s) if s.contains(part.as_str())),
            Test::IsNull(null) => matches!(value, Val::Null) == *null,
        }
    }
}

/// A field's typed value on one record, borrowed.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Null,
    Text(&'a str),
    Number(&'a Number),
    Boolean(bool),
}

fn value_of<'a>(record: &'a Record, field: &QueryField) -> Val<'a> {
    match field {
        QueryField::Id => Val::Text(record.id.as_str()),
        QueryField::OwnerId => Val::Text(&record.owner_id.0),
        QueryField::Field { name, kind } => match (kind, record.fields.get(name)) {
            (ValueKind::Text, Some(JsonValue::String(s))) => Val::Text(s),
            (ValueKind::Number, Some(JsonValue::Number(n))) => Val::Number(n),
            (ValueKind::Boolean, Some(JsonValue::Bool(b))) => Val::Boolean(*b),
            _ => Val::Null,
        },
    }
}

impl Operand {
    fn as_val(&self) -> Val<'_> {
        match self {
            Self::Text(s) => Val::Text(s),
            Self::Number(n) => Val::Number(n),
            Self::Boolean(b) => Val::Boolean(*b),
            Self::Id(id) => Val::Text(id.as_str()),
        }
    }
}

impl SortValue {
    fn as_val(&self) -> Val<'_> {
        match self {
            Self::Null => Val::Null,
            Self::Text(s) => Val::Text(s),
            Self::Number(n) => Val::Number(n),
            Self::Boolean(b) => Val::Boolean(*b),
        }
    }
}

fn equals(value: &Val<'_>, operand: &Operand) -> bool {
    match (value, operand) {
        (Val::Null, _) => false,
        (Val::Text(s), Operand::Id(id)) => *s == id.as_str() || *s == id.to_15(),
        (_, Operand::Id(_)) => false,
        (value, operand) => compare_values(value, &operand.as_val()) == Ordering::Equal,
    }
}

/// Ascending order with null first. Values of different kinds never meet in a valid query;
/// they are ordered by kind so the order stays total.
fn compare_values(a: &Val<'_>, b: &Val<'_>) -> Ordering {
    fn rank(v: &Val<'_>) -> u8 {
        match v {
            Val::Null => 0,
            Val::Boolean(_) => 1,
            Val::Number(_) => 2,
            Val::Text(_) => 3,
        }
    }
    match (a, b) {
        (Val::Text(x), Val::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Val::Number(x), Val::Number(y)) => compare_numbers(x, y),
        (Val::Boolean(x), Val::Boolean(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A JSON number as the reference compares it: exactly.
enum Exact {
    Int(i128),
    Float(f64),
}

fn exact(n: &Number) -> Exact {
    if let Some(i) = n.as_i64() {
        Exact::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Exact::Int(i128::from(u))
    } else {
        // Without `arbitrary_precision` every other JSON number is a finite f64.
        Exact::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// Numbers by exact mathematical value, mixing integers and floats without rounding.
fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    match (exact(a), exact(b)) {
        (Exact::Int(x), Exact::Int(y)) => x.cmp(&y),
        (Exact::Float(x), Exact::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Exact::Int(x), Exact::Float(y)) => compare_int_float(x, y),
        (Exact::Float(x), Exact::Int(y)) => compare_int_float(y, x).reverse(),
    }
}

fn compare_int_float(int: i128, float: f64) -> Ordering {
    // JSON integers fit in ±2^64; a float beyond that is beyond every integer here.
    const BOUND: f64 = 18_446_744_073_709_551_616.0;
    if float >= BOUND {
        return Ordering::Less;
    }
    if float <= -BOUND {
        return Ordering::Greater;
    }
    let whole = float.trunc();
    // Exact: `whole` is integral and within ±2^64.
    #[allow(clippy::cast_possible_truncation, reason = "integral and in range")]
    let whole_int = whole as i128;
    int.cmp(&whole_int).then_with(|| {
        if float > whole {
            Ordering::Less
        } else if float < whole {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    })
}

/// What validation needs to know about a field's type.
#[derive(Debug, Clone, Copy)]
enum Class<'a> {
    /// Text, email or phone (the name).
    Text(&'static str),
    Picklist(&'a [String]),
    /// Number or currency (the name).
    Number(&'static str),
    Date,
    Boolean,
    /// `Id`, `OwnerId` or a reference (the name).
    Id(&'static str),
}

const TEXT_OPS: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::Lt,
    Op::Le,
    Op::Gt,
    Op::Ge,
    Op::In,
    Op::StartsWith,
    Op::Contains,
    Op::IsNull,
];
const ORDERED_OPS: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::Lt,
    Op::Le,
    Op::Gt,
    Op::Ge,
    Op::In,
    Op::IsNull,
];
const EQUALITY_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::In, Op::IsNull];
const BOOLEAN_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::IsNull];

impl Class<'_> {
    fn name(self) -> &'static str {
        match self {
            Self::Text(name) | Self::Number(name) | Self::Id(name) => name,
            Self::Picklist(_) => "picklist",
            Self::Date => "date",
            Self::Boolean => "boolean",
        }
    }

    fn ops(self) -> &'static [Op] {
        match self {
            Self::Text(_) => TEXT_OPS,
            Self::Number(_) | Self::Date => ORDERED_OPS,
            Self::Picklist(_) | Self::Id(_) => EQUALITY_OPS,
            Self::Boolean => BOOLEAN_OPS,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Self::Text(_) => "a string",
            Self::Picklist(_) => "a string, one of the picklist values",
            Self::Number(_) => "a number",
            Self::Date => "a date string YYYY-MM-DD",
            Self::Boolean => "true or false",
            Self::Id(_) => "a record id string of 15 or 18 characters",
        }
    }

    fn kind(self) -> ValueKind {
        match self {
            Self::Number(_) => ValueKind::Number,
            Self::Boolean => ValueKind::Boolean,
            Self::Text(_) | Self::Picklist(_) | Self::Date | Self::Id(_) => ValueKind::Text,
        }
    }
}

fn class_of(field_type: &FieldType) -> Class<'_> {
    match field_type {
        FieldType::Text { .. } => Class::Text("text"),
        FieldType::Email => Class::Text("email"),
        FieldType::Phone => Class::Text("phone"),
        FieldType::Number => Class::Number("number"),
        FieldType::Currency => Class::Number("currency"),
        FieldType::Date => Class::Date,
        FieldType::Picklist { values } => Class::Picklist(values),
        FieldType::Reference { .. } => Class::Id("reference"),
        FieldType::Boolean => Class::Boolean,
    }
}

fn readable_object<'a>(
    org: &'a Org,
    user: &OrgUser,
    object: &str,
) -> Result<&'a ObjectDef, QueryError> {
    let not_readable = || QueryError::ObjectNotReadable {
        object: object.to_owned(),
    };
    let def = org.object(object).ok_or_else(not_readable)?;
    check_fields_readable(org, user, object, std::iter::empty()).map_err(|_| not_readable())?;
    Ok(def)
}

struct Resolver<'a> {
    org: &'a Org,
    user: &'a OrgUser,
    def: &'a ObjectDef,
}

impl<'a> Resolver<'a> {
    /// The field `name` when the user can read it. Existence is checked only after
    /// readability, and both fail alike, so the refusal reveals nothing describe would not.
    fn resolve(
        &self,
        name: &str,
        used_in: FieldUse,
    ) -> Result<(QueryField, Class<'a>), QueryError> {
        match name {
            "Id" => return Ok((QueryField::Id, Class::Id("id"))),
            "OwnerId" => return Ok((QueryField::OwnerId, Class::Id("id"))),
            _ => {}
        }
        let refused = || QueryError::FieldNotReadable {
            object: self.def.api_name.clone(),
            field: name.to_owned(),
            used_in,
        };
        check_fields_readable(self.org, self.user, &self.def.api_name, [name]).map_err(|err| {
            match err {
                AccessDenied::FieldNotReadable { .. } => refused(),
                _ => QueryError::ObjectNotReadable {
                    object: self.def.api_name.clone(),
                },
            }
        })?;
        let field = self.def.field(name).ok_or_else(refused)?;
        let class = class_of(&field.field_type);
        Ok((
            QueryField::Field {
                name: name.to_owned(),
                kind: class.kind(),
            },
            class,
        ))
    }

    /// Re-resolves an already typed field; its type must not have changed either.
    fn resolve_kind(&self, field: &QueryField, used_in: FieldUse) -> Result<(), QueryError> {
        let name = match field {
            QueryField::Id => "Id",
            QueryField::OwnerId => "OwnerId",
            QueryField::Field { name, .. } => name,
        };
        let (resolved, _) = self.resolve(name, used_in)?;
        if resolved.kind() == field.kind() {
            Ok(())
        } else {
            Err(QueryError::FieldNotReadable {
                object: self.def.api_name.clone(),
                field: name.to_owned(),
                used_in,
            })
        }
    }

    fn predicate(
        &self,
        filter: &Filter,
        depth: usize,
        conditions: &mut usize,
    ) -> Result<Predicate, QueryError> {
        if depth > MAX_FILTER_DEPTH {
            return Err(QueryError::FilterTooDeep {
                max: MAX_FILTER_DEPTH,
            });
        }
        let group = |members: &[Filter], name: &'static str, conditions: &mut usize| {
            if members.is_empty() {
                return Err(QueryError::EmptyGroup { group: name });
            }
            members
                .iter()
                .map(|m| self.predicate(m, depth + 1, conditions))
                .collect::<Result<Vec<_>, _>>()
        };
        match filter {
            Filter::And(all) => Ok(Predicate::And(group(all, "and", conditions)?)),
            Filter::Or(any) => Ok(Predicate::Or(group(any, "or", conditions)?)),
            Filter::Not(inner) => Ok(Predicate::Not(Box::new(self.predicate(
                inner,
                depth + 1,
                conditions,
            )?))),
            Filter::Condition(condition) => {
                *conditions += 1;
                if *conditions > MAX_CONDITIONS {
                    return Err(QueryError::TooManyConditions {
                        max: MAX_CONDITIONS,
                    });
                }
                Ok(Predicate::Test(self.condition(condition)?))
            }
        }
    }

    fn condition(&self, condition: &Condition) -> Result<FieldTest, QueryError> {
        let (field, class) = self.resolve(&condition.field, FieldUse::Filter)?;
        let op = condition.op;
        let name = &condition.field;
        if !class.ops().contains(&op) {
            return Err(QueryError::OperatorNotAllowed {
                field: name.clone(),
                op,
                field_type: class.name(),
                allowed: class
                    .ops()
                    .iter()
                    .map(|o| o.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let value = &condition.value;
        let wrong = |expected: &'static str| QueryError::WrongValueType {
            field: name.clone(),
            op,
            field_type: class.name(),
            expected,
            got: json_type(value),
        };
        let test = match op {
            Op::IsNull => Test::IsNull(value.as_bool().ok_or_else(|| wrong("true or false"))?),
            Op::StartsWith | Op::Contains => {
                let text = value.as_str().ok_or_else(|| wrong("a string"))?;
                let text = no_nul(name, text)?.to_owned();
                if op == Op::StartsWith {
                    Test::StartsWith(text)
                } else {
                    Test::Contains(text)
                }
            }
            Op::In => {
                let values = value
                    .as_array()
                    .ok_or_else(|| wrong("an array of values"))?;
                if values.is_empty() || values.len() > MAX_IN_VALUES {
                    return Err(QueryError::InListSize {
                        field: name.clone(),
                        got: values.len(),
                        max: MAX_IN_VALUES,
                    });
                }
                Test::In(
                    values
                        .iter()
                        .map(|v| operand(name, op, class, v))
                        .collect::<Result<_, _>>()?,
                )
            }
            Op::Eq => Test::Eq(operand(name, op, class, value)?),
            Op::Ne => Test::Ne(operand(name, op, class, value)?),
            Op::Lt => Test::Lt(operand(name, op, class, value)?),
            Op::Le => Test::Le(operand(name, op, class, value)?),
            Op::Gt => Test::Gt(operand(name, op, class, value)?),
            Op::Ge => Test::Ge(operand(name, op, class, value)?),
        };
        Ok(FieldTest { field, test })
    }
}

/// Types one comparison value by the field's class.
fn operand(
    field: &str,
    op: Op,
    class: Class<'_>,
    value: &JsonValue,
) -> Result<Operand, QueryError> {
    let wrong = || QueryError::WrongValueType {
        field: field.to_owned(),
        op,
        field_type: class.name(),
        expected: class.expected(),
        got: json_type(value),
    };
    match class {
        Class::Text(_) => {
            let text = value.as_str().ok_or_else(wrong)?;
            Ok(Operand::Text(no_nul(field, text)?.to_owned()))
        }
        Class::Picklist(values) => {
            let given = value.as_str().ok_or_else(wrong)?;
            // As the write path does: the exact spelling, else any letter case.
            values
                .iter()
                .find(|v| v.as_str() == given)
                .or_else(|| values.iter().find(|v| v.eq_ignore_ascii_case(given)))
                .map(|v| Operand::Text(v.clone()))
                .ok_or_else(|| QueryError::NotAPicklistValue {
                    field: field.to_owned(),
                    allowed: values
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        }
        Class::Number(_) => value
            .as_number()
            .map(|n| Operand::Number(n.clone()))
            .ok_or_else(wrong),
        Class::Date => {
            let text = value.as_str().ok_or_else(wrong)?;
            if is_date(text) {
                Ok(Operand::Text(text.to_owned()))
            } else {
                Err(QueryError::InvalidDate {
                    field: field.to_owned(),
                })
            }
        }
        Class::Boolean => value.as_bool().map(Operand::Boolean).ok_or_else(wrong),
        Class::Id(_) => {
            let text = value.as_str().ok_or_else(wrong)?;
            RecordId::parse(text)
                .map(Operand::Id)
                .map_err(|reason| QueryError::InvalidRecordId {
                    field: field.to_owned(),
                    reason,
                })
        }
    }
}

/// PostgreSQL text cannot hold NUL, so no stored text contains one; refusing it keeps both
/// engines (and the reference) on the same side.
fn no_nul<'v>(field: &str, text: &'v str) -> Result<&'v str, QueryError> {
    if text.contains('\0') {
        Err(QueryError::NulInText {
            field: field.to_owned(),
        })
    } else {
        Ok(text)
    }
}

fn json_type(value: &JsonValue) -> &'static str {
    match value {
        JsonValue::Null => "null",
        JsonValue::Bool(_) => "a boolean",
        JsonValue::Number(_) => "a number",
        JsonValue::String(_) => "a string",
        JsonValue::Array(_) => "an array",
        JsonValue::Object(_) => "an object",
    }
}

/// `YYYY-MM-DD` naming a day that exists (leap years included), years 0001 to 9999.
fn is_date(input: &str) -> bool {
    let bytes = input.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = input.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1 && (1..=days_in_month).contains(&day)
}

/// FNV-1a (64-bit) of the JSON of object, filter and order: stable across builds and Rust
/// versions, enough to tell queries apart (a forged cursor only seeks within what the user
/// may query anyway).
fn fingerprint(object: &str, filter: Option<&Filter>, order_by: &[OrderBy]) -> String {
    struct Fnv(u64);
    impl std::io::Write for Fnv {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            for byte in buf {
                self.0 ^= u64::from(*byte);
                self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    // Cannot fail: the writer never does, and every map key is a string.
    let _ = serde_json::to_writer(&mut hash, &(object, filter, order_by));
    format!("{:016x}", hash.0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorBody {
    q: String,
    k: Vec<JsonValue>,
    id: String,
}

fn decode_cursor(
    cursor: &str,
    fingerprint: &str,
    order_by: &[SortKey],
) -> Result<Position, QueryError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| QueryError::InvalidCursor)?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| QueryError::InvalidCursor)?;
    if body.q != fingerprint {
        return Err(QueryError::ForeignCursor);
    }
    if body.k.len() != order_by.len() {
        return Err(QueryError::InvalidCursor);
    }
    let values = order_by
        .iter()
        .zip(body.k)
        .map(|(key, value)| match (key.field.kind(), value) {
            (_, JsonValue::Null) => Ok(SortValue::Null),
            (ValueKind::Text, JsonValue::String(s)) => Ok(SortValue::Text(s)),
            (ValueKind::Number, JsonValue::Number(n)) => Ok(SortValue::Number(n)),
            (ValueKind::Boolean, JsonValue::Bool(b)) => Ok(SortValue::Boolean(b)),
            _ => Err(QueryError::InvalidCursor),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let id = RecordId::parse(&body.id).map_err(|_| QueryError::InvalidCursor)?;
    Ok(Position { values, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> Number {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn numbers_compare_exactly_across_integers_and_floats() {
        use Ordering::{Equal, Greater, Less};
        let cases = [
            ("1", "1.0", Equal),
            ("-0.0", "0", Equal),
            ("2", "2.5", Less),
            ("-2", "-2.5", Greater),
            ("9007199254740993", "9007199254740992.0", Greater),
            ("18446744073709551615", "1e20", Less),
            ("-9223372036854775808", "-1e19", Greater),
            ("0.5", "0.25", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_numbers(&num(a), &num(b)), want, "{a} vs {b}");
            assert_eq!(
                compare_numbers(&num(b), &num(a)),
                want.reverse(),
                "{b} vs {a}"
            );
        }
    }

    #[test]
    fn dates_are_real_calendar_days() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2024-13-01"));
        assert!(!is_date("0000-01-01"));
        assert!(!is_date("2024-1-01"));
        assert!(!is_date("2024-01-01T00:00"));
    }
}
