//! The import format: the records of one object from CSV or JSON, as [`ImportRow`]s.
//!
//! - **CSV**: a header row, then one record per row. `OwnerId` is required, `Id` optional,
//!   every other column a field API name of the object. Cells are converted by field type:
//!   number and currency to JSON numbers, boolean `true`/`false` (any letter case) to JSON
//!   booleans, everything else (dates, picklists, references included) kept as text. An empty
//!   cell means the field is absent.
//! - **JSON**: an array of objects, or JSON Lines (one object per line), with keys `Id`,
//!   `OwnerId` and field API names. Values are taken as they are; `null` means absent.
//!   Salesforce's `attributes` key (REST exports) is ignored.
//!
//! `Id` and `OwnerId` are parsed (15 or 18 characters, canonical 18-character form) and must
//! carry the object's and the user key prefix. Beyond that, values are not validated here:
//! [`crate::validate_fields`] does that before a write.
//!
//! Errors name the row, the line and the column, and **never quote a cell**: imports carry
//! personal data, and errors end up in logs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use crate::id::{RecordId, RecordIdError};
use crate::metadata::{FieldType, ObjectDef, USER_PREFIX};
use crate::org::UserId;

/// Errors reported before giving up on a file, so a large broken file stays readable.
pub const MAX_IMPORT_ERRORS: usize = 100;

/// One record to import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRow {
    /// The record id when the file gives one (canonical 18-character form).
    pub id: Option<RecordId>,
    pub owner_id: UserId,
    pub fields: BTreeMap<String, JsonValue>,
}

/// The two import formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Csv,
    /// A JSON array of objects, or JSON Lines.
    Json,
}

impl ImportFormat {
    /// The format a file name's extension names: `.csv`, or `.json` / `.jsonl` / `.ndjson`.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Self::Csv),
            "json" | "jsonl" | "ndjson" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Which part of a file a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportPlace {
    /// The CSV header row.
    Header,
    /// A data row, 1-based, the header not counted (JSON: the array element or the entry).
    Row(u64),
    /// The file as a whole (a JSON array that does not parse).
    File,
}

/// One problem: where (place, 1-based line when known, the column or JSON key at fault) and
/// what to do. Never carries a cell's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct ImportError {
    pub place: ImportPlace,
    pub line: Option<u64>,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.place {
            ImportPlace::Header => f.write_str("header")?,
            ImportPlace::Row(row) => write!(f, "row {row}")?,
            ImportPlace::File => f.write_str("file")?,
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Parses `text` in `format` as records of `object`; every problem found (up to
/// [`MAX_IMPORT_ERRORS`]) on failure.
pub fn parse_records(
    object: &ObjectDef,
    format: ImportFormat,
    text: &str,
) -> Result<Vec<ImportRow>, Vec<ImportError>> {
    match format {
        ImportFormat::Csv => parse_csv(object, text),
        ImportFormat::Json => parse_json(object, text),
    }
}

/// Parses CSV with a header row.
pub fn parse_csv(object: &ObjectDef, text: &str) -> Result<Vec<ImportRow>, Vec<ImportError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let mut errors = Collected::default();
    let header = match reader.headers() {
        Ok(header) => header.clone(),
        Err(e) => {
            errors.push(csv_error(ImportPlace::Header, &e));
            return Err(errors.0);
        }
    };
    let columns = csv_columns(object, &header, &mut errors);
    if !errors.0.is_empty() {
        return Err(errors.0);
    }

    let mut rows = Vec::new();
    let mut ids = Ids::default();
    let mut record = csv::StringRecord::new();
    let mut row: u64 = 0;
    loop {
        row += 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let at = At {
                    row,
                    line: record.position().map(csv::Position::line),
                };
                if let Some(parsed) = csv_row(object, &columns, &record, at, &mut errors)
                    && ids.first_sight(&parsed, at, &mut errors)
                {
                    rows.push(parsed);
                }
            }
            Err(e) => errors.push(csv_error(ImportPlace::Row(row), &e)),
        }
        if errors.full() {
            break;
        }
    }
    errors.into_result(rows)
}

/// Parses a JSON array of objects, or JSON Lines.
pub fn parse_json(object: &ObjectDef, text: &str) -> Result<Vec<ImportRow>, Vec<ImportError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut errors = Collected::default();
    let mut rows = Vec::new();
    let mut ids = Ids::default();
    if text.trim_start().starts_with('[') {
        let entries: Vec<JsonValue> = match serde_json::from_str(text) {
            Ok(entries) => entries,
            Err(e) => {
                errors.push(json_syntax_error(None, &e));
                return Err(errors.0);
            }
        };
        for (i, entry) in entries.into_iter().enumerate() {
            let at = At {
                row: u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1),
                line: None,
            };
            if let Some(parsed) = json_row(object, entry, at, &mut errors)
                && ids.first_sight(&parsed, at, &mut errors)
            {
                rows.push(parsed);
            }
            if errors.full() {
                break;
            }
        }
    } else {
        let mut row: u64 = 0;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            row += 1;
            let at = At {
                row,
                line: Some(u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1)),
            };
            match serde_json::from_str::<JsonValue>(line) {
                Ok(entry) => {
                    if let Some(parsed) = json_row(object, entry, at, &mut errors)
                        && ids.first_sight(&parsed, at, &mut errors)
                    {
                        rows.push(parsed);
                    }
                }
                Err(e) => errors.push(json_syntax_error(Some(at), &e)),
            }
            if errors.full() {
                break;
            }
        }
    }
    errors.into_result(rows)
}

#[derive(Debug, Clone, Copy)]
struct At {
    row: u64,
    line: Option<u64>,
}

impl At {
    fn error(self, column: Option<&str>, message: impl Into<String>) -> ImportError {
        ImportError {
            place: ImportPlace::Row(self.row),
            line: self.line,
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }
}

#[derive(Debug, Default)]
struct Collected(Vec<ImportError>);

impl Collected {
    fn push(&mut self, error: ImportError) {
        if !self.full() {
            self.0.push(error);
        }
    }

    fn full(&self) -> bool {
        self.0.len() >= MAX_IMPORT_ERRORS
    }

    fn into_result(self, rows: Vec<ImportRow>) -> Result<Vec<ImportRow>, Vec<ImportError>> {
        if self.0.is_empty() {
            Ok(rows)
        } else {
            Err(self.0)
        }
    }
}

/// Record ids seen so far, so a file cannot carry the same record twice.
#[derive(Debug, Default)]
struct Ids(BTreeMap<RecordId, u64>);

impl Ids {
    fn first_sight(&mut self, parsed: &ImportRow, at: At, errors: &mut Collected) -> bool {
        let Some(id) = &parsed.id else { return true };
        if let Some(first) = self.0.get(id) {
            errors.push(at.error(
                Some("Id"),
                format!("the same record id is already on row {first}"),
            ));
            return false;
        }
        self.0.insert(id.clone(), at.row);
        true
    }
}

/// What a CSV column holds.
#[derive(Debug, Clone)]
enum Column {
    Id,
    OwnerId,
    Field { name: String, kind: CellKind },
}

#[derive(Debug, Clone, Copy)]
enum CellKind {
    Number,
    Boolean,
    Text,
}

impl CellKind {
    fn of(field_type: &FieldType) -> Self {
        match field_type {
            FieldType::Number | FieldType::Currency => Self::Number,
            FieldType::Boolean => Self::Boolean,
            FieldType::Text { .. }
            | FieldType::Email
            | FieldType::Phone
            | FieldType::Date
            | FieldType::Picklist { .. }
            | FieldType::Reference { .. } => Self::Text,
        }
    }
}

fn csv_columns(
    object: &ObjectDef,
    header: &csv::StringRecord,
    errors: &mut Collected,
) -> Vec<Column> {
    let header_error = |column: Option<&str>, message: String| ImportError {
        place: ImportPlace::Header,
        line: Some(1),
        column: column.map(str::to_owned),
        message,
    };
    let mut seen = BTreeSet::new();
    let mut columns = Vec::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        // Header names are metadata, not data, so they may be quoted.
        let name = name.trim();
        if name.is_empty() {
            errors.push(header_error(
                None,
                format!("column {} has no name; name it or remove it", i + 1),
            ));
            continue;
        }
        if !seen.insert(name.to_owned()) {
            errors.push(header_error(
                Some(name),
                "appears twice; keep one".to_owned(),
            ));
            continue;
        }
        columns.push(match name {
            "Id" => Column::Id,
            "OwnerId" => Column::OwnerId,
            _ => match object.field(name) {
                Some(field) => Column::Field {
                    name: name.to_owned(),
                    kind: CellKind::of(&field.field_type),
                },
                None => {
                    errors.push(header_error(Some(name), unknown_field(object)));
                    continue;
                }
            },
        });
    }
    if !seen.contains("OwnerId") {
        errors.push(header_error(
            Some("OwnerId"),
            "is required: every record needs its owner's user id".to_owned(),
        ));
    }
    columns
}

fn csv_row(
    object: &ObjectDef,
    columns: &[Column],
    record: &csv::StringRecord,
    at: At,
    errors: &mut Collected,
) -> Option<ImportRow> {
    let before = errors.0.len();
    let mut id = None;
    let mut owner_id = None;
    let mut fields = BTreeMap::new();
    for (column, cell) in columns.iter().zip(record.iter()) {
        match column {
            Column::Id => id = parse_record_id(object, cell, at, errors),
            Column::OwnerId => owner_id = parse_owner(cell, at, errors),
            Column::Field { name, kind } => {
                if cell.is_empty() {
                    continue;
                }
                match convert_cell(*kind, cell) {
                    Ok(value) => {
                        fields.insert(name.clone(), value);
                    }
                    Err(message) => errors.push(at.error(Some(name), message)),
                }
            }
        }
    }
    let owner_id = owner_id?;
    (errors.0.len() == before).then_some(ImportRow {
        id,
        owner_id,
        fields,
    })
}

fn convert_cell(kind: CellKind, cell: &str) -> Result<JsonValue, &'static str> {
    match kind {
        CellKind::Text => Ok(JsonValue::String(cell.to_owned())),
        CellKind::Boolean => match cell.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(JsonValue::Bool(true)),
            "false" => Ok(JsonValue::Bool(false)),
            _ => Err("expects `true` or `false`"),
        },
        CellKind::Number => {
            const EXPECTED: &str = "expects a plain number such as `1234.5` (no thousands \
                                    separators, currency symbols or exponents)";
            let cell = cell.trim();
            let plain = cell
                .strip_prefix('-')
                .unwrap_or(cell)
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.');
            if !plain || cell.is_empty() {
                return Err(EXPECTED);
            }
            if let Ok(n) = cell.parse::<i64>() {
                return Ok(JsonValue::from(n));
            }
            cell.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(JsonValue::Number)
                .ok_or(EXPECTED)
        }
    }
}

fn json_row(
    object: &ObjectDef,
    entry: JsonValue,
    at: At,
    errors: &mut Collected,
) -> Option<ImportRow> {
    let JsonValue::Object(map) = entry else {
        errors.push(at.error(None, "expects a JSON object with `OwnerId` and field keys"));
        return None;
    };
    let before = errors.0.len();
    let mut id = None;
    let mut owner_id = None;
    let mut fields = BTreeMap::new();
    for (key, value) in map {
        match key.as_str() {
            "attributes" => {}
            "Id" | "OwnerId" => {
                let text = match &value {
                    JsonValue::Null => continue,
                    JsonValue::String(text) => text,
                    _ => {
                        errors.push(at.error(Some(&key), "expects a record id as a string"));
                        continue;
                    }
                };
                if key == "Id" {
                    id = parse_record_id(object, text, at, errors);
                } else {
                    owner_id = parse_owner(text, at, errors);
                }
            }
            _ if object.field(&key).is_none() => {
                errors.push(at.error(Some(&key), unknown_field(object)));
            }
            _ if value.is_null() => {}
            _ => {
                fields.insert(key, value);
            }
        }
    }
    if owner_id.is_none() && errors.0.len() == before {
        errors.push(at.error(
            Some("OwnerId"),
            "is required: every record needs its owner's user id",
        ));
    }
    let owner_id = owner_id?;
    (errors.0.len() == before).then_some(ImportRow {
        id,
        owner_id,
        fields,
    })
}

fn parse_record_id(
    object: &ObjectDef,
    cell: &str,
    at: At,
    errors: &mut Collected,
) -> Option<RecordId> {
    let cell = cell.trim();
    if cell.is_empty() {
        return None;
    }
    match RecordId::parse(cell) {
        Ok(id) if id.key_prefix() == object.key_prefix => Some(id),
        Ok(_) => {
            errors.push(at.error(
                Some("Id"),
                format!(
                    "is not a `{}` id: its key prefix (first 3 characters) must be `{}`",
                    object.api_name, object.key_prefix
                ),
            ));
            None
        }
        Err(e) => {
            errors.push(at.error(Some("Id"), id_problem(&e)));
            None
        }
    }
}

fn parse_owner(cell: &str, at: At, errors: &mut Collected) -> Option<UserId> {
    let cell = cell.trim();
    if cell.is_empty() {
        errors.push(at.error(
            Some("OwnerId"),
            "is empty; every record needs its owner's user id",
        ));
        return None;
    }
    match RecordId::parse(cell) {
        Ok(id) if id.key_prefix() == USER_PREFIX => Some(UserId(id.as_str().to_owned())),
        Ok(_) => {
            errors.push(at.error(
                Some("OwnerId"),
                format!("is not a user id: user ids start with `{USER_PREFIX}`"),
            ));
            None
        }
        Err(e) => {
            errors.push(at.error(Some("OwnerId"), id_problem(&e)));
            None
        }
    }
}

/// [`RecordIdError`]'s messages quote the input; these say the same without it.
fn id_problem(error: &RecordIdError) -> String {
    match error {
        RecordIdError::WrongLength { len, .. } => {
            format!("is not a record id: it has {len} characters, expected 15 or 18")
        }
        RecordIdError::InvalidCharacter { .. } => {
            "is not a record id: only 0-9, A-Z and a-z are allowed".to_owned()
        }
        RecordIdError::BadChecksum { .. } => {
            "is not a record id: its last 3 characters do not match the first 15 (a typo?)"
                .to_owned()
        }
        RecordIdError::BadKeyPrefix { .. } => "is not a record id".to_owned(),
    }
}

fn unknown_field(object: &ObjectDef) -> String {
    format!(
        "is not a field of `{}`; use `Id`, `OwnerId` or one of its field API names",
        object.api_name
    )
}

/// The csv crate's errors carry positions and sizes, never cell text; rebuilt to be sure.
fn csv_error(place: ImportPlace, error: &csv::Error) -> ImportError {
    let line = error.position().map(csv::Position::line);
    let message = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} cells; the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8; save the file as UTF-8".to_owned(),
        csv::ErrorKind::Io(_) => "could not be read".to_owned(),
        _ => "is not valid CSV".to_owned(),
    };
    ImportError {
        place,
        line,
        column: None,
        message,
    }
}

/// serde_json's syntax messages are fixed texts plus a position; they quote no input.
fn json_syntax_error(at: Option<At>, error: &serde_json::Error) -> ImportError {
    let message = match error.classify() {
        serde_json::error::Category::Eof => "ends in the middle of a JSON value".to_owned(),
        serde_json::error::Category::Syntax => format!(
            "is not valid JSON (at column {}); expects an object per line, or one array of \
             objects",
            error.column()
        ),
        serde_json::error::Category::Data | serde_json::error::Category::Io => {
            "expects an array of objects or one object per line".to_owned()
        }
    };
    match at {
        Some(at) => at.error(None, message),
        None => ImportError {
            place: ImportPlace::File,
            line: Some(u64::try_from(error.line()).unwrap_or(u64::MAX)),
            column: None,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use serde_json::json;

    use super::*;
    use crate::metadata::builtin_objects;

    fn object(name: &str) -> ObjectDef {
        builtin_objects()
            .into_iter()
            .find(|o| o.api_name == name)
            .unwrap()
    }

    fn id(prefix: &str, n: u64) -> RecordId {
        RecordId::generate(prefix, n).unwrap()
    }

    const OWNER_15: &str = "005000000000001";
    const OWNER_18: &str = "005000000000001AAA";
    const SECRET: &str = "Jane.Secret@example.com";

    fn failed(result: Result<Vec<ImportRow>, Vec<ImportError>>) -> Vec<ImportError> {
        match result {
            Ok(rows) => panic!("parsed {rows:?}"),
            Err(errors) => errors,
        }
    }

    #[test]
    fn csv_cells_are_converted_by_field_type() {
        let opp = id("006", 1);
        let text = format!(
            "Id,OwnerId,Name,Amount,CloseDate,StageName,AccountId\n\
             {opp},{OWNER_15},\"Big, \"\"quoted\"\" deal\",1250.50,2026-03-31,Proposal,\n\
             ,{OWNER_18},Small deal,-3,2026-04-01,Closed Won,{}\n",
            id("001", 9).to_15()
        );
        let rows = parse_csv(&object("Opportunity"), &text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, Some(opp));
        assert_eq!(
            rows[0].owner_id,
            UserId::new(OWNER_18),
            "canonical owner id"
        );
        assert_eq!(rows[0].fields["Name"], json!("Big, \"quoted\" deal"));
        assert_eq!(rows[0].fields["Amount"], json!(1250.5));
        assert_eq!(rows[0].fields["CloseDate"], json!("2026-03-31"));
        assert!(
            !rows[0].fields.contains_key("AccountId"),
            "empty cell = absent"
        );
        assert_eq!(rows[1].id, None);
        assert_eq!(rows[1].fields["Amount"], json!(-3));
        // References stay text; validate_fields canonicalizes them.
        assert_eq!(rows[1].fields["AccountId"], json!(id("001", 9).to_15()));

        let task = "OwnerId,Subject,IsHighPriority\n\
                    005000000000001,Call,TRUE\n\
                    005000000000001,Mail,false\n";
        let rows = parse_csv(&object("Task"), task).unwrap();
        assert_eq!(rows[0].fields["IsHighPriority"], json!(true));
        assert_eq!(rows[1].fields["IsHighPriority"], json!(false));
    }

    #[test]
    fn csv_header_problems_are_reported_together() {
        let text = "Id,Name,Nmae,Name,,Revenue\n";
        let errors = failed(parse_csv(&object("Account"), text));
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 5, "{shown:#?}");
        assert!(errors.iter().all(|e| e.place == ImportPlace::Header));
        assert!(shown.iter().any(|s| s.contains("column `Nmae`")));
        assert!(
            shown
                .iter()
                .any(|s| s.contains("column `Name`") && s.contains("twice"))
        );
        assert!(shown.iter().any(|s| s.contains("column 5 has no name")));
        assert!(
            shown
                .iter()
                .any(|s| s.contains("column `OwnerId`") && s.contains("required"))
        );
    }

    #[test]
    fn csv_row_errors_name_row_line_and_column_but_never_the_value() {
        let text = format!(
            "Id,OwnerId,LastName,Email,Birthdate\n\
             ,{OWNER_15},Doe,{SECRET},1980-01-01\n\
             {SECRET},{OWNER_15},Doe,,\n\
             ,,Roe,,\n\
             ,{SECRET},Poe,,\n\
             {},{OWNER_15},Loe,,\n\
             ,{OWNER_15},\"multi\nline\",{SECRET},\n\
             ,{OWNER_15},Too,many,cells,here\n\
             {},{OWNER_15},Dup,,\n\
             {},{OWNER_15},Dup,,\n",
            id("001", 1),
            id("003", 5),
            id("003", 5),
        );
        let errors = failed(parse_csv(&object("Contact"), &text));
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for s in &shown {
            assert!(!s.contains("Secret"), "{s}");
        }
        let at = |row: u64| {
            errors
                .iter()
                .find(|e| e.place == ImportPlace::Row(row))
                .unwrap_or_else(|| panic!("no error on row {row}: {shown:#?}"))
        };
        assert_eq!(at(2).column.as_deref(), Some("Id"));
        assert_eq!(at(2).line, Some(3));
        assert_eq!(at(3).column.as_deref(), Some("OwnerId"));
        assert_eq!(at(4).column.as_deref(), Some("OwnerId"));
        assert!(at(5).message.contains("`003`"), "{shown:#?}");
        assert!(at(7).message.contains("cells"), "{shown:#?}");
        // The quoted newline makes row 6 two lines long, so row 7 starts on line 9.
        assert_eq!(at(7).line, Some(9), "{shown:#?}");
        assert!(at(9).message.contains("row 8"), "{shown:#?}");
        assert!(errors.iter().all(|e| e.place != ImportPlace::Row(1)));
        assert!(errors.iter().all(|e| e.place != ImportPlace::Row(6)));
    }

    #[test]
    fn csv_numbers_and_booleans_must_be_plain() {
        for bad in ["1,000", "$12", "1e6", "12abc", "-", "1.2.3"] {
            let text = format!("OwnerId,Name,AnnualRevenue\n{OWNER_15},Acme,\"{bad}\"\n");
            let errors = failed(parse_csv(&object("Account"), &text));
            assert_eq!(errors[0].column.as_deref(), Some("AnnualRevenue"));
            assert!(!errors[0].to_string().contains(bad), "{}", errors[0]);
        }
        let text = format!("OwnerId,Subject,IsHighPriority\n{OWNER_15},Call,yes\n");
        let errors = failed(parse_csv(&object("Task"), &text));
        assert!(errors[0].message.contains("`true` or `false`"));
    }

    #[test]
    fn csv_with_a_byte_order_mark_parses() {
        let text = format!("\u{feff}OwnerId,Name\n{OWNER_15},Acme\n");
        assert_eq!(parse_csv(&object("Account"), &text).unwrap().len(), 1);
    }

    #[test]
    fn csv_errors_stop_at_the_cap() {
        let mut text = String::from("OwnerId,Name\n");
        for _ in 0..(MAX_IMPORT_ERRORS + 50) {
            text.push_str("nope,Acme\n");
        }
        assert_eq!(
            failed(parse_csv(&object("Account"), &text)).len(),
            MAX_IMPORT_ERRORS
        );
    }

    #[test]
    fn json_arrays_and_json_lines_parse_alike() {
        let case = id("500", 3);
        let array = json!([
            { "attributes": { "type": "Case" }, "Id": case.to_15(), "OwnerId": OWNER_15,
              "Subject": "Zip broke", "Status": "New", "Description": null },
            { "OwnerId": OWNER_18, "Subject": "Tent leaks", "Status": "Working" }
        ])
        .to_string();
        let lines = format!(
            "{{\"Id\":\"{}\",\"OwnerId\":\"{OWNER_15}\",\"Subject\":\"Zip broke\",\"Status\":\"New\",\"Description\":null}}\n\
             \n\
             {{\"OwnerId\":\"{OWNER_18}\",\"Subject\":\"Tent leaks\",\"Status\":\"Working\"}}\n",
            case.to_15()
        );
        let from_array = parse_json(&object("Case"), &array).unwrap();
        let from_lines = parse_json(&object("Case"), &lines).unwrap();
        assert_eq!(from_array, from_lines);
        assert_eq!(from_array[0].id, Some(case));
        assert!(
            !from_array[0].fields.contains_key("Description"),
            "null = absent"
        );
        assert_eq!(
            parse_records(&object("Case"), ImportFormat::Json, &lines).unwrap(),
            from_lines
        );
    }

    #[test]
    fn json_errors_name_the_entry_and_key_but_never_the_value() {
        let lines = format!(
            "{{\"OwnerId\":\"{OWNER_15}\",\"LastName\":\"Doe\"}}\n\
             {{\"OwnerId\":\"{OWNER_15}\",\"Emial\":\"{SECRET}\"}}\n\
             [\"{SECRET}\"]\n\
             {{\"LastName\":\"{SECRET}\"}}\n\
             {{\"OwnerId\":\"{OWNER_15}\",\"Email\":\"{SECRET}\"\n\
             {{\"OwnerId\":42}}\n"
        );
        let errors = failed(parse_json(&object("Contact"), &lines));
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for s in &shown {
            assert!(!s.contains("Secret"), "{s}");
        }
        assert_eq!(errors.len(), 5, "{shown:#?}");
        assert_eq!(errors[0].column.as_deref(), Some("Emial"));
        assert_eq!(errors[0].line, Some(2));
        assert_eq!(errors[1].place, ImportPlace::Row(3));
        assert_eq!(errors[2].column.as_deref(), Some("OwnerId"));
        assert_eq!(errors[3].line, Some(5));
        assert_eq!(errors[4].column.as_deref(), Some("OwnerId"));

        let broken = format!("[{{\"OwnerId\":\"{SECRET}\"");
        let errors = failed(parse_json(&object("Contact"), &broken));
        assert_eq!(errors[0].place, ImportPlace::File);
        assert!(!errors[0].to_string().contains("Secret"));
    }

    #[test]
    fn formats_follow_file_names() {
        assert_eq!(
            ImportFormat::from_file_name("Account.csv"),
            Some(ImportFormat::Csv)
        );
        assert_eq!(
            ImportFormat::from_file_name("Task.JSONL"),
            Some(ImportFormat::Json)
        );
        assert_eq!(
            ImportFormat::from_file_name("x.json"),
            Some(ImportFormat::Json)
        );
        assert_eq!(ImportFormat::from_file_name("README"), None);
    }
}
