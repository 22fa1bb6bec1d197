//! Sink configuration as JSON: every kind parses, mistakes are refused with a useful
//! message, and secrets stay out of `Debug` and errors.

use heddle_siem::{SiemSink, SinkConfig};
use serde_json::{Value, json};

fn parse(config: Value) -> Result<SinkConfig, serde_json::Error> {
    serde_json::from_value(config)
}

#[test]
fn every_kind_parses_with_defaults() {
    let configs = [
        json!({"kind": "webhook", "url": "https://siem.example.com/in", "secret": "s"}),
        json!({"kind": "splunk_hec", "url": "https://splunk.example.com:8088", "token": "t"}),
        json!({"kind": "datadog_logs", "api_key": "k"}),
        json!({"kind": "datadog_logs", "site": "datadoghq.eu", "api_key": "k"}),
        json!({"kind": "elasticsearch_bulk", "url": "https://es.example.com:9200"}),
    ];
    let kinds: Vec<&str> = configs
        .iter()
        .map(|config| {
            SiemSink::new(parse(config.clone()).unwrap())
                .unwrap()
                .kind()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "webhook",
            "splunk_hec",
            "datadog_logs",
            "datadog_logs",
            "elasticsearch_bulk"
        ]
    );
    let splunk = parse(configs[1].clone()).unwrap();
    let SinkConfig::SplunkHec(splunk) = splunk else {
        panic!("not splunk")
    };
    assert_eq!(splunk.source, "heddle");
    assert_eq!(splunk.sourcetype, "heddle:audit");
}

#[test]
fn unknown_kinds_and_fields_are_refused() {
    assert!(parse(json!({"kind": "syslog", "url": "udp://x"})).is_err());
    let typo =
        parse(json!({"kind": "splunk_hec", "url": "https://s", "token": "t", "idx": "main"}));
    assert!(typo.unwrap_err().to_string().contains("idx"));
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let config = parse(json!({
        "kind": "elasticsearch_bulk", "url": "https://es.example.com",
        "auth": {"basic": {"username": "heddle", "password": "hunter2-pw"}}
    }))
    .unwrap();
    assert!(!format!("{config:?}").contains("hunter2-pw"));
    let sink = SiemSink::new(config).unwrap();
    assert!(!format!("{sink:?}").contains("hunter2-pw"));
    assert!(!format!("{sink:?}").contains("aHVudGVy"), "nor its base64");

    let webhook =
        parse(json!({"kind": "webhook", "url": "https://x.example", "secret": "whsec_top"}))
            .unwrap();
    assert!(!format!("{:?}", SiemSink::new(webhook).unwrap()).contains("whsec_top"));
}

#[test]
fn invalid_configurations_say_what_is_wrong_without_echoing_urls() {
    let cases = [
        (
            json!({"kind": "webhook", "url": "ftp://x.example/?token=SECRETQ", "secret": "s"}),
            "http or https",
        ),
        (
            json!({"kind": "webhook", "url": "not a url ?token=SECRETQ", "secret": "s"}),
            "not a valid url",
        ),
        (
            json!({"kind": "webhook", "url": "https://user:SECRETQ@x.example/", "secret": "s"}),
            "credentials",
        ),
        (
            json!({"kind": "webhook", "url": "https://x.example/", "secret": "  "}),
            "`secret` must not be empty",
        ),
        (
            json!({"kind": "splunk_hec", "url": "https://s.example/?token=SECRETQ", "token": "t"}),
            "without query",
        ),
        (
            json!({"kind": "datadog_logs", "site": "evil.example/x?", "api_key": "k"}),
            "datadog site",
        ),
        (
            json!({"kind": "datadog_logs", "api_key": "k", "tags": ["a,b"]}),
            "contain no comma",
        ),
        (
            json!({"kind": "elasticsearch_bulk", "url": "https://es.example", "index": "Audit"}),
            "index name",
        ),
        (
            json!({"kind": "webhook", "url": "https://x.example/", "secret": "s", "max_events_per_request": 0}),
            "at least 1",
        ),
    ];
    for (config, expected) in cases {
        let err = SiemSink::new(parse(config.clone()).unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(expected), "{config}: {text}");
        assert!(!text.contains("SECRETQ"), "{text}");
    }
}
