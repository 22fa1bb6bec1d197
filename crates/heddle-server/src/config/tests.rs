#![expect(
    clippy::result_large_err,
    reason = "figment's Jail fixes the closure's error type"
)]

use figment::Jail;

use super::*;

/// Runs `check` with `heddle.toml` holding `toml` and the given environment, inside a jail
/// that restores the environment and working directory afterwards.
fn with_sources(
    toml: &str,
    env: &[(&str, &str)],
    overrides: CliOverrides,
    check: impl FnOnce(ConfigSources),
) {
    Jail::expect_with(|jail| {
        jail.create_file("heddle.toml", toml)?;
        for (key, value) in env {
            jail.set_env(key, value);
        }
        check(ConfigSources::new(
            Path::new("heddle.toml"),
            true,
            &overrides,
        ));
        Ok(())
    });
}

#[test]
fn defaults_are_valid() {
    with_sources("", &[], CliOverrides::default(), |sources| {
        let config = sources.load().unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(
            config.effective_database_url(),
            "sqlite://heddle-data/heddle.db?mode=rwc"
        );
    });
}

#[test]
fn later_sources_override_earlier_ones() {
    with_sources(
        "listen = \"127.0.0.1:9000\"\n[http]\nmax_body_bytes = 4096\nrequest_timeout_secs = 7\n",
        &[
            ("HEDDLE_HTTP__MAX_BODY_BYTES", "8192"),
            ("HEDDLE_LISTEN", "127.0.0.1:9001"),
        ],
        CliOverrides {
            listen: Some("127.0.0.1:9002".parse().unwrap()),
            ..CliOverrides::default()
        },
        |sources| {
            let config = sources.load().unwrap();
            assert_eq!(config.http.request_timeout_secs, 7, "file beats defaults");
            assert_eq!(config.http.max_body_bytes, 8192, "env beats file");
            assert_eq!(config.listen.port(), 9002, "flag beats env");
        },
    );
}

#[test]
fn every_problem_is_reported_with_its_source() {
    with_sources(
        "[http]\ncors_allowed_origins = [\"*\"]\nmax_body_bytes = 10\n",
        &[("HEDDLE_REDIS_URL", "http://nope")],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
            assert!(keys.contains(&"http.cors_allowed_origins"), "{problems:?}");
            assert!(keys.contains(&"http.max_body_bytes"), "{problems:?}");
            assert!(keys.contains(&"redis_url"), "{problems:?}");
            let redis = problems.iter().find(|p| p.key == "redis_url").unwrap();
            assert!(redis.source.contains("HEDDLE_"), "{redis}");
            let body = problems
                .iter()
                .find(|p| p.key == "http.max_body_bytes")
                .unwrap();
            assert!(body.source.contains("heddle.toml"), "{body}");
        },
    );
}

#[test]
fn unknown_keys_and_wrong_types_are_errors() {
    with_sources("lisen = \"x\"\n", &[], CliOverrides::default(), |sources| {
        let problems = sources.load().unwrap_err();
        assert!(problems[0].message.contains("lisen"), "{problems:?}");
        assert!(problems[0].source.contains("heddle.toml"), "{problems:?}");
    });
    with_sources(
        "[http]\nmax_body_bytes = \"big\"\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            assert_eq!(problems[0].key, "http.max_body_bytes", "{problems:?}");
        },
    );
}

#[test]
fn test_variables_are_not_config() {
    with_sources(
        "",
        &[
            ("HEDDLE_TEST_DATABASE_URL", "postgres://x"),
            ("HEDDLE_CONFIG", "a.toml"),
        ],
        CliOverrides::default(),
        |sources| assert!(sources.load().is_ok()),
    );
}

#[test]
fn security_txt_is_checked() {
    with_sources(
        "[security_txt]\ncontact = [\"security@example.com\"]\nexpires = \"soon\"\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, ["security_txt.contact", "security_txt.expires"]);
        },
    );
}

#[test]
fn the_documented_example_matches_the_defaults() {
    let example = include_str!("../../../../examples/heddle.toml");
    with_sources(example, &[], CliOverrides::default(), |sources| {
        assert_eq!(sources.load().unwrap(), Config::default());
    });
}

#[test]
fn mail_defaults_to_the_log_and_smtp_is_configured_from_the_environment() {
    with_sources("", &[], CliOverrides::default(), |sources| {
        assert_eq!(sources.load().unwrap().mail, heddle_mail::MailConfig::Log);
    });
    with_sources(
        "",
        &[
            ("HEDDLE_MAIL__TRANSPORT", "smtp"),
            ("HEDDLE_MAIL__HOST", "127.0.0.1"),
            ("HEDDLE_MAIL__PORT", "2525"),
            ("HEDDLE_MAIL__TLS", "none"),
            (
                "HEDDLE_MAIL__FROM",
                "Northwind <no-reply@northwind.example>",
            ),
        ],
        CliOverrides::default(),
        |sources| {
            let config = sources.load().unwrap();
            assert_eq!(
                config.mail,
                heddle_mail::MailConfig::Smtp {
                    host: "127.0.0.1".to_owned(),
                    port: Some(2525),
                    tls: heddle_mail::SmtpTls::None,
                    username: None,
                    password_env: None,
                    from: "Northwind <no-reply@northwind.example>".to_owned(),
                    timeout_secs: heddle_mail::DEFAULT_SMTP_TIMEOUT_SECS,
                }
            );
        },
    );
}

#[test]
fn mail_settings_that_cannot_work_are_problems_at_load_time() {
    // Plaintext to a host that is not loopback would send codes in clear.
    with_sources(
        "[mail]\ntransport = \"smtp\"\nhost = \"smtp.example.com\"\ntls = \"none\"\nfrom = \"no-reply@example.com\"\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].key, "mail");
            assert!(problems[0].message.contains("loopback"), "{problems:?}");
            assert!(problems[0].source.contains("heddle.toml"), "{problems:?}");
        },
    );
    with_sources(
        "[mail]\ntransport = \"smtp\"\nhost = \"smtp.example.com\"\nfrom = \"not a mailbox\"\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            assert_eq!(problems[0].key, "mail", "{problems:?}");
            assert!(problems[0].message.contains("sender"), "{problems:?}");
        },
    );
    // A typo is refused rather than ignored, and `log` takes no settings.
    with_sources(
        "[mail]\ntransport = \"smtp\"\nhost = \"smtp.example.com\"\nfrom = \"a@example.com\"\npasword_env = \"X\"\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            assert!(problems[0].message.contains("pasword_env"), "{problems:?}");
        },
    );
    with_sources(
        "[mail]\ntransport = \"log\"\nhost = \"smtp.example.com\"\n",
        &[],
        CliOverrides::default(),
        |sources| assert!(sources.load().is_err()),
    );
}

#[test]
fn runtime_settings_follow_the_runtime_section() {
    with_sources("", &[], CliOverrides::default(), |sources| {
        let settings = sources.load().unwrap().runtime_settings();
        assert_eq!(settings.content, heddle_audit_log::ContentRecording::Digest);
        assert_eq!(settings.max_output_tokens, 1024);
        assert_eq!(settings.abandon_grace, std::time::Duration::from_secs(30));
        assert_eq!(settings.action_lease, std::time::Duration::from_secs(120));
        assert_eq!(
            settings.verification.code_ttl,
            std::time::Duration::from_secs(600)
        );
        assert_eq!(settings.verification.max_attempts, 5);
        assert_eq!(settings.verification.sender_name, "Heddle");
        assert!(!settings.providers.allow_private_network);
        assert!(!settings.mcp_upstreams.allow_private_network);
        assert!(settings.mcp_upstreams.allowed_hosts.is_empty());
    });
    with_sources("", &[], CliOverrides::default(), |sources| {
        let config = sources.load().unwrap();
        assert_eq!(config.runtime.action_worker_interval_secs, 5);
        assert_eq!(
            config.action_worker_interval(),
            std::time::Duration::from_secs(5)
        );
    });
    with_sources(
        "[runtime]\ncontent = \"sealed\"\nverification_sender_name = \"Northwind support\"\nproviders_allow_private_network = true\n",
        &[
            ("HEDDLE_RUNTIME__MAX_OUTPUT_TOKENS", "4096"),
            ("HEDDLE_RUNTIME__VERIFICATION_MAX_ATTEMPTS", "3"),
            ("HEDDLE_RUNTIME__ACTION_WORKER_INTERVAL_SECS", "1"),
        ],
        CliOverrides::default(),
        |sources| {
            let config = sources.load().unwrap();
            assert_eq!(
                config.action_worker_interval(),
                std::time::Duration::from_secs(1)
            );
            let settings = config.runtime_settings();
            assert_eq!(
                settings.content,
                heddle_audit_log::ContentRecording::Sealed {
                    scope: "tenant".to_owned()
                }
            );
            assert_eq!(settings.max_output_tokens, 4096);
            assert_eq!(settings.verification.max_attempts, 3);
            assert_eq!(settings.verification.sender_name, "Northwind support");
            assert!(settings.providers.allow_private_network);
        },
    );
}

#[test]
fn runtime_values_out_of_range_are_each_reported() {
    with_sources(
        "[runtime]\nmax_output_tokens = 0\nabandon_grace_secs = 0\nverification_code_ttl_secs = 5\nverification_max_attempts = 1000\naction_worker_interval_secs = 0\naction_lease_secs = 5\nverification_sender_name = \"\"\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "runtime.max_output_tokens",
                    "runtime.abandon_grace_secs",
                    "runtime.verification_code_ttl_secs",
                    "runtime.verification_max_attempts",
                    "runtime.action_worker_interval_secs",
                    "runtime.action_lease_secs",
                    "runtime.verification_sender_name",
                ]
            );
            assert!(problems.iter().all(|p| p.source.contains("heddle.toml")));
        },
    );
    with_sources(
        "",
        &[("HEDDLE_RUNTIME__ACTION_WORKER_INTERVAL_SECS", "3601")],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].key, "runtime.action_worker_interval_secs");
            assert!(problems[0].message.contains("3600"), "{problems:?}");
            assert!(
                problems[0].source.contains("HEDDLE_"),
                "names the environment: {problems:?}"
            );
        },
    );
    with_sources(
        "[runtime]\ncontent = \"plaintext\"\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            assert_eq!(problems[0].key, "runtime.content", "{problems:?}");
        },
    );
    with_sources(
        "",
        &[("HEDDLE_RUNTIME__MAX_OUTPUT_TOKEN", "10")],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            assert!(
                problems[0].message.contains("max_output_token"),
                "{problems:?}"
            );
        },
    );
}

#[test]
fn turns_are_exempt_from_the_request_timeout_but_have_a_backstop() {
    let config = Config::default();
    let backstop = config.turn_request_timeout();
    assert!(
        backstop
            > std::time::Duration::from_secs(u64::from(
                heddle_agents::config::MAX_TURN_TIMEOUT_SECONDS
            )),
        "{backstop:?}"
    );
}

#[test]
fn the_approval_webhook_is_checked_and_its_secret_comes_from_the_environment() {
    with_sources(
        "[runtime.approval_webhook]\nurl = \"ftp://hooks.example.com\"\nsecret_env = \"HEDDLE_HOOK_SECRET\"\nallow_private_addresses = [\"not a network\"]\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "runtime.approval_webhook.url",
                    "runtime.approval_webhook.secret_env",
                    "runtime.approval_webhook.allow_private_addresses",
                ]
            );
        },
    );
    with_sources(
        "[runtime.approval_webhook]\nurl = \"https://hooks.example.com/heddle\"\nsecret_env = \"HEDDLE_TEST_APPROVAL_SECRET_THAT_IS_NOT_SET\"\nconsole_url = \"https://heddle.example.com\"\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let config = sources.load().unwrap();
            // Valid settings; the missing secret stops the server at start with the name.
            let error = config.approval_webhook().unwrap_err();
            assert!(
                error.contains("HEDDLE_TEST_APPROVAL_SECRET_THAT_IS_NOT_SET"),
                "{error}"
            );
        },
    );
    with_sources("", &[], CliOverrides::default(), |sources| {
        assert!(
            sources
                .load()
                .unwrap()
                .approval_webhook()
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn mcp_upstream_reach_is_read_from_the_mcp_section_and_env() {
    with_sources(
        "[mcp]\nupstream_allowed_hosts = [\"mcp.example.com\", \"*.internal.example.com\"]\n",
        &[("HEDDLE_MCP__UPSTREAM_ALLOW_PRIVATE_NETWORK", "true")],
        CliOverrides::default(),
        |sources| {
            let settings = sources.load().unwrap().runtime_settings();
            let reach = &settings.mcp_upstreams;
            assert!(reach.allow_private_network);
            let hosts: Vec<String> = reach.allowed_hosts.iter().map(|h| h.to_string()).collect();
            assert_eq!(hosts, ["mcp.example.com", "*.internal.example.com"]);
        },
    );
    with_sources(
        "[mcp]\nupstream_allowed_hosts = [\"http://mcp.example.com\"]\n",
        &[],
        CliOverrides::default(),
        |sources| {
            let problems = sources.load().unwrap_err();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].key, "mcp.upstream_allowed_hosts");
            assert!(
                problems[0].message.contains("`http://mcp.example.com`"),
                "{problems:?}"
            );
        },
    );
}
