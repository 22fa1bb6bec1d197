//! Elasticsearch bulk API: `POST <base>/_bulk`, `Content-Type: application/x-ndjson`, per
//! event an action line and a document line, the body ending in a newline:
//!
//! ```text
//! {"create":{"_index":"heddle-audit","_id":"<tenant>-<seq>"}}
//! {"@timestamp":"<occurred_at>","tenant_id":"…","seq":42,"leaf_hash":"…","event":{…}}
//! ```
//!
//! `create` (not `index`) with `_id = <tenant>-<seq>` makes the cluster the de-duplicator: a
//! second delivery of an event fails that item with 409 `version_conflict_engine_exception`,
//! which here means "already delivered" and counts as success. `create` also works on data
//! streams, which need `@timestamp`. The answer is HTTP 200 with `errors: false`, or
//! `errors: true` and one item per action in order: 2xx and 409 are fine, 429 and 5xx items
//! are retried, anything else (mapping errors …) is permanent. Whole-request 401/403/400/413
//! are permanent; 408/429/5xx retried. Auth is `ApiKey <encoded>` or `Basic`.

use heddle_crypto::{ExposeSecret, SecretString};
use heddle_outbound::{OutboundClient, OutboundRequest, Url, header};
use serde::Serialize;
use serde_json::Value;

use super::{body_detail, rejected, send_request};
use crate::config::{
    ElasticsearchAuth, ElasticsearchBulkConfig, RequestLimits, invalid, join_path, parse_endpoint,
    require_secret,
};
use crate::error::scrub;
use crate::event::Envelope;
use crate::{DeliveryFailure, SiemEvent, SinkConfigError};

const KIND: &str = "elasticsearch_bulk";
const DEFAULT_LIMITS: RequestLimits = RequestLimits {
    max_events: 1000,
    max_bytes: 5_000_000,
};
const CEILING: RequestLimits = RequestLimits {
    max_events: 100_000,
    max_bytes: 100 * 1024 * 1024,
};
/// Only what classification needs, to keep bulk responses small.
const FILTER_PATH: &str = "errors,items.*.status,items.*.error.type,items.*.error.reason";

#[derive(Debug, Clone)]
pub(super) struct ElasticsearchSink {
    endpoint: Url,
    index: String,
    /// The whole `Authorization` value.
    authorization: Option<SecretString>,
}

#[derive(Debug, Serialize)]
struct Action<'a> {
    create: ActionMeta<'a>,
}

#[derive(Debug, Serialize)]
struct ActionMeta<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id")]
    id: String,
}

#[derive(Debug, Serialize)]
struct Document<'a> {
    #[serde(rename = "@timestamp", skip_serializing_if = "Option::is_none")]
    timestamp: Option<&'a str>,
    #[serde(flatten)]
    envelope: Envelope<'a>,
}

impl ElasticsearchSink {
    pub(super) fn new(
        config: ElasticsearchBulkConfig,
    ) -> Result<(Self, RequestLimits), SinkConfigError> {
        let base = parse_endpoint(KIND, "url", &config.url)?;
        let mut endpoint = join_path(KIND, &base, "/_bulk")?;
        endpoint.set_query(Some(&format!("filter_path={FILTER_PATH}")));
        check_index_name(&config.index)?;
        let authorization = match config.auth {
            None => None,
            Some(ElasticsearchAuth::ApiKey(encoded)) => {
                require_secret(KIND, "auth.api_key", &encoded)?;
                Some(SecretString::from(format!(
                    "ApiKey {}",
                    encoded.expose_secret().trim()
                )))
            }
            Some(ElasticsearchAuth::Basic { username, password }) => {
                if username.is_empty() || username.contains(':') {
                    return Err(invalid(
                        KIND,
                        "`auth.basic.username` must be non-empty and contain no colon",
                    ));
                }
                require_secret(KIND, "auth.basic.password", &password)?;
                let credentials = heddle_crypto::Zeroizing::new(format!(
                    "{username}:{}",
                    password.expose_secret()
                ));
                Some(SecretString::from(format!(
                    "Basic {}",
                    heddle_crypto::base64_encode(credentials.as_bytes())
                )))
            }
        };
        let limits = RequestLimits::resolve(
            KIND,
            config.max_events_per_request,
            config.max_request_bytes,
            DEFAULT_LIMITS,
            CEILING,
        )?;
        Ok((
            Self {
                endpoint,
                index: config.index,
                authorization,
            },
            limits,
        ))
    }

    /// Action line and document line, each ending in `\n`.
    pub(super) fn encode(&self, event: &SiemEvent) -> Result<Vec<u8>, serde_json::Error> {
        let mut entry = serde_json::to_vec(&Action {
            create: ActionMeta {
                index: &self.index,
                id: format!("{}-{}", event.tenant_id, event.seq),
            },
        })?;
        entry.push(b'\n');
        let timestamp = event
            .occurred_at()
            .and(event.event.get("occurred_at").and_then(Value::as_str));
        serde_json::to_writer(
            &mut entry,
            &Document {
                timestamp,
                envelope: event.envelope(),
            },
        )?;
        entry.push(b'\n');
        Ok(entry)
    }

    pub(super) async fn send(
        &self,
        client: &OutboundClient,
        events: &[SiemEvent],
        body: Vec<u8>,
    ) -> Result<(), (DeliveryFailure, usize)> {
        let secret = self
            .authorization
            .as_ref()
            .map(|value| value.expose_secret());
        let secrets: Vec<&str> = secret.into_iter().collect();
        let mut request =
            OutboundRequest::from_url(heddle_outbound::Method::POST, self.endpoint.clone())
                .body("application/x-ndjson", body);
        if let Some(value) = secret {
            request = request
                .secret_header(header::AUTHORIZATION, value)
                .map_err(|err| (DeliveryFailure::Transport(err), 0))?;
        }
        let response = send_request(client, request).await.map_err(|f| (f, 0))?;
        if !response.status().is_success() {
            let detail = response
                .json::<Value>()
                .ok()
                .and_then(|body| error_text(body.get("error")?))
                .map_or_else(
                    || body_detail(&response, &secrets),
                    |text| scrub(&text, &secrets),
                );
            return Err((rejected(&response, detail), 0));
        }
        let unexpected = |detail: &str| {
            (
                DeliveryFailure::UnexpectedResponse {
                    origin: response.origin().to_owned(),
                    status: response.status().as_u16(),
                    detail: detail.to_owned(),
                },
                0,
            )
        };
        let Ok(answer) = response.json::<Value>() else {
            return Err(unexpected("the bulk response is not json"));
        };
        match answer.get("errors").and_then(Value::as_bool) {
            Some(false) => return Ok(()),
            Some(true) => {}
            None => return Err(unexpected("the bulk response has no `errors` flag")),
        }
        let Some(items) = answer.get("items").and_then(Value::as_array) else {
            return Err(unexpected("the bulk response has no `items`"));
        };
        if items.len() != events.len() {
            return Err(unexpected(
                "the bulk response has a different number of items",
            ));
        }
        classify_items(response.origin(), events, items, &secrets)
    }
}

/// Walks the items in order. Returns the failure (if any item really failed) and how many
/// leading items succeeded.
fn classify_items(
    origin: &str,
    events: &[SiemEvent],
    items: &[Value],
    secrets: &[&str],
) -> Result<(), (DeliveryFailure, usize)> {
    let mut leading_ok = None;
    let mut failed = 0;
    let mut first_failure: Option<(u64, String)> = None;
    let mut any_permanent = false;
    for (position, (event, item)) in events.iter().zip(items).enumerate() {
        // `{"create": {"status": 201, …}}`: one key, the action.
        let result = item.as_object().and_then(|object| object.values().next());
        let status = result
            .and_then(|result| result.get("status"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let fine = (200..300).contains(&status) || status == 409;
        if fine {
            continue;
        }
        leading_ok.get_or_insert(position);
        failed += 1;
        let retryable = status == 429 || status == 408 || (500..600).contains(&status);
        any_permanent |= !retryable;
        if first_failure.is_none() {
            let reason = result
                .and_then(|result| result.get("error"))
                .and_then(error_text)
                .unwrap_or_else(|| format!("status {status}"));
            first_failure = Some((event.seq, scrub(&format!("{status} {reason}"), secrets)));
        }
    }
    match first_failure {
        None => Ok(()),
        Some((seq, reason)) => Err((
            DeliveryFailure::ItemsRejected {
                origin: origin.to_owned(),
                failed,
                total: events.len(),
                seq,
                reason,
                retryable: !any_permanent,
            },
            leading_ok.unwrap_or(0),
        )),
    }
}

/// `{"type": "…", "reason": "…"}` → `"type: reason"`; a plain string stays as it is.
fn error_text(error: &Value) -> Option<String> {
    if let Some(text) = error.as_str() {
        return Some(text.to_owned());
    }
    let kind = error.get("type").and_then(Value::as_str);
    let reason = error.get("reason").and_then(Value::as_str);
    match (kind, reason) {
        (Some(kind), Some(reason)) => Some(format!("{kind}: {reason}")),
        (Some(text), None) | (None, Some(text)) => Some(text.to_owned()),
        (None, None) => None,
    }
}

/// Elasticsearch's index name rules: lowercase, no `\ / * ? " < > | , #` or space, not
/// starting with `-`, `_` or `+`, not `.` or `..`, at most 255 bytes.
fn check_index_name(index: &str) -> Result<(), SinkConfigError> {
    let forbidden = |c: char| "\\/*?\"<>|, #:".contains(c) || c.is_control();
    let valid = !index.is_empty()
        && index.len() <= 255
        && index != "."
        && index != ".."
        && !index.starts_with(['-', '_', '+'])
        && !index.chars().any(|c| c.is_uppercase() || forbidden(c));
    if valid {
        Ok(())
    } else {
        Err(invalid(
            KIND,
            format!("`index` `{index}` is not a valid elasticsearch index name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn event(seq: u64) -> SiemEvent {
        SiemEvent {
            tenant_id: Uuid::nil(),
            seq,
            event: json!({"occurred_at": "2024-01-02T03:04:05Z"}),
            leaf_hash_hex: "00".into(),
        }
    }

    #[test]
    fn index_names_follow_elasticsearch_rules() {
        for good in ["heddle-audit", "logs-heddle-default", ".hidden", "a.b_c"] {
            assert!(check_index_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "Upper", "a b", "_under", "-dash", "a/b", "a,b", "..", "a#b", "a:b",
        ] {
            assert!(check_index_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn items_classify_conflicts_as_delivered_and_keep_the_leading_prefix() {
        let events: Vec<SiemEvent> = (1..=4).map(event).collect();
        let ok = json!({"create": {"status": 201}});
        let dup = json!({"create": {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}});
        let busy = json!({"create": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "busy"}}});
        let bad = json!({"create": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse"}}});

        assert!(
            classify_items(
                "o",
                &events,
                &[ok.clone(), dup.clone(), dup.clone(), ok.clone()],
                &[]
            )
            .is_ok()
        );

        let (failure, prefix) = classify_items(
            "o",
            &events,
            &[ok.clone(), dup.clone(), busy.clone(), ok.clone()],
            &[],
        )
        .unwrap_err();
        assert_eq!(prefix, 2);
        assert!(matches!(
            failure,
            DeliveryFailure::ItemsRejected {
                retryable: true,
                failed: 1,
                seq: 3,
                ..
            }
        ));

        let (failure, prefix) =
            classify_items("o", &events, &[bad, ok.clone(), busy, ok], &[]).unwrap_err();
        assert_eq!(prefix, 0);
        match failure {
            DeliveryFailure::ItemsRejected {
                retryable,
                failed,
                reason,
                ..
            } => {
                assert!(!retryable, "a mapping error is permanent");
                assert_eq!(failed, 2);
                assert!(reason.contains("mapper_parsing_exception"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn entries_are_create_actions_with_tenant_seq_ids() {
        let (sink, _) = ElasticsearchSink::new(ElasticsearchBulkConfig {
            url: "https://es.example.com:9200/prefix/".into(),
            index: "heddle-audit".into(),
            auth: None,
            max_events_per_request: None,
            max_request_bytes: None,
        })
        .unwrap();
        assert_eq!(sink.endpoint.path(), "/prefix/_bulk");
        let entry = String::from_utf8(sink.encode(&event(9)).unwrap()).unwrap();
        let lines: Vec<&str> = entry.split_terminator('\n').collect();
        assert_eq!(
            lines[0],
            r#"{"create":{"_index":"heddle-audit","_id":"00000000-0000-0000-0000-000000000000-9"}}"#
        );
        let doc: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(doc["@timestamp"], "2024-01-02T03:04:05Z");
        assert_eq!(doc["seq"], 9);
        assert!(entry.ends_with('\n'));
    }
}
