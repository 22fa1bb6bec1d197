//! Address policy: what is refused by default, what an opt-in allows, and that refusals
//! happen before any connection.

use heddle_outbound::{
    AddressClass, OutboundClient, OutboundError, OutboundPolicy, OutboundRequest, StatusCode,
};

use crate::{Upstream, loopback_client};

#[tokio::test]
async fn loopback_is_refused_by_default_before_connecting() {
    let upstream = Upstream::start().await;
    let client = OutboundClient::new(OutboundPolicy::default()).unwrap();

    let err = client
        .send(OutboundRequest::get(&upstream.url("/target")).unwrap())
        .await
        .unwrap_err();

    match &err {
        OutboundError::BlockedAddress { class, .. } => assert_eq!(*class, AddressClass::Loopback),
        other => panic!("expected a blocked address, got {other:?}"),
    }
    assert!(err.is_blocked_by_policy());
    assert!(!err.is_transient());
    assert_eq!(upstream.target_hits(), 0, "nothing may reach the server");
}

#[tokio::test]
async fn loopback_is_reachable_when_opted_in() {
    let upstream = Upstream::start().await;
    let client = loopback_client(|_| {});

    let response = client
        .send(OutboundRequest::get(&upstream.url("/hello")).unwrap())
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), b"hello");
    assert_eq!(response.origin(), upstream.url(""));
}

#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_refused_by_the_resolver() {
    let upstream = Upstream::start().await;
    let client = OutboundClient::new(OutboundPolicy::default()).unwrap();
    let url = format!("http://localhost:{}/target", upstream.port());

    let err = client
        .send(OutboundRequest::get(&url).unwrap())
        .await
        .unwrap_err();

    match &err {
        OutboundError::BlockedAddress { host, class, .. } => {
            assert_eq!(host, "localhost");
            assert_eq!(*class, AddressClass::Loopback);
        }
        other => panic!("expected a blocked address, got {other:?}"),
    }
    assert_eq!(upstream.target_hits(), 0);
}

#[tokio::test]
async fn a_host_name_resolving_to_an_opted_in_address_connects_to_it() {
    let upstream = Upstream::start().await;
    // `localhost` may resolve to ::1 first; the opt-in covers both loopback addresses, and
    // only the vetted addresses are handed to the connector.
    let client = loopback_client(|_| {});
    let url = format!("http://localhost:{}/target", upstream.port());

    let response = client
        .send(OutboundRequest::get(&url).unwrap())
        .await
        .unwrap();

    assert_eq!(response.body(), b"target");
    assert_eq!(upstream.target_hits(), 1);
}

#[tokio::test]
async fn an_opt_in_for_one_address_does_not_open_its_neighbours() {
    let upstream = Upstream::start().await;
    let client = OutboundClient::new(OutboundPolicy {
        allow_private_addresses: vec!["127.0.0.2/32".parse().unwrap()],
        ..OutboundPolicy::default()
    })
    .unwrap();

    let err = client
        .send(OutboundRequest::get(&upstream.url("/target")).unwrap())
        .await
        .unwrap_err();

    assert!(
        matches!(err, OutboundError::BlockedAddress { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn cloud_metadata_and_private_literals_are_refused_without_traffic() {
    let client = OutboundClient::new(OutboundPolicy::default()).unwrap();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
        "http://2130706433/",
    ] {
        let err = client
            .send(OutboundRequest::get(url).unwrap())
            .await
            .unwrap_err();
        assert!(err.is_blocked_by_policy(), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn only_http_and_https_are_allowed() {
    let client = OutboundClient::new(OutboundPolicy::default()).unwrap();
    for url in [
        "file:///etc/passwd",
        "ftp://example.com/",
        "gopher://example.com/",
    ] {
        let err = client
            .send(OutboundRequest::get(url).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(err, OutboundError::SchemeNotAllowed { .. }),
            "{url}: {err:?}"
        );
    }
}

#[tokio::test]
async fn the_host_allowlist_is_enforced() {
    let upstream = Upstream::start().await;
    let client = loopback_client(|policy| {
        policy.allowed_hosts = Some(vec!["siem.example.com".parse().unwrap()]);
    });

    let err = client
        .send(OutboundRequest::get(&upstream.url("/target")).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, OutboundError::HostNotAllowed { .. }),
        "{err:?}"
    );

    let allowed = loopback_client(|policy| {
        policy.allowed_hosts = Some(vec!["127.0.0.1".parse().unwrap()]);
    });
    let response = allowed
        .send(OutboundRequest::get(&upstream.url("/target")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn redirects_are_not_followed_by_default() {
    let upstream = Upstream::start().await;
    let client = loopback_client(|_| {});

    let response = client
        .send(OutboundRequest::get(&upstream.url("/redirect")).unwrap())
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(upstream.target_hits(), 0);
    let err = response.error_for_status().unwrap_err();
    assert!(matches!(err, OutboundError::Status { status, .. } if status == StatusCode::FOUND));
}

#[tokio::test]
async fn followed_redirects_are_vetted_like_the_first_url() {
    let upstream = Upstream::start().await;
    let client = loopback_client(|policy| policy.max_redirects = 2);

    let response = client
        .send(OutboundRequest::get(&upstream.url("/redirect")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.body(), b"target");
    assert_eq!(upstream.target_hits(), 1);

    let err = client
        .send(OutboundRequest::get(&upstream.url("/redirect-to-metadata")).unwrap())
        .await
        .unwrap_err();
    match err {
        OutboundError::BlockedAddress { class, .. } => assert_eq!(class, AddressClass::LinkLocal),
        other => panic!("expected the redirect target to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn errors_never_echo_the_path_or_query() {
    let upstream = Upstream::start().await;
    let client = loopback_client(|_| {});
    let port = {
        // A port with nothing listening: bind, note, drop.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hooks/T0KEN-IN-PATH?token=S3CRET");

    let err = client
        .send(OutboundRequest::post(&url).unwrap())
        .await
        .unwrap_err();

    assert!(matches!(err, OutboundError::Connect { .. }), "{err:?}");
    assert!(err.is_transient());
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("S3CRET") && !text.contains("T0KEN-IN-PATH"),
        "{text}"
    );
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");

    let refused = OutboundClient::new(OutboundPolicy::default())
        .unwrap()
        .send(OutboundRequest::get(&upstream.url("/target?api_key=S3CRET")).unwrap())
        .await
        .unwrap_err();
    assert!(!format!("{refused} {refused:?}").contains("S3CRET"));

    let with_userinfo = client
        .send(OutboundRequest::get("http://admin:S3CRET@127.0.0.1/").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(with_userinfo, OutboundError::InvalidUrl { .. }));
    assert!(!with_userinfo.to_string().contains("S3CRET"));
}

#[tokio::test]
async fn secret_headers_are_hidden_from_debug_output() {
    let request = OutboundRequest::post("https://example.com/")
        .unwrap()
        .secret_header(heddle_outbound::header::AUTHORIZATION, "Splunk S3CRET")
        .unwrap();
    assert!(!format!("{request:?}").contains("S3CRET"));
    let bad = OutboundRequest::post("https://example.com/")
        .unwrap()
        .secret_header(
            heddle_outbound::header::AUTHORIZATION,
            "S3CRET\nInjected: 1",
        )
        .unwrap_err();
    assert!(!bad.to_string().contains("S3CRET"));
}
