//! The policy editor's pages and endpoints: the editor form (a new policy, a new version
//! of one, or code generated from a procedure's parameters), the compile endpoint its
//! script calls as the author types, and backtests of a draft against the community's
//! history (`engine::backtest`), run on a blocking thread.

use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use ostrom_schemas::action::{PolicyKind, PolicySpec};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{frame, html, merge, render, same_site, view, visit, AppState, Visit, WebResult};
use crate::engine::backtest::{backtest, BacktestError, Draft};
use crate::server::error::ApiError;
use crate::server::ServerState;

#[derive(Deserialize)]
pub(super) struct EditorQuery {
    policy: Option<u64>,
    procedure: Option<String>,
}

pub(super) async fn editor(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Query(query): Query<EditorQuery>,
) -> WebResult {
    let visit = visit(&state, &headers, &community)?;
    let context = visit.host.read(|model| {
        let draft = match query
            .policy
            .and_then(|id| model.state.policies.get(&ostrom_schemas::PolicyId(id)))
        {
            Some(policy) => view::EditorDraft::of_policy(policy),
            None => view::EditorDraft::starter(),
        };
        merge(
            frame(&visit, &model.state, "Policy editor"),
            view::editor(&model.state, &draft, query.procedure.as_deref(), json!({})),
        )
    });
    html("editor.html", &context)
}

/// The editor's form: `op` is `check` (compile and show errors), `backtest`, or
/// `generate` (fill the source in from a procedure's parameters, `q.NAME`).
pub(super) async fn editor_action(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> WebResult {
    same_site(&headers)?;
    let visit = visit(&state, &headers, &community)?;
    let mut draft = view::EditorDraft::from_fields(&fields);
    let op = fields
        .iter()
        .find(|(name, _)| name == "op")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| "check".to_owned());
    let procedure = fields
        .iter()
        .find(|(name, _)| name == "procedure")
        .map(|(_, value)| value.clone())
        .filter(|value| !value.is_empty());
    let mut results = json!({});
    match op.as_str() {
        "generate" => {
            let name = procedure.clone().unwrap_or_default();
            let values: std::collections::BTreeMap<String, String> = fields
                .iter()
                .filter_map(|(key, value)| {
                    key.strip_prefix("q.")
                        .filter(|_| !value.trim().is_empty())
                        .map(|key| (key.to_owned(), value.trim().to_owned()))
                })
                .collect();
            match crate::procedures::generate(&name, &values) {
                Ok(source) => draft.source = source,
                Err(message) => {
                    results = json!({ "procedure_error": message });
                }
            }
        }
        "backtest" => {
            results = match run_backtest(&state, &visit, &draft).await {
                Ok(report) => json!({ "backtest": report }),
                Err(BacktestRefusal::Compile(error)) => json!({ "compile": error }),
                Err(BacktestRefusal::Other(message)) => json!({ "backtest_error": message }),
            };
        }
        _ => {}
    }
    if results.get("compile").is_none() {
        if let Err(error) = state.runtime.compile(&draft.source) {
            results = merge(
                results,
                json!({ "compile": { "line": error.line, "column": error.column, "message": error.message } }),
            );
        } else if op == "check" {
            results = merge(results, json!({ "compiled": true }));
        }
    }
    let context = visit.host.read(|model| {
        merge(
            frame(&visit, &model.state, "Policy editor"),
            view::editor(&model.state, &draft, procedure.as_deref(), results),
        )
    });
    html("editor.html", &context)
}

pub(super) enum BacktestRefusal {
    Compile(serde_json::Value),
    Other(String),
}

async fn run_backtest(
    state: &ServerState,
    visit: &Visit,
    draft: &view::EditorDraft,
) -> Result<serde_json::Value, BacktestRefusal> {
    let kind = PolicyKind::parse(&draft.kind)
        .map_err(|error| BacktestRefusal::Other(error.to_string()))?;
    let action_types: Vec<String> = draft
        .action_types
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect();
    let replaces = (draft.mode == "change_policy")
        .then(|| draft.policy.clone())
        .filter(|name| !name.is_empty());
    if let Some(name) = &replaces {
        if !visit
            .host
            .read(|model| model.state.policy_by_name(name).is_some())
        {
            return Err(BacktestRefusal::Other(format!(
                "no policy is named {name:?}"
            )));
        }
    }
    let spec = PolicySpec {
        name: if draft.name.is_empty() {
            "draft".to_owned()
        } else {
            draft.name.clone()
        },
        kind,
        source: draft.source.clone(),
        action_types,
        priority: draft.priority.trim().parse().unwrap_or(0),
        description: draft.description.clone(),
    };
    let host = visit.host.clone();
    let runtime = state.runtime.clone();
    let end = host.read(|model| model.state.position.next_seq);
    let started = std::time::Instant::now();
    let report = tokio::task::spawn_blocking(move || {
        backtest(
            &*host.store,
            host.id,
            &runtime,
            &Draft { spec, replaces },
            end,
        )
    })
    .await
    .map_err(|error| BacktestRefusal::Other(error.to_string()))?;
    match report {
        Ok(report) => {
            let differences: Vec<serde_json::Value> = report
                .differences
                .iter()
                .map(|difference| {
                    merge(
                        serde_json::to_value(difference).expect("encodes"),
                        json!({ "at": render::time(difference.at_ms) }),
                    )
                })
                .collect();
            Ok(merge(
                serde_json::to_value(&report).expect("encodes"),
                json!({ "differences": differences, "took_ms": started.elapsed().as_millis() as u64 }),
            ))
        }
        Err(BacktestError::Compile(error)) => Err(BacktestRefusal::Compile(
            json!({ "line": error.line, "column": error.column, "message": error.message }),
        )),
        Err(BacktestError::Ledger(error)) => Err(BacktestRefusal::Other(error.to_string())),
    }
}

#[derive(Deserialize)]
pub(super) struct CompileRequest {
    source: String,
}

#[derive(Serialize)]
pub(super) struct CompileResult {
    ok: bool,
    line: Option<u32>,
    column: Option<u32>,
    message: Option<String>,
}

/// Compile a draft for the editor (as the author types): the first error with its line.
pub(super) async fn compile(
    State(state): State<AppState>,
    Path(community): Path<String>,
    headers: HeaderMap,
    Json(request): Json<CompileRequest>,
) -> Result<Json<CompileResult>, ApiError> {
    let visit = visit(&state, &headers, &community)
        .map_err(|_| ApiError::unauthorized("unauthorized", "sign in to use the editor"))?;
    drop(visit);
    Ok(Json(match state.runtime.compile(&request.source) {
        Ok(_) => CompileResult {
            ok: true,
            line: None,
            column: None,
            message: None,
        },
        Err(error) => CompileResult {
            ok: false,
            line: Some(error.line),
            column: Some(error.column),
            message: Some(error.message),
        },
    }))
}
