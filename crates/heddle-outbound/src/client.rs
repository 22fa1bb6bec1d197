//! The client: one `reqwest::Client` whose resolver vets every address it hands out, whose
//! redirect policy vets every target, and whose responses are read under a size cap and a
//! deadline.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::address::classify;
use crate::{OutboundError, OutboundPolicy};

/// The one HTTP client for every outbound call Heddle makes. Cheap to clone (shared
/// connection pool); build one per policy and pass it where outbound calls happen.
#[derive(Debug, Clone)]
pub struct OutboundClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    policy: Arc<OutboundPolicy>,
}

impl OutboundClient {
    /// Builds the client. Proxies from the environment are ignored on purpose: with a proxy
    /// the proxy resolves the target, and the address checks here would be bypassed.
    pub fn new(policy: OutboundPolicy) -> Result<Self, OutboundError> {
        let policy = Arc::new(policy);
        let redirect = if policy.max_redirects == 0 {
            reqwest::redirect::Policy::none()
        } else {
            let vetting = Arc::clone(&policy);
            reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > vetting.max_redirects {
                    let origin = origin_of(attempt.url());
                    let limit = vetting.max_redirects;
                    return attempt.error(OutboundError::TooManyRedirects { origin, limit });
                }
                match vetting.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            })
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(redirect)
            .referer(false)
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.total_timeout)
            .dns_resolver(VettingResolver {
                policy: Arc::clone(&policy),
            })
            .user_agent(concat!("heddle/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| OutboundError::Build {
                reason: error_chain(&err),
            })?;
        Ok(Self {
            inner: Arc::new(Inner { client, policy }),
        })
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.inner.policy
    }

    /// Sends `request` and reads the whole response body (up to the policy's cap).
    ///
    /// Any HTTP status is a response here, 3xx (when redirects are off), 4xx and 5xx
    /// included; callers that want failures as errors use [`OutboundResponse::error_for_status`].
    pub async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let deadline = self.deadline_of(&request);
        let origin = origin_of(&request.url);
        let exchange = async { self.send_streaming(request).await?.into_response().await };
        // The stream enforces the deadline itself; this bound also covers time spent outside
        // it and gives one error shape.
        match tokio::time::timeout(deadline, exchange).await {
            Ok(result) => result,
            Err(_elapsed) => Err(OutboundError::Timeout {
                origin,
                after: deadline,
            }),
        }
    }

    fn deadline_of(&self, request: &OutboundRequest) -> Duration {
        let policy = &self.inner.policy;
        request
            .timeout
            .map_or(policy.total_timeout, |t| t.min(policy.total_timeout))
    }

    /// Sends `request` and returns as soon as the status and headers are in; the body is
    /// then read chunk by chunk with [`OutboundStream::next_chunk`] (server-sent events, a
    /// streamed model answer). The policy's size cap and the request's total deadline still
    /// hold, across the whole body.
    pub async fn send_streaming(
        &self,
        request: OutboundRequest,
    ) -> Result<OutboundStream, OutboundError> {
        let policy = &self.inner.policy;
        policy.check_url(&request.url)?;
        let origin = origin_of(&request.url);
        let deadline = self.deadline_of(&request);
        let started = tokio::time::Instant::now();
        let mut builder = self
            .inner
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .timeout(deadline);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let limit = policy.max_response_bytes;
        let timed_out = || OutboundError::Timeout {
            origin: origin.clone(),
            after: deadline,
        };
        let mut response = match tokio::time::timeout(deadline, builder.send()).await {
            Ok(result) => result.map_err(|err| map_reqwest_error(err, &origin, deadline))?,
            Err(_elapsed) => return Err(timed_out()),
        };
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(OutboundError::TooLarge { origin, limit });
        }
        Ok(OutboundStream {
            origin,
            status,
            headers,
            response,
            deadline: started + deadline,
            after: deadline,
            limit,
            read: 0,
        })
    }
}

/// A response whose body arrives chunk by chunk. Dropping it closes the connection.
#[derive(Debug)]
pub struct OutboundStream {
    origin: String,
    status: StatusCode,
    headers: HeaderMap,
    response: reqwest::Response,
    deadline: tokio::time::Instant,
    after: Duration,
    limit: usize,
    read: usize,
}

impl OutboundStream {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// `scheme://host:port` of the request, safe to show in errors and logs.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The next piece of the body as the network delivered it; `None` at its end. Fails when
    /// the body passes the size cap or the request's deadline.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, OutboundError> {
        let chunk = match tokio::time::timeout_at(self.deadline, self.response.chunk()).await {
            Ok(result) => result.map_err(|err| map_reqwest_error(err, &self.origin, self.after))?,
            Err(_elapsed) => {
                return Err(OutboundError::Timeout {
                    origin: self.origin.clone(),
                    after: self.after,
                });
            }
        };
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        self.read = self.read.saturating_add(chunk.len());
        if self.read > self.limit {
            return Err(OutboundError::TooLarge {
                origin: self.origin.clone(),
                limit: self.limit,
            });
        }
        Ok(Some(chunk.to_vec()))
    }

    /// Reads the rest of the body (an error answer, say) under the same cap and deadline.
    pub async fn into_response(mut self) -> Result<OutboundResponse, OutboundError> {
        let mut body = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            origin: self.origin,
            status: self.status,
            headers: self.headers,
            body,
        })
    }
}

/// One outbound request. Build it, then hand it to [`OutboundClient::send`].
#[derive(Debug)]
pub struct OutboundRequest {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl OutboundRequest {
    /// Parses `url`. Parse errors never echo the URL (it may hold a token).
    pub fn new(method: Method, url: &str) -> Result<Self, OutboundError> {
        let url = Url::parse(url).map_err(|err| OutboundError::InvalidUrl {
            reason: err.to_string(),
        })?;
        Ok(Self::from_url(method, url))
    }

    pub fn from_url(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            timeout: None,
        }
    }

    pub fn get(url: &str) -> Result<Self, OutboundError> {
        Self::new(Method::GET, url)
    }

    pub fn post(url: &str) -> Result<Self, OutboundError> {
        Self::new(Method::POST, url)
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body, if one was set.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Adds a header (several values under one name are kept).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Adds a header from text. A value that is not a valid header fails without echoing it.
    pub fn header_str(self, name: HeaderName, value: &str) -> Result<Self, OutboundError> {
        let value = HeaderValue::from_str(value).map_err(|_| OutboundError::InvalidHeader {
            name: name.to_string(),
        })?;
        Ok(self.header(name, value))
    }

    /// Adds a credential header, marked sensitive so HTTP/2 never indexes it in HPACK tables
    /// and debug output of the header map hides it.
    pub fn secret_header(self, name: HeaderName, value: &str) -> Result<Self, OutboundError> {
        let mut value = HeaderValue::from_str(value).map_err(|_| OutboundError::InvalidHeader {
            name: name.to_string(),
        })?;
        value.set_sensitive(true);
        Ok(self.header(name, value))
    }

    /// Sets the body and its content type.
    pub fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        self.body = Some(body.into());
        self
    }

    /// Sets a JSON body (`application/json`).
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Self, OutboundError> {
        let body = serde_json::to_vec(value).map_err(|err| OutboundError::InvalidBody {
            reason: err.to_string(),
        })?;
        Ok(self.body("application/json", body))
    }

    /// A deadline for this request; it can only shorten the policy's total timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    origin: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl OutboundResponse {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// `scheme://host:port` of the request, safe to show in errors and logs.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The body as text; invalid UTF-8 is replaced.
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// `Retry-After` in seconds form, if present (the HTTP-date form is not used by the
    /// upstreams Heddle talks to, and is ignored).
    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(http::header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    }

    /// Turns a non-2xx status into [`OutboundError::Status`].
    pub fn error_for_status(self) -> Result<Self, OutboundError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(OutboundError::Status {
                origin: self.origin,
                status: self.status,
            })
        }
    }
}

/// `scheme://host:port`: never userinfo, path or query.
pub(crate) fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Resolves names itself and returns only addresses the policy allows, so the connector can
/// only ever connect to a vetted address: there is no second lookup that DNS rebinding could
/// answer differently.
struct VettingResolver {
    policy: Arc<OutboundPolicy>,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|err| OutboundError::Resolve {
                    host: host.clone(),
                    reason: err.to_string(),
                })?
                .collect();
            let (allowed, blocked): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
                .into_iter()
                .partition(|addr| policy.allows_address(addr.ip()));
            if allowed.is_empty() {
                let error = match blocked.first() {
                    Some(addr) => OutboundError::BlockedAddress {
                        host: host.clone(),
                        addr: addr.ip(),
                        class: classify(addr.ip()),
                    },
                    None => OutboundError::Resolve {
                        host: host.clone(),
                        reason: "no addresses".into(),
                    },
                };
                return Err(Box::new(error) as Box<dyn StdError + Send + Sync>);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Maps a reqwest error to ours. A policy refusal raised inside reqwest (by the resolver or
/// the redirect policy) is found in the source chain and returned as it was raised.
fn map_reqwest_error(err: reqwest::Error, origin: &str, deadline: Duration) -> OutboundError {
    let err = err.without_url();
    let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
    while let Some(current) = source {
        if let Some(ours) = current.downcast_ref::<OutboundError>() {
            return ours.clone();
        }
        source = current.source();
    }
    let origin = origin.to_owned();
    if err.is_timeout() {
        OutboundError::Timeout {
            origin,
            after: deadline,
        }
    } else if err.is_connect() {
        OutboundError::Connect {
            origin,
            reason: error_chain(&err),
        }
    } else {
        OutboundError::Transport {
            origin,
            reason: error_chain(&err),
        }
    }
}

/// The messages of an error's sources, outermost first. reqwest's own message for a request
/// error repeats the URL, so only the causes below it are used.
fn error_chain(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(current) = source {
        let text = current.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = current.source();
    }
    if parts.is_empty() {
        "request error".to_owned()
    } else {
        parts.join(": ")
    }
}
