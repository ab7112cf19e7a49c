//! The HTTP API under `/api/v1`: one router function with every route, thin handlers that
//! turn requests into statements for a community's writer or queries of its published read
//! model, and the OpenAPI document generated from the handlers' annotations
//! (`/api/v1/openapi.json`).
//!
//! Who may do what: a bearer token speaks for one member of one community, and the server
//! vouches for that member's statements (`Body::Vouched` entries); a member holding a key may
//! instead submit a statement they signed. Nobody acts as another member. Reads need a
//! member of the community (or the operator token); proposals show only to members whose
//! roles may view their action type, and the raw log and audit trail only to members who
//! may view every type.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures_util::Stream;
use ostrom_projections::audit::{AuditFilter, AUDIT_PAGE_ROWS_MAX};
use ostrom_projections::state::{Action, Policy};
use ostrom_projections::{GovernanceState, Status};
use ostrom_schemas::action::ActionSpec;
use ostrom_schemas::statement::MemberSpec;
use ostrom_schemas::{
    ActionId, Entry, Params, PolicyId, PublicKey, Signed, StatementBody, VoteValue,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::host::{entry_event_json, EntryEvent, Host};
use super::ServerState;
use crate::clock;
use crate::writer::Receipt;

/// Proposals one page lists at most.
pub const PROPOSALS_PAGE_MAX: usize = 500;
/// Raw entries one page returns at most.
pub const ENTRIES_PAGE_MAX: u64 = 1_000;
/// Entries a live stream reads from the store per step while it catches up.
pub const EVENTS_CATCH_UP_CHUNK: u64 = 256;

type AppState = Arc<ServerState>;
type ApiResult<T> = Result<T, ApiError>;

/// Every route, on one screen.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.request_body_bytes_max;
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/health", get(health))
        .route("/communities", get(list_communities).post(found_community))
        .route("/communities/{community}", get(community_summary))
        .route("/communities/{community}/me", get(me))
        .route("/communities/{community}/head", get(head))
        .route(
            "/communities/{community}/proposals",
            get(list_proposals).post(propose),
        )
        .route(
            "/communities/{community}/proposals/{action}",
            get(get_proposal),
        )
        .route(
            "/communities/{community}/proposals/{action}/votes",
            post(vote).delete(withdraw),
        )
        .route(
            "/communities/{community}/statements",
            post(submit_statement),
        )
        .route("/communities/{community}/policies", get(list_policies))
        .route(
            "/communities/{community}/policies/{policy}",
            get(get_policy),
        )
        .route("/communities/{community}/roles", get(list_roles))
        .route("/communities/{community}/members", get(list_members))
        .route("/communities/{community}/documents", get(list_documents))
        .route("/communities/{community}/audit", get(audit))
        .route("/communities/{community}/entries", get(entries))
        .route("/communities/{community}/events", get(events))
        .route("/communities/{community}/tree-head", get(tree_head))
        .route(
            "/communities/{community}/proofs/inclusion",
            get(inclusion_proof),
        )
        .route(
            "/communities/{community}/proofs/consistency",
            get(consistency_proof),
        )
        .route("/communities/{community}/tokens", post(issue_token))
        .route("/communities/{community}/tokens/{id}", delete(revoke_token))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .merge(super::web::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ostrom",
        description = "An event-sourced governance ledger: propose, vote, read policies, \
                       roles, documents and the audit trail of a community."
    ),
    paths(
        health, list_communities, found_community, community_summary, me, head,
        list_proposals, propose, get_proposal, vote, withdraw, submit_statement,
        list_policies, get_policy, list_roles, list_members, list_documents, audit,
        entries, events, tree_head, inclusion_proof, consistency_proof, issue_token,
        revoke_token
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The OpenAPI document (3.1), generated from the handlers.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    document
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("a request handler panicked").into_response()
}

// ---------------------------------------------------------------------------------------
// Who is asking.

enum Caller {
    Operator,
    Member(String),
}

fn bearer(headers: &HeaderMap) -> ApiResult<&str> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("unauthorized", "send Authorization: Bearer TOKEN")
    })?;
    value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_token",
                "the Authorization header is not a bearer token",
            )
        })
}

impl ServerState {
    pub(super) fn host(&self, community: &str) -> ApiResult<Arc<Host>> {
        let hosts = self.hosts.read().expect("hosts lock");
        hosts
            .values()
            .find(|host| host.name == community || host.id.to_hex() == community)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found("unknown_community", format!("no community {community:?}"))
            })
    }

    fn is_operator(&self, token: &str) -> bool {
        self.config
            .operator_token
            .as_ref()
            .is_some_and(|operator| bool::from(operator.as_bytes().ct_eq(token.as_bytes())))
    }

    fn caller(&self, headers: &HeaderMap, host: &Host) -> ApiResult<Caller> {
        let token = bearer(headers)?;
        if self.is_operator(token) {
            return Ok(Caller::Operator);
        }
        let member = self.tokens.authenticate(host.id, token)?;
        if !host.read(|model| model.state.is_member(&member)) {
            return Err(ApiError::forbidden(
                "not_a_member",
                format!("{member} is no longer a member"),
            ));
        }
        Ok(Caller::Member(member))
    }

    /// The member a write speaks for: the token's, never anyone else.
    fn acting_member(
        &self,
        headers: &HeaderMap,
        host: &Host,
        claimed: Option<&str>,
    ) -> ApiResult<String> {
        match self.caller(headers, host)? {
            Caller::Member(member) => {
                if let Some(claimed) = claimed {
                    if claimed != member {
                        return Err(ApiError::forbidden(
                            "wrong_member",
                            format!("this token speaks for {member}, not {claimed}"),
                        ));
                    }
                }
                Ok(member)
            }
            Caller::Operator => Err(ApiError::forbidden(
                "member_required",
                "the operator token cannot act as a member; use a member's token",
            )),
        }
    }
}

/// What a reader may see.
struct Reader(Option<String>);

impl Reader {
    fn of(caller: Caller) -> Reader {
        match caller {
            Caller::Operator => Reader(None),
            Caller::Member(member) => Reader(Some(member)),
        }
    }

    fn may_view(&self, state: &GovernanceState, action_type: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|member| state.may_view(member, action_type))
    }

    fn may_view_log(&self, state: &GovernanceState) -> ApiResult<()> {
        match &self.0 {
            Some(member) => may_read_log(state, member),
            None => Ok(()),
        }
    }
}

/// The raw log, the audit trail, proofs and the live stream need a role that may view
/// every action type (the API's and the dashboard's rule).
pub(super) fn may_read_log(state: &GovernanceState, member: &str) -> ApiResult<()> {
    if state.may_view(member, "*") {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "not_permitted",
            "reading the whole log needs a role that may view every action type",
        ))
    }
}

fn reader(state: &ServerState, headers: &HeaderMap, host: &Host) -> ApiResult<Reader> {
    state.caller(headers, host).map(Reader::of)
}

/// The community a read names, and what the caller may see of it.
fn read_access(
    state: &ServerState,
    headers: &HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<(Arc<Host>, Reader)> {
    let Path(community) = path?;
    let host = state.host(&community)?;
    let reader = reader(state, headers, &host)?;
    Ok((host, reader))
}

// ---------------------------------------------------------------------------------------
// Response and request shapes.

#[derive(Serialize, ToSchema)]
struct Health {
    status: &'static str,
    communities: usize,
}

#[derive(Serialize, ToSchema)]
struct CommunityItem {
    id: String,
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FoundRequest {
    name: String,
    /// testing, dictator, moderators, democracy (default), jury or consensus.
    kit: Option<String>,
    /// Founding members, the first is the founder; each may name a public key (hex).
    members: Vec<FoundingMember>,
    #[serde(default)]
    trustees: Vec<String>,
    threshold: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FoundingMember {
    name: String,
    #[schema(value_type = Option<String>)]
    key: Option<PublicKey>,
}

#[derive(Serialize, ToSchema)]
struct Founded {
    id: String,
    name: String,
    kit: String,
    founder: String,
    /// The founder's bearer token; shown once.
    admin_token: String,
}

#[derive(Serialize, ToSchema)]
struct CommunitySummary {
    id: String,
    name: String,
    kit: String,
    founded_at_ms: u64,
    members: usize,
    open_proposals: usize,
    entries: u64,
}

#[derive(Serialize, ToSchema)]
struct Me {
    member: Option<String>,
    operator: bool,
    roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct Head {
    /// Entries in the log (the seq the next entry gets).
    entries: u64,
    /// blake3 of the last entry.
    head: String,
    at_ms: u64,
    /// blake3 of the canonical governance state after the last entry.
    state_hash: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProposeRequest {
    /// add_policy, grant_role, slack.post_message, election, ...
    action_type: String,
    /// The action's parameters (see the action types' documentation).
    #[serde(default)]
    #[schema(value_type = Object)]
    params: Params,
    /// No policy sees the action before this time (ms since the epoch).
    not_before_ms: Option<u64>,
    /// If given, must be the token's member.
    member: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VoteRequest {
    /// yes, no, an option index, a ranking `2,0,1`, or a named choice.
    value: String,
    /// If given, must be the token's member.
    member: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Written {
    /// Where the statement landed.
    seq: u64,
    hash: String,
    /// The proposal concerned and its status right after the write.
    action: Option<u64>,
    status: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct ProposalSummary {
    id: u64,
    action_type: String,
    kind: String,
    initiator: String,
    status: String,
    reason: Option<String>,
    proposed_at_ms: u64,
    not_before_ms: Option<u64>,
    yes: u64,
    no: u64,
    votes: u64,
    governing_policy: Option<u64>,
    governing_version: Option<String>,
    decided_seq: Option<u64>,
    next_check_at_ms: Option<u64>,
}

#[derive(Serialize, ToSchema)]
struct ProposalPage {
    proposals: Vec<ProposalSummary>,
    /// Pass as `after` for the next page; absent at the end.
    next_after: Option<u64>,
}

#[derive(Serialize, ToSchema)]
struct ProposalDetail {
    #[serde(flatten)]
    summary: ProposalSummary,
    /// The proposed action with its parameters.
    #[schema(value_type = Object)]
    action: Json_,
    /// Current votes by member.
    #[schema(value_type = Object)]
    votes_by_member: Json_,
    /// Every vote and withdrawal, in order.
    #[schema(value_type = Vec<Object>)]
    vote_history: Json_,
    /// Every evaluation: seq, policy and version, phase, outcome, error.
    #[schema(value_type = Vec<Object>)]
    evaluations: Json_,
    #[schema(value_type = Object)]
    execution: Json_,
    #[schema(value_type = Object)]
    data: Json_,
    #[schema(value_type = Vec<Object>)]
    notifications: Json_,
    bypass: Option<(String, String)>,
    reverted_by: Option<u64>,
    proposed_by_policy: Option<u64>,
}

#[derive(Serialize, ToSchema)]
struct PolicyView {
    id: u64,
    name: String,
    description: String,
    kind: String,
    action_types: Vec<String>,
    priority: i64,
    active: bool,
    /// The content hash proposals are pinned to.
    version: String,
    source: String,
    #[schema(value_type = Object)]
    data: Json_,
    /// Every version: seq it took effect, the proposal that passed it, its hash, its source.
    #[schema(value_type = Vec<Object>)]
    versions: Json_,
}

#[derive(Serialize, ToSchema)]
struct RoleView {
    name: String,
    description: String,
    #[schema(value_type = Object)]
    permissions: Json_,
    members: Vec<String>,
    member_count: usize,
    active: bool,
    #[schema(value_type = Vec<Object>)]
    versions: Json_,
}

#[derive(Serialize, ToSchema)]
struct MemberView {
    name: String,
    key: Option<String>,
    joined_seq: u64,
    active: bool,
    roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct DocumentView {
    name: String,
    text: String,
    active: bool,
    #[schema(value_type = Vec<Object>)]
    versions: Json_,
}

#[derive(Serialize, ToSchema)]
struct AuditPageView {
    #[schema(value_type = Vec<Object>)]
    rows: Json_,
    next_after: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    member: String,
    #[serde(default)]
    label: String,
}

#[derive(Serialize, ToSchema)]
struct IssuedToken {
    id: String,
    member: String,
    /// Shown once; only its hash is kept.
    token: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ProposalQuery {
    /// proposed, passed or failed.
    status: Option<String>,
    action_type: Option<String>,
    initiator: Option<String>,
    /// List proposals with ids above this.
    after: Option<u64>,
    limit: Option<usize>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    member: Option<String>,
    action_type: Option<String>,
    policy: Option<u64>,
    /// passed, failed, proposed, executed, execution_failed, bypass, refused, reverted,
    /// rolled_back, restarted.
    outcome: Option<String>,
    /// An entry type, e.g. VoteCast, Evaluated.
    kind: Option<String>,
    action: Option<u64>,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    /// Only bypasses, reverts, rollbacks, restarts and refusals.
    #[serde(default)]
    notable: bool,
    after: Option<u64>,
    limit: Option<usize>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EntriesQuery {
    #[serde(default)]
    from: u64,
    limit: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    /// The entry to prove.
    seq: u64,
    /// The tree size to prove it in (default: every durable entry).
    size: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    /// The size of the older tree head.
    old: u64,
    /// The size of the newer one (default: every durable entry).
    new: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// The first seq to send (default: only new entries); `Last-Event-ID` resumes after it.
    from: Option<u64>,
}

fn to_json(value: &impl Serialize) -> Json_ {
    serde_json::to_value(value).expect("read models always encode")
}

/// A `status` filter of a proposal list (the API's and the dashboard's).
pub(super) fn status_filter(text: &str) -> ApiResult<Status> {
    match text {
        "proposed" => Ok(Status::Proposed),
        "passed" => Ok(Status::Passed),
        "failed" => Ok(Status::Failed),
        other => Err(ApiError::bad_request(
            "bad_query",
            format!("status {other:?} is not proposed, passed or failed"),
        )),
    }
}

fn status_name(status: Status) -> String {
    status.as_str().to_owned()
}

fn summary(action: &Action) -> ProposalSummary {
    let count = |wanted: &VoteValue| {
        action
            .votes
            .values()
            .filter(|vote| &vote.value == wanted)
            .count() as u64
    };
    ProposalSummary {
        id: action.id.0,
        action_type: action.spec.action_type().to_owned(),
        kind: to_json(&action.kind)
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        initiator: action.initiator.clone(),
        status: status_name(action.status),
        reason: action.reason.clone(),
        proposed_at_ms: action.proposed_at_ms,
        not_before_ms: action.not_before_ms,
        yes: count(&VoteValue::Yes),
        no: count(&VoteValue::No),
        votes: action.votes.len() as u64,
        governing_policy: action.governing.map(|(policy, _)| policy.0),
        governing_version: action.governing.map(|(_, version)| version.to_hex()),
        decided_seq: action.decided_seq,
        next_check_at_ms: action.next_check_at_ms,
    }
}

fn detail(action: &Action) -> ProposalDetail {
    ProposalDetail {
        summary: summary(action),
        action: to_json(&action.spec),
        votes_by_member: to_json(&action.votes),
        vote_history: to_json(&action.vote_history),
        evaluations: to_json(&action.evaluations),
        execution: to_json(&action.execution),
        data: to_json(&action.data),
        notifications: to_json(&action.notifications),
        bypass: action.bypass.clone(),
        reverted_by: action.reverted_by.map(|id| id.0),
        proposed_by_policy: action.proposed_by_policy.map(|id| id.0),
    }
}

fn policy_view(policy: &Policy) -> PolicyView {
    PolicyView {
        id: policy.id.0,
        name: policy.spec.name.clone(),
        description: policy.spec.description.clone(),
        kind: to_json(&policy.spec.kind)
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        action_types: policy.spec.action_types.clone(),
        priority: policy.spec.priority,
        active: policy.active,
        version: policy.version.to_hex(),
        source: policy.spec.source.clone(),
        data: to_json(&policy.data),
        versions: to_json(&policy.versions),
    }
}

fn written(receipt: Receipt, action: Option<ActionId>, host: &Host) -> Written {
    let status = action.and_then(|action| {
        host.read(|model| {
            model
                .state
                .actions
                .get(&action)
                .map(|found| status_name(found.status))
        })
    });
    Written {
        seq: receipt.seq,
        hash: receipt.hash.to_hex(),
        action: action.map(|action| action.0),
        status,
    }
}

// ---------------------------------------------------------------------------------------
// Handlers.

/// Liveness.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)), security(()))]
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        communities: state.hosts.read().expect("hosts lock").len(),
    })
}

/// The communities this server hosts.
#[utoipa::path(get, path = "/communities", responses((status = 200, body = Vec<CommunityItem>)), security(()))]
async fn list_communities(State(state): State<AppState>) -> Json<Vec<CommunityItem>> {
    let hosts = state.hosts.read().expect("hosts lock");
    let mut items: Vec<CommunityItem> = hosts
        .values()
        .map(|host| CommunityItem {
            id: host.id.to_hex(),
            name: host.name.clone(),
        })
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Json(items)
}

/// Found a community (operator token): writes its genesis entry and returns the founder's
/// token, once.
#[utoipa::path(post, path = "/communities", request_body = FoundRequest,
    responses((status = 201, body = Founded), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn found_community(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<FoundRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Founded>)> {
    let token = bearer(&headers)?;
    if !state.is_operator(token) {
        return Err(ApiError::forbidden(
            "operator_required",
            "founding a community needs the operator token",
        ));
    }
    let Json(request) = body?;
    let kit = request
        .kit
        .unwrap_or_else(|| crate::kits::DEFAULT_KIT.to_owned());
    let members: Vec<MemberSpec> = request
        .members
        .into_iter()
        .map(|member| MemberSpec {
            name: member.name,
            key: member.key,
        })
        .collect();
    let founder = members
        .first()
        .map(|member| member.name.clone())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_param",
                "a community needs at least one member",
            )
        })?;
    let name = request.name.clone();
    let founded = {
        let state = state.clone();
        let kit = kit.clone();
        tokio::task::spawn_blocking(move || {
            state.found(&name, &kit, members, request.trustees, request.threshold)
        })
        .await
        .map_err(ApiError::internal)??
    };
    let (token, _) = state
        .tokens
        .issue(founded.id, &founder, "founder", clock::now_ms())?;
    Ok((
        StatusCode::CREATED,
        Json(Founded {
            id: founded.id.to_hex(),
            name: founded.name.clone(),
            kit,
            founder,
            admin_token: token,
        }),
    ))
}

/// A community at a glance.
#[utoipa::path(get, path = "/communities/{community}", params(("community" = String, Path, description = "name or id")),
    responses((status = 200, body = CommunitySummary), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn community_summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<CommunitySummary>> {
    let (host, _) = read_access(&state, &headers, path)?;
    Ok(Json(host.read(|model| {
        let founded = model.state.community.as_ref().expect("founded");
        CommunitySummary {
            id: host.id.to_hex(),
            name: founded.name.clone(),
            kit: founded.kit.clone(),
            founded_at_ms: founded.founded_at_ms,
            members: model.state.members.values().filter(|m| m.active).count(),
            open_proposals: model.state.open.len(),
            entries: model.state.position.next_seq,
        }
    })))
}

/// Who the token speaks for, and their roles.
#[utoipa::path(get, path = "/communities/{community}/me", params(("community" = String, Path)),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Me>> {
    let Path(community) = path?;
    let host = state.host(&community)?;
    Ok(Json(match state.caller(&headers, &host)? {
        Caller::Operator => Me {
            member: None,
            operator: true,
            roles: Vec::new(),
        },
        Caller::Member(member) => Me {
            roles: host.read(|model| model.state.roles_of(&member)),
            member: Some(member),
            operator: false,
        },
    }))
}

/// The log's head and the state hash after it.
#[utoipa::path(get, path = "/communities/{community}/head", params(("community" = String, Path)),
    responses((status = 200, body = Head), (status = 401, body = ErrorBody)))]
async fn head(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Head>> {
    let (host, _) = read_access(&state, &headers, path)?;
    let (covers, state_hash) = host.state_hash();
    let (entries, head, at_ms) = host.read(|model| {
        let position = &model.state.position;
        (position.next_seq, position.head, position.at_ms)
    });
    // A write may land between the two reads; the hash is then one head behind, so ask
    // again rather than pair a head with another head's state.
    let state_hash = if covers == entries {
        state_hash
    } else {
        host.state_hash().1
    };
    Ok(Json(Head {
        entries,
        head: head.to_hex(),
        at_ms,
        state_hash: state_hash.to_hex(),
    }))
}

/// Proposals, oldest first, filtered and paged.
#[utoipa::path(get, path = "/communities/{community}/proposals", params(("community" = String, Path), ProposalQuery),
    responses((status = 200, body = ProposalPage), (status = 401, body = ErrorBody)))]
async fn list_proposals(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ProposalQuery>, QueryRejection>,
) -> ApiResult<Json<ProposalPage>> {
    let Query(query) = query?;
    let (host, reader) = read_access(&state, &headers, path)?;
    let status = query.status.as_deref().map(status_filter).transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, PROPOSALS_PAGE_MAX);
    let start = ActionId(query.after.map_or(0, |after| after.saturating_add(1)));
    Ok(Json(host.read(|model| {
        let state = &model.state;
        let keep = |action: &&Action| {
            status.is_none_or(|status| action.status == status)
                && query
                    .action_type
                    .as_deref()
                    .is_none_or(|wanted| action.spec.action_type() == wanted)
                && query
                    .initiator
                    .as_deref()
                    .is_none_or(|wanted| action.initiator == wanted)
                && reader.may_view(state, action.spec.action_type())
        };
        let mut proposals = Vec::new();
        let mut more = false;
        // Open proposals have their own index, so the dashboard's most common question
        // does not scan every decided one.
        let candidates: Box<dyn Iterator<Item = &Action>> = if status == Some(Status::Proposed) {
            Box::new(
                state
                    .open
                    .range(start..)
                    .filter_map(|id| state.actions.get(id)),
            )
        } else {
            Box::new(state.actions.range(start..).map(|(_, action)| action))
        };
        for action in candidates.filter(keep) {
            if proposals.len() == limit {
                more = true;
                break;
            }
            proposals.push(summary(action));
        }
        let next_after = more.then(|| proposals.last().map(|last| last.id)).flatten();
        ProposalPage {
            proposals,
            next_after,
        }
    })))
}

/// One proposal: the action, the governing policy version, every vote with its history,
/// every evaluation, the outcome and execution.
#[utoipa::path(get, path = "/communities/{community}/proposals/{action}", params(("community" = String, Path), ("action" = u64, Path)),
    responses((status = 200, body = ProposalDetail), (status = 404, body = ErrorBody)))]
async fn get_proposal(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, u64)>, PathRejection>,
) -> ApiResult<Json<ProposalDetail>> {
    let Path((community, action)) = path?;
    let host = state.host(&community)?;
    let reader = reader(&state, &headers, &host)?;
    host.read(|model| {
        model
            .state
            .actions
            .get(&ActionId(action))
            .filter(|found| reader.may_view(&model.state, found.spec.action_type()))
            .map(|found| Json(detail(found)))
            .ok_or_else(|| ApiError::not_found("unknown_proposal", format!("no proposal {action}")))
    })
}

/// Propose an action as the token's member; returns once the proposal is durable.
#[utoipa::path(post, path = "/communities/{community}/proposals", params(("community" = String, Path)), request_body = ProposeRequest,
    responses((status = 201, body = Written), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn propose(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<ProposeRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Written>)> {
    let Path(community) = path?;
    let host = state.host(&community)?;
    let Json(request) = body?;
    let member = state.acting_member(&headers, &host, request.member.as_deref())?;
    let action =
        ActionSpec::parse(&request.action_type, &request.params, &|_| None).map_err(|error| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_param",
                error.to_string(),
            )
        })?;
    let receipt = host
        .writer()
        .submit_on_behalf_async(
            &member,
            None,
            StatementBody::ActionProposed {
                action,
                not_before_ms: request.not_before_ms,
            },
        )
        .await?;
    let id = ActionId(receipt.seq);
    Ok((StatusCode::CREATED, Json(written(receipt, Some(id), &host))))
}

/// Vote on an open proposal as the token's member; a later vote replaces an earlier one.
#[utoipa::path(post, path = "/communities/{community}/proposals/{action}/votes", params(("community" = String, Path), ("action" = u64, Path)), request_body = VoteRequest,
    responses((status = 201, body = Written), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn vote(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, u64)>, PathRejection>,
    body: Result<Json<VoteRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Written>)> {
    let Path((community, action)) = path?;
    let host = state.host(&community)?;
    let Json(request) = body?;
    let member = state.acting_member(&headers, &host, request.member.as_deref())?;
    let value = VoteValue::parse(&request.value).map_err(|message| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_vote", message)
    })?;
    let receipt = host
        .writer()
        .submit_on_behalf_async(
            &member,
            None,
            StatementBody::VoteCast {
                action: ActionId(action),
                value,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(written(receipt, Some(ActionId(action)), &host)),
    ))
}

/// Withdraw the token member's vote.
#[utoipa::path(delete, path = "/communities/{community}/proposals/{action}/votes", params(("community" = String, Path), ("action" = u64, Path)),
    responses((status = 200, body = Written), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, u64)>, PathRejection>,
) -> ApiResult<Json<Written>> {
    let Path((community, action)) = path?;
    let host = state.host(&community)?;
    let member = state.acting_member(&headers, &host, None)?;
    let receipt = host
        .writer()
        .submit_on_behalf_async(
            &member,
            None,
            StatementBody::VoteWithdrawn {
                action: ActionId(action),
            },
        )
        .await?;
    Ok(Json(written(receipt, Some(ActionId(action)), &host)))
}

/// Submit a statement a member signed with their own key (no bearer token needed: the
/// signature is the authentication). Refused if the signature does not verify, the key is
/// not the member's, or the counter was used before (a replay).
#[utoipa::path(post, path = "/communities/{community}/statements", params(("community" = String, Path)),
    request_body(content = Object, description = "A signed statement: {statement, author, sig} as the JSON Schemas in schemas/v1 describe"),
    responses((status = 201, body = Written), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)), security(()))]
async fn submit_statement(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<Signed>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Written>)> {
    let Path(community) = path?;
    let host = state.host(&community)?;
    let Json(signed) = body?;
    if signed.statement.community != host.id {
        return Err(ApiError::bad_request(
            "wrong_community",
            "the statement names another community",
        ));
    }
    let action = match &signed.statement.body {
        StatementBody::VoteCast { action, .. } | StatementBody::VoteWithdrawn { action } => {
            Some(*action)
        }
        StatementBody::ActionProposed { .. } => None,
        StatementBody::CommunityFounded(_) => {
            return Err(ApiError::bad_request(
                "bad_genesis",
                "a community is founded once",
            ))
        }
        _ => None,
    };
    let proposes = matches!(signed.statement.body, StatementBody::ActionProposed { .. });
    let receipt = host.writer().submit_async(signed).await?;
    let action = action.or(proposes.then_some(ActionId(receipt.seq)));
    Ok((StatusCode::CREATED, Json(written(receipt, action, &host))))
}

/// Every policy with its code, kind, action types, priority and version history.
#[utoipa::path(get, path = "/communities/{community}/policies", params(("community" = String, Path)),
    responses((status = 200, body = Vec<PolicyView>)))]
async fn list_policies(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Vec<PolicyView>>> {
    let (host, _) = read_access(&state, &headers, path)?;
    Ok(Json(host.read(|model| {
        model.state.policies.values().map(policy_view).collect()
    })))
}

/// One policy.
#[utoipa::path(get, path = "/communities/{community}/policies/{policy}", params(("community" = String, Path), ("policy" = u64, Path)),
    responses((status = 200, body = PolicyView), (status = 404, body = ErrorBody)))]
async fn get_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, u64)>, PathRejection>,
) -> ApiResult<Json<PolicyView>> {
    let Path((community, policy)) = path?;
    let host = state.host(&community)?;
    reader(&state, &headers, &host)?;
    host.read(|model| {
        model
            .state
            .policies
            .get(&PolicyId(policy))
            .map(|found| Json(policy_view(found)))
            .ok_or_else(|| ApiError::not_found("unknown_policy", format!("no policy {policy}")))
    })
}

/// Roles with permissions, members and history.
#[utoipa::path(get, path = "/communities/{community}/roles", params(("community" = String, Path)),
    responses((status = 200, body = Vec<RoleView>)))]
async fn list_roles(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Vec<RoleView>>> {
    let (host, _) = read_access(&state, &headers, path)?;
    Ok(Json(host.read(|model| {
        model
            .state
            .roles
            .iter()
            .map(|(name, role)| {
                let members = model.state.role_members(name);
                RoleView {
                    name: name.clone(),
                    description: role.description.clone(),
                    permissions: to_json(&role.permissions),
                    member_count: members.len(),
                    members,
                    active: role.active,
                    versions: to_json(&role.versions),
                }
            })
            .collect()
    })))
}

/// Members with their keys and roles.
#[utoipa::path(get, path = "/communities/{community}/members", params(("community" = String, Path)),
    responses((status = 200, body = Vec<MemberView>)))]
async fn list_members(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Vec<MemberView>>> {
    let (host, _) = read_access(&state, &headers, path)?;
    Ok(Json(host.read(|model| {
        model
            .state
            .members
            .iter()
            .map(|(name, member)| MemberView {
                name: name.clone(),
                key: member.key.map(|key| key.to_hex()),
                joined_seq: member.joined_seq,
                active: member.active,
                roles: if member.active {
                    model.state.roles_of(name)
                } else {
                    Vec::new()
                },
            })
            .collect()
    })))
}

/// Documents with their history.
#[utoipa::path(get, path = "/communities/{community}/documents", params(("community" = String, Path)),
    responses((status = 200, body = Vec<DocumentView>)))]
async fn list_documents(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Vec<DocumentView>>> {
    let (host, _) = read_access(&state, &headers, path)?;
    Ok(Json(host.read(|model| {
        model
            .state
            .documents
            .iter()
            .map(|(name, document)| DocumentView {
                name: name.clone(),
                text: document.text.clone(),
                active: document.active,
                versions: to_json(&document.versions),
            })
            .collect()
    })))
}

/// The audit trail: one row per entry, filtered, paged by seq.
#[utoipa::path(get, path = "/communities/{community}/audit", params(("community" = String, Path), AuditQuery),
    responses((status = 200, body = AuditPageView), (status = 403, body = ErrorBody)))]
async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<AuditPageView>> {
    let Query(query) = query?;
    let (host, reader) = read_access(&state, &headers, path)?;
    let filter = AuditFilter {
        member: query.member,
        action_type: query.action_type,
        policy: query.policy.map(PolicyId),
        outcome: query.outcome,
        kind: query.kind,
        action: query.action.map(ActionId),
        from_ms: query.from_ms,
        to_ms: query.to_ms,
        notable_only: query.notable,
    };
    let limit = query.limit.unwrap_or(100).min(AUDIT_PAGE_ROWS_MAX);
    host.read(|model| {
        reader.may_view_log(&model.state)?;
        let page = model.audit.query(&filter, query.after, limit);
        Ok(Json(AuditPageView {
            rows: to_json(&page.rows),
            next_after: page.next_after,
        }))
    })
}

/// Raw entries from a seq: JSON, or with `Accept: application/octet-stream` the canonical
/// bytes, each preceded by its length as a 4-byte big-endian integer.
#[utoipa::path(get, path = "/communities/{community}/entries", params(("community" = String, Path), EntriesQuery),
    responses((status = 200, description = "entries as JSON [{seq, hash, entry}] or length-prefixed canonical bytes"), (status = 403, body = ErrorBody)))]
async fn entries(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<EntriesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query?;
    let (host, reader) = read_access(&state, &headers, path)?;
    let published = host.read(|model| {
        reader.may_view_log(&model.state)?;
        Ok::<_, ApiError>(model.state.position.next_seq)
    })?;
    let limit = query.limit.unwrap_or(100).clamp(1, ENTRIES_PAGE_MAX);
    let to = published.min(query.from.saturating_add(limit));
    let raw = {
        let host = host.clone();
        tokio::task::spawn_blocking(move || host.store.read_range(host.id, query.from, to))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?
    };
    let binary = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("application/octet-stream"));
    if binary {
        let mut body = Vec::with_capacity(raw.iter().map(|bytes| bytes.len() + 4).sum());
        for bytes in &raw {
            body.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            body.extend_from_slice(bytes);
        }
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response());
    }
    let mut items = Vec::with_capacity(raw.len());
    for (offset, bytes) in raw.iter().enumerate() {
        let seq = query.from + offset as u64;
        let entry = Entry::decode(bytes)
            .map_err(|error| ApiError::internal(format!("entry {seq} does not decode: {error}")))?;
        items.push(serde_json::json!({
            "seq": seq,
            "hash": ostrom_schemas::entry::hash_entry_bytes(bytes),
            "entry": entry,
        }));
    }
    Ok(Json(items).into_response())
}

/// A tree head signed now over every durable entry: save it, and later ask for proofs
/// against it (`ostrom proof check` verifies them offline).
#[utoipa::path(get, path = "/communities/{community}/tree-head", params(("community" = String, Path)),
    responses((status = 200, description = "a signed tree head (format ostrom-tree-head/v1)"), (status = 403, body = ErrorBody)))]
async fn tree_head(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<crate::merkle::TreeHead>> {
    let (host, reader) = read_access(&state, &headers, path)?;
    host.read(|model| reader.may_view_log(&model.state))?;
    host.tree_head().map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "read_only",
            "this node holds no sequencer key to sign a tree head",
        )
    })
}

fn proof_error(error: crate::merkle::ProofError) -> ApiError {
    match error.code {
        "bad_param" => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_param", error.reason),
        _ => ApiError::internal(format!("{}: {}", error.code, error.reason)),
    }
}

/// An RFC 6962-shaped inclusion proof: entry `seq` is leaf `seq` of the tree of `size`.
#[utoipa::path(get, path = "/communities/{community}/proofs/inclusion", params(("community" = String, Path), InclusionQuery),
    responses((status = 200, description = "an inclusion proof (format ostrom-proof/v1)"), (status = 422, body = ErrorBody)))]
async fn inclusion_proof(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<InclusionQuery>, QueryRejection>,
) -> ApiResult<Json<crate::merkle::Proof>> {
    let Query(query) = query?;
    let (host, reader) = read_access(&state, &headers, path)?;
    let published = host.read(|model| {
        reader.may_view_log(&model.state)?;
        Ok::<_, ApiError>(model.state.position.next_seq)
    })?;
    let size = query.size.unwrap_or(published);
    if size > published || query.seq >= size {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_param",
            format!(
                "seq {} is not in a tree of {size} of the {published} entries",
                query.seq
            ),
        ));
    }
    let proof = tokio::task::spawn_blocking(move || {
        crate::merkle::prove_inclusion(&*host.store, host.id, query.seq, size)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(proof_error)?;
    Ok(Json(proof))
}

/// An RFC 6962-shaped consistency proof: the tree of `old` entries is a prefix of the tree
/// of `new`, so the log was only appended to between two tree heads.
#[utoipa::path(get, path = "/communities/{community}/proofs/consistency", params(("community" = String, Path), ConsistencyQuery),
    responses((status = 200, description = "a consistency proof (format ostrom-proof/v1)"), (status = 422, body = ErrorBody)))]
async fn consistency_proof(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> ApiResult<Json<crate::merkle::Proof>> {
    let Query(query) = query?;
    let (host, reader) = read_access(&state, &headers, path)?;
    let published = host.read(|model| {
        reader.may_view_log(&model.state)?;
        Ok::<_, ApiError>(model.state.position.next_seq)
    })?;
    let new = query.new.unwrap_or(published);
    if new > published || query.old == 0 || query.old > new {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_param",
            format!("need 0 < old <= new <= {published}"),
        ));
    }
    let proof = tokio::task::spawn_blocking(move || {
        crate::merkle::prove_consistency(&*host.store, host.id, query.old, new)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(proof_error)?;
    Ok(Json(proof))
}

/// Issue a bearer token for a member: the operator for anyone, a member for themselves.
#[utoipa::path(post, path = "/communities/{community}/tokens", params(("community" = String, Path)), request_body = TokenRequest,
    responses((status = 201, body = IssuedToken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let Path(community) = path?;
    let host = state.host(&community)?;
    let Json(request) = body?;
    if let Caller::Member(member) = state.caller(&headers, &host)? {
        if member != request.member {
            return Err(ApiError::forbidden(
                "wrong_member",
                format!("{member} may issue tokens only for themselves"),
            ));
        }
    }
    if !host.read(|model| model.state.is_member(&request.member)) {
        return Err(ApiError::not_found(
            "unknown_member",
            format!("{} is not a member", request.member),
        ));
    }
    let (token, record) =
        state
            .tokens
            .issue(host.id, &request.member, &request.label, clock::now_ms())?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            id: record.id,
            member: record.member,
            token,
        }),
    ))
}

/// Revoke a token: the operator any, a member their own.
#[utoipa::path(delete, path = "/communities/{community}/tokens/{id}", params(("community" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<StatusCode> {
    let Path((community, id)) = path?;
    let host = state.host(&community)?;
    let caller = state.caller(&headers, &host)?;
    let record = state
        .tokens
        .get(&id)
        .filter(|record| record.community == host.id)
        .ok_or_else(|| ApiError::not_found("unknown_token", format!("no token {id}")))?;
    if let Caller::Member(member) = caller {
        if member != record.member {
            return Err(ApiError::forbidden(
                "wrong_member",
                "a member may revoke only their own tokens",
            ));
        }
    }
    state.tokens.revoke(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A server-sent-events stream of new entries (`event: entry`, `id: SEQ`, data: the entry
/// and its audit row as JSON). `from` or `Last-Event-ID` replays from the store first.
#[utoipa::path(get, path = "/communities/{community}/events", params(("community" = String, Path), EventsQuery),
    responses((status = 200, description = "text/event-stream of entries"), (status = 403, body = ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let Query(query) = query?;
    let (host, reader) = read_access(&state, &headers, path)?;
    host.read(|model| reader.may_view_log(&model.state))?;
    // Subscribe before looking at the head, so nothing falls between the two.
    let receiver = host.subscribe();
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .map(|seq| seq + 1);
    let next = match resume.or(query.from) {
        Some(from) => from,
        None => host.read(|model| model.state.position.next_seq),
    };
    let stream = LiveEntries {
        host,
        next,
        receiver,
        backlog: VecDeque::new(),
        stop: state.stop.clone(),
    };
    Ok(
        Sse::new(futures_util::stream::unfold(stream, LiveEntries::step))
            .keep_alive(KeepAlive::default()),
    )
}

struct LiveEntries {
    host: Arc<Host>,
    /// The next seq to send.
    next: u64,
    receiver: tokio::sync::broadcast::Receiver<EntryEvent>,
    backlog: VecDeque<EntryEvent>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl LiveEntries {
    /// The next event: from the backlog, from the store while behind the published head,
    /// then from the live broadcast (falling back to the store after a gap or lag).
    async fn step(mut self) -> Option<(Result<Event, Infallible>, LiveEntries)> {
        loop {
            if *self.stop.borrow() {
                return None;
            }
            if let Some(event) = self.backlog.pop_front() {
                let sse = Event::default()
                    .id(event.seq.to_string())
                    .event("entry")
                    .data(&*event.json);
                return Some((Ok(sse), self));
            }
            let published = self.host.read(|model| model.state.position.next_seq);
            if self.next < published {
                let to = published.min(self.next + EVENTS_CATCH_UP_CHUNK);
                let host = self.host.clone();
                let from = self.next;
                let raw =
                    tokio::task::spawn_blocking(move || host.store.read_range(host.id, from, to))
                        .await
                        .ok()?
                        .ok()?;
                for (offset, bytes) in raw.iter().enumerate() {
                    let entry = Entry::decode(bytes).ok()?;
                    let hash = ostrom_schemas::entry::hash_entry_bytes(bytes);
                    let json = self
                        .host
                        .read(|model| entry_event_json(model, &entry, hash));
                    self.backlog.push_back(EntryEvent {
                        seq: from + offset as u64,
                        json: json.into(),
                    });
                }
                self.next = from + raw.len() as u64;
                if raw.is_empty() {
                    return None;
                }
                continue;
            }
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(event) if event.seq < self.next => {}
                    Ok(event) if event.seq == self.next => {
                        self.next += 1;
                        self.backlog.push_back(event);
                    }
                    // A gap or a lag: the store has what was missed.
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                _ = self.stop.changed() => return None,
            }
        }
    }
}
