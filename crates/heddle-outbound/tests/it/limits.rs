//! Size and time caps.

use std::time::{Duration, Instant};

use heddle_outbound::{OutboundError, OutboundRequest, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::{Upstream, loopback_client};

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    let upstream = Upstream::start().await;
    let client = loopback_client(|policy| policy.max_response_bytes = 16 * 1024);

    let err = client
        .send(OutboundRequest::get(&upstream.url("/big")).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, OutboundError::TooLarge { limit, .. } if limit == 16 * 1024),
        "{err:?}"
    );

    let roomy = loopback_client(|policy| policy.max_response_bytes = 64 * 1024);
    let response = roomy
        .send(OutboundRequest::get(&upstream.url("/big")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.body().len(), 64 * 1024);
}

/// A server that streams chunks without a length and never stops: the cap must end it.
#[tokio::test]
async fn a_streamed_body_is_capped_while_reading() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = socket.read(&mut request).await;
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("{:x}\r\n{}\r\n", 4096, "y".repeat(4096));
        // Bounded: 4 MiB at most, far beyond the cap.
        for _ in 0..1024 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let client = loopback_client(|policy| policy.max_response_bytes = 32 * 1024);

    let err = client
        .send(OutboundRequest::get(&format!("http://{addr}/stream")).unwrap())
        .await
        .unwrap_err();

    assert!(matches!(err, OutboundError::TooLarge { .. }), "{err:?}");
    server.abort();
}

#[tokio::test]
async fn a_slow_response_times_out() {
    let upstream = Upstream::start().await;
    let client = loopback_client(|policy| policy.total_timeout = Duration::from_millis(300));

    let started = Instant::now();
    let err = client
        .send(OutboundRequest::get(&upstream.url("/slow")).unwrap())
        .await
        .unwrap_err();

    assert!(matches!(err, OutboundError::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the deadline must cut it short"
    );
}

/// Headers arrive at once, the body never does: the total deadline covers the body too.
#[tokio::test]
async fn a_stalled_body_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = socket.read(&mut request).await;
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let client = loopback_client(|policy| policy.total_timeout = Duration::from_millis(300));

    let err = client
        .send(OutboundRequest::get(&format!("http://{addr}/stall")).unwrap())
        .await
        .unwrap_err();

    assert!(matches!(err, OutboundError::Timeout { .. }), "{err:?}");
    server.abort();
}

#[tokio::test]
async fn a_per_request_timeout_only_shortens_the_policy() {
    let upstream = Upstream::start().await;
    let client = loopback_client(|policy| policy.total_timeout = Duration::from_secs(20));

    let err = client
        .send(
            OutboundRequest::get(&upstream.url("/slow"))
                .unwrap()
                .timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(err, OutboundError::Timeout { after, .. } if after == Duration::from_millis(200)),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_statuses_are_responses_until_asked_otherwise() {
    let upstream = Upstream::start().await;
    let client = loopback_client(|_| {});

    let response = client
        .send(OutboundRequest::get(&upstream.url("/error")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.text_lossy(), "busy");

    let err = response.error_for_status().unwrap_err();
    assert!(err.is_transient());
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` answered HTTP 503 Service Unavailable",
            upstream.url("")
        )
    );
}
