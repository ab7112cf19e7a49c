//! External calls from policies (`http_get`, `http_post`): the live client, the replay of
//! recorded calls, and the refusal.
//!
//! A policy never touches the network itself: it asks the `Http` it was given. The engine
//! gives `LiveHttp` (the community's allowlist, a timeout, a size cap, no redirects) when
//! it decides, and every exchange lands in the evaluation's record; `verify` gives
//! `RecordedHttp`, which answers from that record, so re-running a policy never depends on
//! the network. A call that failed is recorded too (status 0, the error as the response),
//! so a replay reproduces the same runtime error.

use std::io::Read;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use ostrom_schemas::record::HttpExchange;
use ostrom_schemas::Value;

use super::limits::{POLICY_HTTP_RESPONSE_BYTES_MAX, POLICY_HTTP_TIMEOUT_MS};

/// What a policy asked for. `method` is `GET` or `POST`; `body` is `Null` for a GET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub body: Value,
}

/// What the policy sees: the status and the body, parsed from JSON when the response says
/// it is JSON (and holds no fractional numbers), else the text as a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Value,
}

/// The status recorded for a call that got no response (refused host, timeout, oversize
/// body, connection error); the error text is recorded as the response.
pub const HTTP_FAILED_STATUS: u16 = 0;

pub trait Http: Send + Sync {
    /// An error is shown to the policy as a runtime error.
    fn call(&self, request: &HttpRequest) -> Result<HttpResponse, String>;
}

/// Every call errs: the community allowlists no host.
pub struct NoHttp;

impl Http for NoHttp {
    fn call(&self, _request: &HttpRequest) -> Result<HttpResponse, String> {
        Err("this community allows no external calls".to_owned())
    }
}

/// Real calls to allowlisted hosts. The client is built on the first call, so building a
/// `LiveHttp` per evaluation costs nothing. A blocking client: call it from a thread that
/// may block (never from inside an async runtime's worker).
pub struct LiveHttp {
    allowed_hosts: Vec<String>,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
}

impl LiveHttp {
    /// `allowed_hosts`: exact host names, optionally with a port (`api.example.com`,
    /// `127.0.0.1:8080`). An entry without a port allows that host on any port.
    pub fn new(allowed_hosts: Vec<String>) -> LiveHttp {
        LiveHttp {
            allowed_hosts: allowed_hosts
                .into_iter()
                .map(|host| host.trim().to_ascii_lowercase())
                .filter(|host| !host.is_empty())
                .collect(),
            client: OnceLock::new(),
        }
    }

    fn allowed(&self, url: &reqwest::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{url}: only http and https URLs can be called"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("{url}: the URL has no host"))?
            .to_ascii_lowercase();
        let with_port = url
            .port_or_known_default()
            .map(|port| format!("{host}:{port}"));
        let allowed = self
            .allowed_hosts
            .iter()
            .any(|entry| *entry == host || with_port.as_deref().is_some_and(|both| entry == both));
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "host {} is not in this community's allowlist",
                with_port.unwrap_or(host)
            ))
        }
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .timeout(Duration::from_millis(POLICY_HTTP_TIMEOUT_MS))
                    .connect_timeout(Duration::from_millis(POLICY_HTTP_TIMEOUT_MS))
                    .redirect(reqwest::redirect::Policy::none())
                    // A proxy from the environment would see every policy's calls and could
                    // answer for hosts outside the allowlist.
                    .no_proxy()
                    .build()
                    .map_err(|error| format!("the HTTP client could not start: {error}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Http for LiveHttp {
    fn call(&self, request: &HttpRequest) -> Result<HttpResponse, String> {
        let url = reqwest::Url::parse(&request.url)
            .map_err(|error| format!("{:?} is not a URL: {error}", request.url))?;
        self.allowed(&url)?;
        let client = self.client()?;
        let builder = match request.method.as_str() {
            "GET" => client.get(url),
            "POST" => {
                let body = serde_json::to_vec(&request.body)
                    .map_err(|error| format!("the request body does not encode: {error}"))?;
                client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
            }
            other => return Err(format!("unsupported method {other}")),
        };
        let response = builder
            .send()
            .map_err(|error| format!("{} {}: {error}", request.method, request.url))?;
        let status = response.status().as_u16();
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.to_ascii_lowercase().contains("json"));
        let mut bytes = Vec::new();
        response
            .take(POLICY_HTTP_RESPONSE_BYTES_MAX as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| format!("{} {}: {error}", request.method, request.url))?;
        if bytes.len() > POLICY_HTTP_RESPONSE_BYTES_MAX {
            return Err(format!(
                "{} {}: the response is larger than {POLICY_HTTP_RESPONSE_BYTES_MAX} bytes",
                request.method, request.url
            ));
        }
        Ok(HttpResponse {
            status,
            body: response_body(&bytes, is_json),
        })
    }
}

/// JSON that the ledger can hold (no fractional numbers, bounded depth) becomes data;
/// anything else stays text.
fn response_body(bytes: &[u8], is_json: bool) -> Value {
    if is_json {
        if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
            return value;
        }
    }
    Value::Str(String::from_utf8_lossy(bytes).into_owned())
}

/// Answers the i-th call with the i-th recorded exchange (`verify`). A call that differs
/// from the recorded one (method, URL or body), or one more than were recorded, errs.
pub struct RecordedHttp {
    exchanges: Vec<HttpExchange>,
    next: Mutex<usize>,
}

impl RecordedHttp {
    pub fn new(exchanges: Vec<HttpExchange>) -> RecordedHttp {
        RecordedHttp {
            exchanges,
            next: Mutex::new(0),
        }
    }
}

impl Http for RecordedHttp {
    fn call(&self, request: &HttpRequest) -> Result<HttpResponse, String> {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let index = *next;
        let exchange = self.exchanges.get(index).ok_or_else(|| {
            format!(
                "replay: call {} ({} {}) was not recorded ({} recorded)",
                index + 1,
                request.method,
                request.url,
                self.exchanges.len()
            )
        })?;
        if exchange.method != request.method
            || exchange.url != request.url
            || exchange.request_body != request.body
        {
            return Err(format!(
                "replay: call {} is {} {}, but {} {} was recorded",
                index + 1,
                request.method,
                request.url,
                exchange.method,
                exchange.url
            ));
        }
        *next += 1;
        if exchange.status == HTTP_FAILED_STATUS {
            return Err(match &exchange.response {
                Value::Str(text) => text.clone(),
                other => other.to_string(),
            });
        }
        Ok(HttpResponse {
            status: exchange.status,
            body: exchange.response.clone(),
        })
    }
}
