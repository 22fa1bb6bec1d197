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
