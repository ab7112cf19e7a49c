//! The dashboard: HTML pages served by `ostrom serve` itself, for members (propose, vote,
//! read), policy authors (an editor that compiles as you type and backtests a draft against
//! the community's real history) and auditors (the audit trail with inclusion proofs, time
//! travel and diffs between two points).
//!
//! Every page reads the same published read model as the API, renders on the server and
//! works without JavaScript; two small scripts add live refresh (a server-sent-events
//! stream that only says "something changed") and compile-as-you-type in the editor.
//! Writes are ordinary HTML forms that end in the same writer calls as the API.
//!
//! Sign-in: a member pastes a bearer token; it is kept in an `HttpOnly`, `SameSite=Strict`
//! cookie scoped to that community's pages, so a token never reaches a script and another
//! site cannot make the browser send it. Every form POST is also refused when the browser
//! says it came from another site (`Sec-Fetch-Site`, `Origin`). Pages carry a
//! Content-Security-Policy without inline scripts, as a second line behind escaping.

mod editor;
mod render;
mod view;

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ostrom_projections::GovernanceState;
use ostrom_schemas::action::ActionSpec;
use ostrom_schemas::parameters::parameters;
use ostrom_schemas::{ActionId, Params, StatementBody, Value, VoteValue};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::ApiError;
use super::host::Host;
use super::ServerState;

pub use render::warm_up;

type AppState = Arc<ServerState>;

/// The cookie that holds a member's token for one community's pages.
pub const SESSION_COOKIE: &str = "ostrom_session";
/// Rows of the audit trail one page shows.
pub const AUDIT_PAGE_ROWS: usize = 50;
/// Proposals one list page shows.
pub const PROPOSALS_PAGE_ROWS: usize = 50;
/// Open and recently decided proposals the home page shows.
pub const HOME_PROPOSALS_SHOWN: usize = 20;
/// Evaluations of one proposal whose effects its page reads from the log (the newest).
pub const EVALUATION_EFFECTS_SHOWN: usize = 50;
/// Characters of a document the home page shows before "read on".
pub const HOME_DOCUMENT_CHARS: usize = 600;

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; \
     base-uri 'none'";

/// Every page and the dashboard's own small endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/static/{file}", get(asset))
        .route("/c/{community}", get(home))
        .route("/c/{community}/signin", get(signin_form).post(signin))
        .route("/c/{community}/signout", post(signout))
        .route("/c/{community}/live", get(live))
        .route("/c/{community}/proposals", get(proposals))
        .route("/c/{community}/proposals/{action}", get(proposal))
        .route("/c/{community}/proposals/{action}/vote", post(vote))
        .route("/c/{community}/propose", get(propose_form).post(propose))
        .route("/c/{community}/policies", get(policies))
        .route("/c/{community}/policies/{policy}", get(policy))
        .route(
            "/c/{community}/editor",
            get(editor::editor).post(editor::editor_action),
        )
        .route("/c/{community}/editor/compile", post(editor::compile))
        .route("/c/{community}/roles", get(roles))
        .route("/c/{community}/members", get(members))
        .route("/c/{community}/documents", get(documents))
        .route("/c/{community}/audit", get(audit))
        .route("/c/{community}/audit/{seq}/proof", get(proof))
        .route("/c/{community}/history", get(history))
}

// ---------------------------------------------------------------------------------------
// Responses.

/// A page, or why there is none.
pub enum WebError {
    /// Not signed in (or the token stopped working): to the sign-in page.
    SignIn(String),
    /// An error page with the API's code and message.
    Page(ApiError),
}

impl From<ApiError> for WebError {
    fn from(error: ApiError) -> Self {
        WebError::Page(error)
    }
}

impl From<minijinja::Error> for WebError {
    fn from(error: minijinja::Error) -> Self {
        WebError::Page(ApiError::internal(format!("template: {error:#}")))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn(community) => {
                Redirect::to(&format!("/c/{community}/signin")).into_response()
            }
            WebError::Page(error) => {
                let status = error.status;
                let body = render::page(
                    "error.html",
                    &json!({
                        "title": "Error",
                        "status": status.as_u16(),
                        "code": error.code,
                        "message": error.message,
                    }),
                )
                .unwrap_or_else(|_| "error".to_owned());
                let mut response = (status, html_headers(), body).into_response();
                response.headers_mut().remove(header::CACHE_CONTROL);
                response
            }
        }
    }
}

type WebResult = Result<Response, WebError>;

fn html_headers() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

fn html(template: &str, context: &impl Serialize) -> WebResult {
    let body = render::page(template, context)?;
    Ok((html_headers(), body).into_response())
}

fn unprocessable(code: &'static str, message: impl Into<String>) -> WebError {
    WebError::Page(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        message,
    ))
}

// ---------------------------------------------------------------------------------------
// Who is looking.

/// A signed-in member on one community's pages.
struct Visit {
    host: Arc<Host>,
    member: String,
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == SESSION_COOKIE)
        .map(|cookie| cookie.value().to_owned())
}

fn visit(state: &ServerState, headers: &HeaderMap, community: &str) -> Result<Visit, WebError> {
    let host = state.host(community)?;
    let token = session_token(headers).ok_or_else(|| WebError::SignIn(host.name.clone()))?;
    let member = state
        .tokens
        .authenticate(host.id, &token)
        .map_err(|_| WebError::SignIn(host.name.clone()))?;
    if !host.read(|model| model.state.is_member(&member)) {
        return Err(WebError::SignIn(host.name.clone()));
    }
    Ok(Visit { host, member })
}

/// Refuse a form POST that the browser says another site started.
fn same_site(headers: &HeaderMap) -> Result<(), WebError> {
    let cross = headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| site == "cross-site");
    let origin_elsewhere = match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) if origin != "null" => origin
            .split_once("://")
            .is_none_or(|(_, rest)| rest != host),
        _ => false,
    };
    if cross || origin_elsewhere {
        return Err(WebError::Page(ApiError::forbidden(
            "cross_site",
            "this form was sent from another site",
        )));
    }
    Ok(())
}

/// What every community page's layout shows: the community, the member, their roles.
fn frame(visit: &Visit, state: &GovernanceState, title: &str) -> serde_json::Value {
    let founded = state.community.as_ref().expect("founded");
    json!({
        "title": title,
        "c": { "name": visit.host.name, "id": visit.host.id.to_hex(), "kit": founded.kit },
        "me": {
            "name": visit.member,
            "roles": state.roles_of(&visit.member),
            // The audit trail and proofs need a role that may view every action type.
            "may_audit": super::api::may_read_log(state, &visit.member).is_ok(),
        },
    })
}

fn merge(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(base), serde_json::Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// A page that lists one kind of thing of the current state under `key`.
fn listing(
    state: &ServerState,
    headers: &HeaderMap,
    community: &str,
    (title, template): (&str, &str),
    (key, list): (&str, fn(&GovernanceState) -> Vec<serde_json::Value>),
) -> WebResult {
    let visit = visit(state, headers, community)?;
    let context = visit.host.read(|model| {
        let mut context = frame(&visit, &model.state, title);
        context[key] = serde_json::Value::Array(list(&model.state));
        context
    });
    html(template, &context)
}

// ---------------------------------------------------------------------------------------
// Pages.

async fn index(State(state): State<AppState>) -> WebResult {
    let communities: Vec<serde_json::Value> = {
        let hosts = state.hosts.read().expect("hosts lock");
        let mut names: Vec<(String, String)> = hosts
            .values()
            .map(|host| (host.name.clone(), host.id.to_hex()))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|(name, id)| json!({ "name": name, "id": id }))
            .collect()
    };
    html(
        "index.html",
        &json!({ "title": "Communities", "communities": communities }),
    )
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "app.css" => (include_str!("static/app.css"), "text/css; charset=utf-8"),
        "live.js" => (
            include_str!("static/live.js"),
            "text/javascript; charset=utf-8",
        ),
        "editor.js" => (
            include_str!("static/editor.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return ApiError::not_found("not_found", "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn signin_form(State(state): State<AppState>, Path(community): Path<String>) -> WebResult {
    let host = state.host(&community)?;
    html(
        "signin.html",
        &json!({ "title": "Sign in", "community": host.name, "error": null }),
    )
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

async fn signin(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> WebResult {
    same_site(&headers)?;
    let host = state.host(&community)?;
    let token = form.token.trim();
    let refused = match state.tokens.authenticate(host.id, token) {
        Ok(member) if host.read(|model| model.state.is_member(&member)) => None,
        Ok(member) => Some(format!("{member} is no longer a member")),
        Err(error) => Some(error.to_string()),
    };
    if let Some(error) = refused {
        let body = render::page(
            "signin.html",
            &json!({ "title": "Sign in", "community": host.name, "error": error }),
        )?;
        return Ok((StatusCode::UNAUTHORIZED, html_headers(), body).into_response());
    }
    session_cookie(&host, token, &format!("/c/{}", host.name))
}

/// A redirect to `to` that sets the session cookie of `host`'s pages to `token` (an empty
/// token ends the session).
fn session_cookie(host: &Host, token: &str, to: &str) -> WebResult {
    let mut cookie = cookie::Cookie::build((SESSION_COOKIE, token.to_owned()))
        .path(format!("/c/{}", host.name))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .build();
    if token.is_empty() {
        cookie.set_max_age(cookie::time::Duration::ZERO);
    }
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie.to_string()).map_err(ApiError::internal)?,
    );
    Ok(response)
}

async fn signout(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
) -> WebResult {
    same_site(&headers)?;
    let host = state.host(&community)?;
    session_cookie(&host, "", &format!("/c/{}/signin", host.name))
}

async fn home(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let state_hash = visit.host.state_hash_soon();
    let checkpoint = visit.host.latest_checkpoint();
    let now = crate::clock::now_ms();
    let context = visit.host.read(|model| {
        let head = json!({
            "entries": model.state.position.next_seq,
            "seq": model.state.position.next_seq.checked_sub(1),
            "hash": model.state.position.head.to_hex(),
            "at": render::time(model.state.position.at_ms),
            // The newest computed hash, with the entries it covers (the head's follows).
            "state_hash": state_hash.map(|(covers, hash)| json!({
                "hash": hash.to_hex(),
                "covers": covers,
                "current": covers == model.state.position.next_seq,
            })),
            "checkpoint": checkpoint.as_ref().map(|head| json!({
                "size": head.size,
                "root": head.root.to_hex(),
            })),
        });
        merge(
            frame(&visit, &model.state, "Home"),
            merge(
                view::home(&model.state, &visit.member, now),
                json!({ "head": head, "live": "home" }),
            ),
        )
    });
    html("home.html", &context)
}

#[derive(Deserialize)]
struct ProposalFilter {
    status: Option<String>,
    action_type: Option<String>,
    initiator: Option<String>,
    after: Option<u64>,
}

async fn proposals(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Query(filter): Query<ProposalFilter>,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let blank = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
    let status = blank(filter.status);
    let action_type = blank(filter.action_type);
    let initiator = blank(filter.initiator);
    let status_wanted = status
        .as_deref()
        .map(super::api::status_filter)
        .transpose()?;
    let now = crate::clock::now_ms();
    let context = visit.host.read(|model| {
        let page = view::proposal_page(
            &model.state,
            &visit.member,
            view::ProposalQuery {
                status: status_wanted,
                action_type: action_type.as_deref(),
                initiator: initiator.as_deref(),
                after: filter.after,
                limit: PROPOSALS_PAGE_ROWS,
            },
            now,
        );
        merge(
            frame(&visit, &model.state, "Proposals"),
            json!({
                "proposals": page.0,
                "next_after": page.1,
                "filter": { "status": status, "action_type": action_type, "initiator": initiator },
                "live": "list",
            }),
        )
    });
    html("proposals.html", &context)
}

async fn proposal(
    State(state): State<AppState>,
    Path((community, action)): Path<(String, u64)>,
    headers: HeaderMap,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let now = crate::clock::now_ms();
    let sequencer = visit.host.sequencer;
    let context = visit.host.read(|model| {
        let found = model
            .state
            .actions
            .get(&ActionId(action))
            .filter(|found| {
                model
                    .state
                    .may_view(&visit.member, found.spec.action_type())
            })
            .ok_or_else(|| {
                ApiError::not_found("unknown_proposal", format!("no proposal {action}"))
            })?;
        let detail = view::proposal(
            &model.state,
            &model.audit,
            found,
            &visit.member,
            now,
            sequencer,
        );
        Ok::<_, ApiError>(merge(
            frame(&visit, &model.state, &format!("Proposal {action}")),
            merge(detail, json!({ "live": "proposal" })),
        ))
    })?;
    let context = with_effects(&visit.host, context, now).await?;
    html("proposal.html", &context)
}

/// Fill in each evaluation's effects (the newest `EVALUATION_EFFECTS_SHOWN`) from the
/// `Evaluated` entries in the log, which the read model does not keep.
async fn with_effects(
    host: &Arc<Host>,
    mut context: serde_json::Value,
    now: u64,
) -> Result<serde_json::Value, WebError> {
    let seqs: Vec<u64> = context["evaluations"]
        .as_array()
        .map(|evaluations| {
            evaluations
                .iter()
                .rev()
                .take(EVALUATION_EFFECTS_SHOWN)
                .filter_map(|evaluation| evaluation["seq"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    let found = {
        let host = host.clone();
        tokio::task::spawn_blocking(move || {
            let mut found = std::collections::BTreeMap::new();
            for seq in seqs {
                let bytes = host.store.read_range(host.id, seq, seq + 1)?;
                if let Some(entry) = bytes
                    .first()
                    .and_then(|bytes| ostrom_schemas::Entry::decode(bytes).ok())
                {
                    if let Some(ostrom_schemas::Record::Evaluated(evaluation)) = entry.record() {
                        found.insert(seq, evaluation.effects.clone());
                    }
                }
            }
            Ok::<_, crate::store::StoreError>(found)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?
    };
    if let Some(evaluations) = context["evaluations"].as_array_mut() {
        for evaluation in evaluations {
            let Some(effects) = evaluation["seq"].as_u64().and_then(|seq| found.get(&seq)) else {
                continue;
            };
            let writes: Vec<String> = effects
                .action_data
                .iter()
                .map(|write| format!("action data {}", view::data_write(write)))
                .chain(
                    effects
                        .policy_data
                        .iter()
                        .map(|write| format!("policy data {}", view::data_write(write))),
                )
                .collect();
            let notifications: Vec<String> = effects
                .notifications
                .iter()
                .map(|note| format!("{}: {}", note.members.join(", "), note.text))
                .collect();
            evaluation["effects"] = json!({
                "ran": effects.ran,
                "reason": effects.reason,
                "execute": effects.execute,
                "execute_option": effects.execute_option,
                "writes": writes,
                "notifications": notifications,
                "log": effects.log,
                "next_check": effects.next_check_at_ms.map(|at| render::relative(at, now)),
            });
        }
    }
    Ok(context)
}

#[derive(Deserialize)]
struct VoteForm {
    /// yes, no, an option number, a ranking, a choice; or `withdraw`.
    value: String,
}

async fn vote(
    State(state): State<AppState>,
    Path((community, action)): Path<(String, u64)>,
    headers: HeaderMap,
    Form(form): Form<VoteForm>,
) -> WebResult {
    same_site(&headers)?;
    let visit = visit(&state, &headers, &community)?;
    let body = if form.value == "withdraw" {
        StatementBody::VoteWithdrawn {
            action: ActionId(action),
        }
    } else {
        let value = VoteValue::parse(form.value.trim())
            .map_err(|message| unprocessable("invalid_vote", message))?;
        StatementBody::VoteCast {
            action: ActionId(action),
            value,
        }
    };
    visit
        .host
        .writer()
        .submit_on_behalf_async(&visit.member, None, body)
        .await
        .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/c/{}/proposals/{action}", visit.host.name)).into_response())
}

#[derive(Deserialize)]
struct ProposeQuery {
    #[serde(rename = "type")]
    action_type: Option<String>,
    #[serde(flatten)]
    prefill: std::collections::BTreeMap<String, String>,
}

async fn propose_form(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Query(query): Query<ProposeQuery>,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let context = visit.host.read(|model| {
        merge(
            frame(&visit, &model.state, "Propose"),
            view::propose_form(
                &model.state,
                &visit.member,
                query.action_type.as_deref(),
                &query.prefill,
                None,
            ),
        )
    });
    html("propose.html", &context)
}

/// A proposal form: `action_type`, `p.NAME` for each parameter of a constitution action,
/// `params` (key=value lines) for a platform action, `params_json` for a bundle, and
/// `not_before` (an RFC 3339 time) if the action must wait.
async fn propose(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> WebResult {
    same_site(&headers)?;
    let visit = visit(&state, &headers, &community)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let action_type = field("action_type").unwrap_or_default().trim().to_owned();
    let prefill: std::collections::BTreeMap<String, String> = fields.iter().cloned().collect();
    let refused = |error: ApiError| -> WebResult {
        let context = visit.host.read(|model| {
            merge(
                frame(&visit, &model.state, "Propose"),
                view::propose_form(
                    &model.state,
                    &visit.member,
                    Some(&action_type),
                    &prefill,
                    Some(json!({ "code": error.code, "message": error.message })),
                ),
            )
        });
        let body = render::page("propose.html", &context)?;
        Ok((error.status, html_headers(), body).into_response())
    };
    let params = match form_params(&action_type, &fields) {
        Ok(params) => params,
        Err(error) => return refused(error),
    };
    let action = match ActionSpec::parse(&action_type, &params, &|_| None) {
        Ok(action) => action,
        Err(error) => {
            return refused(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_param",
                error.to_string(),
            ))
        }
    };
    let not_before_ms = match field("not_before").map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(text) => match humantime::parse_rfc3339_weak(text) {
            Ok(at) => Some(
                at.duration_since(std::time::UNIX_EPOCH)
                    .map(|since| since.as_millis() as u64)
                    .unwrap_or_default(),
            ),
            Err(error) => {
                return refused(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_param",
                    format!("not_before: {error} (write 2026-12-01 09:00:00)"),
                ))
            }
        },
    };
    let receipt = match visit
        .host
        .writer()
        .submit_on_behalf_async(
            &visit.member,
            None,
            StatementBody::ActionProposed {
                action,
                not_before_ms,
            },
        )
        .await
    {
        Ok(receipt) => receipt,
        Err(error) => return refused(error.into()),
    };
    Ok(Redirect::to(&format!("/c/{}/proposals/{}", visit.host.name, receipt.seq)).into_response())
}

/// The parameters a proposal form sent, for its action type.
fn form_params(action_type: &str, fields: &[(String, String)]) -> Result<Params, ApiError> {
    let bad =
        |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_param", message);
    let mut params = Params::new();
    if let Some(described) = parameters(action_type) {
        // Only the parameters this type takes: the editor's form carries both add_policy's
        // and change_policy's fields.
        for param in described {
            let key = format!("p.{}", param.name);
            if let Some((_, value)) = fields.iter().find(|(name, _)| *name == key) {
                if !value.trim().is_empty() {
                    let value = if param.kind == ostrom_schemas::parameters::ParamKind::Source {
                        value.replace("\r\n", "\n")
                    } else {
                        value.trim().to_owned()
                    };
                    params.insert(param.name.to_owned(), Value::Str(value));
                }
            }
        }
    } else if matches!(action_type, "election" | "combination") {
        let text = fields
            .iter()
            .find(|(name, _)| name == "params_json")
            .map(|(_, value)| value.as_str())
            .unwrap_or("{}");
        params = serde_json::from_str(text)
            .map_err(|error| bad(format!("the parameters are not a JSON object: {error}")))?;
    } else {
        let text = fields
            .iter()
            .find(|(name, _)| name == "params")
            .map(|(_, value)| value.as_str())
            .unwrap_or_default();
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| bad(format!("{line:?} is not key=value")))?;
            if params
                .insert(key.trim().to_owned(), Value::Str(value.trim().to_owned()))
                .is_some()
            {
                return Err(bad(format!("{} is given twice", key.trim())));
            }
        }
    }
    Ok(params)
}

async fn policies(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
) -> WebResult {
    listing(
        &state,
        &headers,
        &community,
        ("Policies", "policies.html"),
        ("policies", view::policies),
    )
}

#[derive(Deserialize)]
struct PolicyQuery {
    /// Show this version's code (its hash, as proposals pin it) instead of the current.
    version: Option<String>,
}

async fn policy(
    State(state): State<AppState>,
    Path((community, policy)): Path<(String, u64)>,
    headers: HeaderMap,
    Query(query): Query<PolicyQuery>,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let context = visit.host.read(|model| {
        let found = model
            .state
            .policies
            .get(&ostrom_schemas::PolicyId(policy))
            .ok_or_else(|| ApiError::not_found("unknown_policy", format!("no policy {policy}")))?;
        Ok::<_, ApiError>(merge(
            frame(&visit, &model.state, &found.spec.name),
            view::policy(&model.state, found, query.version.as_deref()),
        ))
    })?;
    html("policy.html", &context)
}

async fn roles(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
) -> WebResult {
    listing(
        &state,
        &headers,
        &community,
        ("Roles", "roles.html"),
        ("roles", view::roles),
    )
}

#[derive(Deserialize)]
struct NamesQuery {
    after: Option<String>,
    role: Option<String>,
}

async fn members(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Query(query): Query<NamesQuery>,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let role = query.role.filter(|role| !role.is_empty());
    let context = visit.host.read(|model| {
        merge(
            frame(&visit, &model.state, "Members"),
            view::members(&model.state, role.as_deref(), query.after.as_deref()),
        )
    });
    html("members.html", &context)
}

async fn documents(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Query(query): Query<NamesQuery>,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let context = visit.host.read(|model| {
        merge(
            frame(&visit, &model.state, "Documents"),
            view::documents_page(&model.state, query.after.as_deref()),
        )
    });
    html("documents.html", &context)
}

#[derive(Deserialize)]
struct AuditQuery {
    member: Option<String>,
    action_type: Option<String>,
    policy: Option<String>,
    outcome: Option<String>,
    kind: Option<String>,
    action: Option<String>,
    /// A day or a time (RFC 3339, `2026-11-30` or `2026-11-30 12:00:00`).
    from: Option<String>,
    to: Option<String>,
    notable: Option<String>,
    after: Option<u64>,
}

fn day_or_time(field: &str, text: &str) -> Result<u64, WebError> {
    let text = text.trim();
    let full = if text.len() == 10 {
        format!("{text} 00:00:00")
    } else {
        text.to_owned()
    };
    humantime::parse_rfc3339_weak(&full)
        .ok()
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|since| since.as_millis() as u64)
        .ok_or_else(|| {
            WebError::Page(ApiError::bad_request(
                "bad_query",
                format!(
                    "{field}: {text:?} is not a day (2026-11-30) or a time (2026-11-30 12:00:00)"
                ),
            ))
        })
}

async fn audit(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let blank = |value: &Option<String>| value.clone().filter(|value| !value.trim().is_empty());
    let number = |field: &str, value: &Option<String>| -> Result<Option<u64>, WebError> {
        blank(value)
            .map(|text| {
                text.trim().parse::<u64>().map_err(|_| {
                    WebError::Page(ApiError::bad_request(
                        "bad_query",
                        format!("{field}: {text:?} is not a number"),
                    ))
                })
            })
            .transpose()
    };
    let filter = ostrom_projections::audit::AuditFilter {
        member: blank(&query.member),
        action_type: blank(&query.action_type),
        policy: number("policy", &query.policy)?.map(ostrom_schemas::PolicyId),
        outcome: blank(&query.outcome),
        kind: blank(&query.kind),
        action: number("action", &query.action)?.map(ActionId),
        from_ms: blank(&query.from)
            .map(|text| day_or_time("from", &text))
            .transpose()?,
        to_ms: blank(&query.to)
            .map(|text| day_or_time("to", &text))
            .transpose()?,
        notable_only: query.notable.is_some(),
    };
    let sequencer = visit.host.sequencer;
    let context = visit.host.read(|model| {
        super::api::may_read_log(&model.state, &visit.member)?;
        let page = model.audit.query(&filter, query.after, AUDIT_PAGE_ROWS);
        Ok::<_, ApiError>(merge(
            frame(&visit, &model.state, "Audit trail"),
            json!({
                "rows": view::audit_rows(&page.rows, sequencer),
                "next_after": page.next_after,
                "filter": {
                    "member": query.member, "action_type": query.action_type,
                    "policy": query.policy, "outcome": query.outcome, "kind": query.kind,
                    "action": query.action, "from": query.from, "to": query.to,
                    "notable": query.notable.is_some(),
                },
                "outcomes": ["passed", "failed", "proposed", "executed", "execution_failed",
                    "bypass", "refused", "reverted", "rolled_back", "restarted"],
                "live": "list",
            }),
        ))
    })?;
    html("audit.html", &context)
}

async fn proof(
    State(state): State<AppState>,
    Path((community, seq)): Path<(String, u64)>,
    headers: HeaderMap,
) -> Result<Json<crate::merkle::Proof>, WebError> {
    let visit = visit(&state, &headers, &community)?;
    let size = visit.host.read(|model| {
        super::api::may_read_log(&model.state, &visit.member)?;
        Ok::<_, ApiError>(model.state.position.next_seq)
    })?;
    if seq >= size {
        return Err(unprocessable(
            "bad_param",
            format!("seq {seq} is not in the log"),
        ));
    }
    let host = visit.host.clone();
    let proof = tokio::task::spawn_blocking(move || {
        crate::merkle::prove_inclusion(&*host.store, host.id, seq, size)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| ApiError::internal(format!("{}: {}", error.code, error.reason)))?;
    Ok(Json(proof))
}

#[derive(Deserialize)]
struct HistoryQuery {
    at: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The governance state after the first `end` entries, replayed on from `state` (from
/// genesis when it is the default state).
async fn state_after(
    host: &Arc<Host>,
    mut state: GovernanceState,
    end: u64,
) -> Result<GovernanceState, WebError> {
    let host = host.clone();
    tokio::task::spawn_blocking(move || {
        crate::ledger::replay_until(
            &*host.store,
            host.id,
            &mut state,
            end,
            &indicatif::ProgressBar::hidden(),
        )
        .map(|()| state)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|error| WebError::Page(ApiError::internal(error)))
}

async fn history(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HistoryQuery>,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let entries = visit.host.read(|model| model.state.position.next_seq);
    let seq = |field: &str, value: &Option<String>| -> Result<Option<u64>, WebError> {
        let Some(text) = value
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
        else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(seq) if seq < entries => Ok(Some(seq)),
            _ => Err(WebError::Page(ApiError::bad_request(
                "bad_query",
                format!(
                    "{field}: {text:?} is not a seq of this log (0 to {})",
                    entries - 1
                ),
            ))),
        }
    };
    let at = seq("at", &query.at)?;
    let from = seq("from", &query.from)?;
    let to = seq("to", &query.to)?;
    let mut context = json!({
        "entries": entries,
        "query": { "at": query.at, "from": query.from, "to": query.to },
    });
    if let Some(at) = at {
        let then = state_after(&visit.host, GovernanceState::default(), at + 1).await?;
        context = merge(
            context,
            json!({
                "at": at,
                "then": {
                    "time": render::time(then.position.at_ms),
                    "policies": view::policies(&then),
                    "roles": view::roles(&then),
                    "documents": view::documents(&then),
                },
            }),
        );
    }
    if let (Some(from), Some(to)) = (from, to) {
        let (from, to) = if from <= to { (from, to) } else { (to, from) };
        let before = state_after(&visit.host, GovernanceState::default(), from + 1).await?;
        // The later state continues from the earlier one: one pass over the log, not two.
        let after = state_after(&visit.host, before.clone(), to + 1).await?;
        let changes: Vec<String> = ostrom_projections::diff::diff(&before, &after)
            .into_iter()
            .map(|change| change.to_string())
            .collect();
        context = merge(
            context,
            json!({ "diff": { "from": from, "to": to, "changes": changes } }),
        );
    }
    let context = visit
        .host
        .read(|model| merge(frame(&visit, &model.state, "Time travel"), context));
    html("history.html", &context)
}

/// A stream that says "the log grew" (the seq of each new entry, nothing else), so open
/// pages know when to refresh; what they then fetch is filtered like any page.
async fn live(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let visit = visit(&state, &headers, &community)?;
    let receiver = visit.host.subscribe();
    let stop = state.stop.clone();
    let stream =
        futures_util::stream::unfold((receiver, stop), |(mut receiver, mut stop)| async move {
            use tokio::sync::broadcast::error::RecvError;
            if *stop.borrow() {
                return None;
            }
            let data = tokio::select! {
                received = receiver.recv() => match received {
                    Ok(event) => event.seq.to_string(),
                    Err(RecvError::Lagged(_)) => "lagged".to_owned(),
                    Err(RecvError::Closed) => return None,
                },
                _ = stop.changed() => return None,
            };
            let sse = Event::default().event("entry").data(data);
            Some((Ok::<_, std::convert::Infallible>(sse), (receiver, stop)))
        });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
