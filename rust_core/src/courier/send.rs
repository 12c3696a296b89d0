//! One HTTP exchange on the shared keep-alive pool: the request checked and built before it is
//! spawned, then sent and its whole answer read.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::{CourierError, Request};

pub(super) type Client = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Idle keep-alive connections are closed after this (servers often close theirs after 60 s or less;
/// the pool also retries a request whose reused connection turns out closed before it was sent).
const POOL_IDLE: Duration = Duration::from_secs(30);

pub(super) fn client(max_idle_per_host: usize) -> Result<Client, CourierError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false); // https URLs pass through to the TLS layer
    http.set_nodelay(true); // small requests: no Nagle delay
    http.set_keepalive(Some(Duration::from_secs(60)));
    // The Mozilla roots, as httpx (certifi) uses by default; ring rather than aws-lc-rs: no cmake/C++
    // toolchain and a shorter build.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| CourierError::Start(e.to_string()))?
        .with_webpki_roots()
        .with_no_client_auth();
    let connector = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(http);
    Ok(hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(max_idle_per_host)
        // Header names go out as `Authorization`, `X-Request-Id`: some peers in the wild match them case-sensitively.
        .http1_title_case_headers(true)
        .build(connector))
}

/// A request ready to go, and the key of its per-host cap.
pub(super) struct Prepared {
    pub(super) host: String,
    request: hyper::Request<Full<Bytes>>,
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Vec<u8>,
    pub(super) headers: Vec<(String, String)>,
}

pub(super) fn prepare(r: Request) -> Result<Prepared, String> {
    let uri: Uri = r.url.parse().map_err(|e| format!("invalid URL {:?}: {e}", r.url))?;
    let host = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme @ ("http" | "https")), Some(authority)) => format!("{scheme}://{authority}"),
        _ => return Err(format!("invalid URL {:?}: an absolute http or https URL is needed", r.url)),
    };
    let method = Method::from_bytes(r.method.as_bytes()).map_err(|_| format!("invalid method {:?}", r.method))?;
    let mut request = hyper::Request::builder().method(method).uri(uri);
    let headers = request.headers_mut().expect("a fresh builder has no error");
    for (name, value) in r.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::from_str(&value).map_err(|_| format!("invalid value of header {name}"))?;
        headers.append(name, value);
    }
    let body = Full::new(r.body.map(Bytes::from).unwrap_or_default());
    let request = request.body(body).map_err(|e| e.to_string())?;
    Ok(Prepared { host, request })
}

pub(super) async fn send(client: &Client, prepared: Prepared, max_body: usize) -> Result<Answer, String> {
    let response = client.request(prepared.request).await.map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let body = Limited::new(response.into_body(), max_body).collect().await.map_err(|e| format!("reading the answer: {}", describe(e.as_ref())))?;
    Ok(Answer { status, body: body.to_bytes().into(), headers })
}

/// An error with its causes: "client error (Connect): tcp connect error: Connection refused (os error 111)".
fn describe(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
