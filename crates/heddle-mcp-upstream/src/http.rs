//! MCP over streamable HTTP, with every exchange made by Heddle's one outbound client.
//!
//! rmcp's own HTTP backend calls reqwest directly, around `heddle-outbound`'s rules (names
//! resolved and vetted by Heddle, private addresses refused unless opted in, no proxies, no
//! redirects, capped bodies, deadlines). So rmcp's transport runs here on
//! [`OutboundMcpClient`], an implementation of its `StreamableHttpClient` over
//! [`OutboundClient`]:
//!
//! - a message is a POST with `Accept: application/json, text/event-stream`; the answer is
//!   one JSON-RPC message, an event stream carrying it, or 202 for notifications and replies;
//! - the session id the server issues (`Mcp-Session-Id`) and the negotiated
//!   `MCP-Protocol-Version` are sent back by rmcp's worker, and the session is ended with a
//!   DELETE when the connection is dropped;
//! - the bearer credential is held here, opened from the vault by the caller, and sent as a
//!   sensitive header; it never enters rmcp's configuration, a log or an error;
//! - error bodies are not echoed (one could repeat what was sent): a failure names the origin
//!   and the status, except a JSON-RPC error, which is the server's answer.
//!
//! The standalone GET stream for server-initiated messages is not opened: the gateway offers
//! the upstream nothing to ask for (no sampling, roots or elicitation) and lists the tools
//! again for every call, so no notification would change what it does.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use heddle_outbound::{
    HeaderName, HeaderValue, Method, OutboundClient, OutboundError, OutboundRequest,
    OutboundStream, StatusCode, header,
};
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    HttpStatusError, SseError, StreamableHttpClient, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use secrecy::{ExposeSecret, SecretString};
use sse_stream::{Sse, SseStream};

const SESSION_ID: &str = "mcp-session-id";
const LAST_EVENT_ID: &str = "last-event-id";
const EVENT_STREAM: &str = "text/event-stream";
const JSON: &str = "application/json";

/// Headers this client sets itself; rmcp's extra headers may not replace them.
const OWN_HEADERS: [&str; 6] = [
    "accept",
    "authorization",
    "content-type",
    "content-length",
    "host",
    SESSION_ID,
];

type HttpError = StreamableHttpError<OutboundError>;
type EventStream = BoxStream<'static, Result<Sse, SseError>>;

/// rmcp's streamable HTTP client, over [`OutboundClient`]. Cheap to clone.
#[derive(Clone)]
pub struct OutboundMcpClient {
    client: OutboundClient,
    bearer: Option<Arc<SecretString>>,
}

impl std::fmt::Debug for OutboundMcpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundMcpClient")
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl OutboundMcpClient {
    /// `bearer`, when given, is sent as `Authorization: Bearer …` on every request. The
    /// outbound client's policy decides where the requests may go and how long they take.
    pub fn new(client: OutboundClient, bearer: Option<SecretString>) -> Self {
        Self {
            client,
            bearer: bearer.map(Arc::new),
        }
    }

    /// A request with the headers every exchange carries: the credential, the session, and
    /// rmcp's protocol headers (which may not replace ours).
    fn request(
        &self,
        method: Method,
        uri: &str,
        session_id: Option<&str>,
        extra: HashMap<HeaderName, HeaderValue>,
    ) -> Result<OutboundRequest, HttpError> {
        let mut request = OutboundRequest::new(method, uri).map_err(StreamableHttpError::Client)?;
        if let Some(bearer) = &self.bearer {
            request = request
                .secret_header(
                    header::AUTHORIZATION,
                    &format!("Bearer {}", bearer.expose_secret()),
                )
                .map_err(StreamableHttpError::Client)?;
        }
        if let Some(session_id) = session_id {
            request = request
                .header_str(HeaderName::from_static(SESSION_ID), session_id)
                .map_err(StreamableHttpError::Client)?;
        }
        for (name, value) in extra {
            if !OWN_HEADERS.contains(&name.as_str()) {
                request = request.header(name, value);
            }
        }
        Ok(request)
    }

    async fn post(
        &self,
        uri: &str,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        extra: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let awaits_answer = matches!(message, ClientJsonRpcMessage::Request(_));
        let request = self
            .request(Method::POST, uri, session_id.as_deref(), extra)?
            .header(
                header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            )
            .json(&message)
            .map_err(StreamableHttpError::Client)?;
        let response = self
            .client
            .send_streaming(request)
            .await
            .map_err(StreamableHttpError::Client)?;
        let status = response.status();
        if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        // A session the server no longer knows: rmcp starts a new one and retries once.
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let issued_session = header_text(&response, SESSION_ID);
        let kind = content_kind(&response);
        if !status.is_success() {
            return failure(response, kind, issued_session, limits).await;
        }
        match kind {
            Some(Kind::EventStream) => Ok(StreamableHttpPostResponse::Sse(
                events_of(response),
                issued_session,
            )),
            Some(Kind::Json) => {
                let body = read_capped(response, limits.max_json_response_size).await?;
                match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                    Ok(answer) => Ok(StreamableHttpPostResponse::Json(answer, issued_session)),
                    // A notification or a reply needs nothing from the body.
                    Err(_) if !awaits_answer => Ok(StreamableHttpPostResponse::Accepted),
                    Err(error) => Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                        format!("the answer is not a JSON-RPC message: {error}"),
                    ))),
                }
            }
            None if !awaits_answer => Ok(StreamableHttpPostResponse::Accepted),
            None => Err(StreamableHttpError::UnexpectedContentType(header_text(
                &response,
                header::CONTENT_TYPE.as_str(),
            ))),
        }
    }

    async fn stream(
        &self,
        uri: &str,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        extra: HashMap<HeaderName, HeaderValue>,
    ) -> Result<EventStream, HttpError> {
        // Only a response stream cut short is resumed (it has an event id); the standalone
        // stream for server-initiated messages is not wanted (see the module comment).
        let Some(last_event_id) = last_event_id else {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        };
        let request = self
            .request(Method::GET, uri, session_id.as_deref(), extra)?
            .header(header::ACCEPT, HeaderValue::from_static(EVENT_STREAM))
            .header_str(HeaderName::from_static(LAST_EVENT_ID), &last_event_id)
            .map_err(StreamableHttpError::Client)?;
        let response = self
            .client
            .send_streaming(request)
            .await
            .map_err(StreamableHttpError::Client)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        let kind = content_kind(&response);
        if !response.status().is_success() {
            return Err(status_error(&response));
        }
        match kind {
            Some(Kind::EventStream) => Ok(events_of(response)),
            _ => Err(StreamableHttpError::UnexpectedContentType(header_text(
                &response,
                header::CONTENT_TYPE.as_str(),
            ))),
        }
    }

    async fn end_session(
        &self,
        uri: &str,
        session_id: Arc<str>,
        extra: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        let request = self.request(Method::DELETE, uri, Some(&session_id), extra)?;
        let response = self
            .client
            .send(request)
            .await
            .map_err(StreamableHttpError::Client)?;
        // 405: the server does not let clients end sessions; it will expire it itself.
        if response.status().is_success() || response.status() == StatusCode::METHOD_NOT_ALLOWED {
            Ok(())
        } else {
            Err(StreamableHttpError::Client(OutboundError::Status {
                origin: response.origin().to_owned(),
                status: response.status(),
            }))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    EventStream,
}

fn content_kind(response: &OutboundStream) -> Option<Kind> {
    let value = response
        .headers()
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let essence = value.split(';').next()?.trim();
    if essence.eq_ignore_ascii_case(JSON) {
        Some(Kind::Json)
    } else if essence.eq_ignore_ascii_case(EVENT_STREAM) {
        Some(Kind::EventStream)
    } else {
        None
    }
}

fn header_text(response: &OutboundStream, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// A non-success answer to a POST: the server's JSON-RPC error when that is what the body
/// is (the request then fails with the server's own error), else the status alone.
async fn failure(
    response: OutboundStream,
    kind: Option<Kind>,
    session: Option<String>,
    limits: StreamableHttpResponseLimits,
) -> Result<StreamableHttpPostResponse, HttpError> {
    let may_be_rpc_error = kind == Some(Kind::Json)
        && !matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
        );
    let error = status_error(&response);
    if !may_be_rpc_error {
        return Err(error);
    }
    let body = read_capped(response, limits.max_json_response_size).await?;
    match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
        Ok(rpc @ JsonRpcMessage::Error(_)) => Ok(StreamableHttpPostResponse::Json(rpc, session)),
        _ => Err(error),
    }
}

fn status_error(response: &OutboundStream) -> HttpError {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let retry_after = header_text(response, header::RETRY_AFTER.as_str());
        return StreamableHttpError::HttpStatus(HttpStatusError::new(status.as_u16(), retry_after));
    }
    StreamableHttpError::Client(OutboundError::Status {
        origin: response.origin().to_owned(),
        status,
    })
}

/// The whole body, refused past `limit` bytes (the outbound policy caps it as well).
async fn read_capped(mut response: OutboundStream, limit: usize) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .next_chunk()
        .await
        .map_err(StreamableHttpError::Client)?
    {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body as server-sent events. The outbound policy's cap on the whole body bounds every
/// event too, and its deadline ends a stream that never finishes.
fn events_of(response: OutboundStream) -> EventStream {
    let chunks = futures::stream::try_unfold(response, |mut response| async move {
        let chunk = response.next_chunk().await?;
        Ok::<_, OutboundError>(chunk.map(|chunk| (Bytes::from(chunk), response)))
    });
    SseStream::from_bytes_stream(chunks).boxed()
}

impl StreamableHttpClient for OutboundMcpClient {
    type Error = OutboundError;

    // rmcp's `auth_header` is never set: the credential is this client's own.
    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.post(
            &uri,
            message,
            session_id,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.post(&uri, message, session_id, custom_headers, limits)
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        self.end_session(&uri, session_id, custom_headers).await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<EventStream, HttpError> {
        self.stream(&uri, session_id, last_event_id, custom_headers)
            .await
    }
}
