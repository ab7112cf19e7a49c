//! `ostrom serve`: every community of one data directory in one tokio process.
//!
//! Each community is a [`host::Host`]: a single writer thread pipeline (check, seal with the
//! policy engine, group-commit flush) fed by a bounded queue, a published read model that
//! requests read without waiting for writes, a live stream of new entries, and a ticker for
//! timers and the periodic sweep. [`api`] is the HTTP API over them; [`tokens`] the bearer
//! tokens; [`config`] the validated configuration.
//!
//! Life of a write: a handler authenticates the member, hands the statement to the
//! community's writer and awaits the answer, which comes only after the entry is durable
//! and published. Shutdown (SIGINT/SIGTERM): stop accepting, let in-flight requests finish
//! (their group commits complete), end live streams and tickers, close each writer after
//! its last batch, keep a snapshot, exit 0. After a crash instead, the next start replays
//! from the last snapshot: nothing acknowledged was only in memory.

pub mod api;
pub mod config;
pub mod error;
pub mod host;
pub mod tokens;
pub mod web;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::http::StatusCode;
use ostrom_schemas::entry::community_id;
use ostrom_schemas::statement::MemberSpec;
use ostrom_schemas::CommunityId;
use tokio::sync::watch;

use crate::keys::{self, KeyDir};
use crate::ledger::Ledger;
use crate::policy::Runtime;
use crate::store::sled_store::SledStore;
use crate::store::LogStore;
use crate::{clock, kits};
use config::{Config, LogFormat};
use error::ApiError;
use host::Host;
use tokens::TokenStore;

/// What every request shares.
pub struct ServerState {
    pub config: Config,
    pub store: Arc<dyn LogStore>,
    pub tokens: TokenStore,
    pub runtime: Arc<Runtime>,
    pub hosts: RwLock<BTreeMap<CommunityId, Arc<Host>>>,
    /// Becomes `true` when the server is shutting down: live streams and tickers end.
    pub stop: watch::Receiver<bool>,
    stop_sender: watch::Sender<bool>,
    tickers: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("community {0}: {1}")]
    Community(String, host::HostError),
    #[error("tokens: {0}")]
    Tokens(#[from] tokens::TokenError),
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ServeError {
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Store(crate::store::StoreError::Corrupt(_)) => "store_corrupt",
            ServeError::Store(_) => "store_error",
            ServeError::Community(..) => "open_failed",
            ServeError::Tokens(error) => error.code(),
            ServeError::Listen(..) => "listen_failed",
            ServeError::Io(_) => "io_error",
        }
    }
}

impl ServerState {
    /// Open the data directory and every community in it (replaying each from its last
    /// snapshot). Blocking.
    pub fn open(config: Config) -> Result<Arc<ServerState>, ServeError> {
        std::fs::create_dir_all(&config.data)?;
        let store: Arc<dyn LogStore> = Arc::new(SledStore::open(config.data.join("store"))?);
        let tokens = TokenStore::open(&config.data)?;
        let runtime = Arc::new(Runtime::new());
        let mut hosts = BTreeMap::new();
        for record in store.communities()? {
            let started = std::time::Instant::now();
            let host = Host::open(
                store.clone(),
                &config.data,
                record.id,
                &record.name,
                runtime.clone(),
            )
            .map_err(|error| ServeError::Community(record.name.clone(), error))?;
            tracing::info!(
                community = %record.name,
                id = %record.id,
                entries = host.read(|model| model.state.position.next_seq),
                open_ms = started.elapsed().as_millis() as u64,
                "community opened"
            );
            hosts.insert(record.id, Arc::new(host));
        }
        let (stop_sender, stop) = watch::channel(false);
        Ok(Arc::new(ServerState {
            config,
            store,
            tokens,
            runtime,
            hosts: RwLock::new(hosts),
            stop,
            stop_sender,
            tickers: std::sync::Mutex::new(Vec::new()),
        }))
    }

    fn start_ticker(self: &Arc<Self>, host: Arc<Host>) {
        let ticker = tokio::spawn(host::run_ticker(
            host,
            self.config.sweep_interval_ms,
            self.stop.clone(),
        ));
        self.tickers.lock().expect("tickers lock").push(ticker);
    }

    /// Found a community: its sequencer key (kept in the data directory), its genesis
    /// entry, and a host serving it. Blocking.
    pub fn found(
        self: &Arc<Self>,
        name: &str,
        kit: &str,
        members: Vec<MemberSpec>,
        trustees: Vec<String>,
        threshold: Option<u64>,
    ) -> Result<Arc<Host>, ApiError> {
        let unprocessable =
            |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_param", message);
        let names: Vec<String> = members.iter().map(|member| member.name.clone()).collect();
        let threshold =
            kits::check_founding(name, kit, &names, &trustees, threshold).map_err(unprocessable)?;
        // One founding at a time, so two requests for one name cannot both pass the check.
        let mut hosts = self.hosts.write().expect("hosts lock");
        if hosts.values().any(|host| host.name == name) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "community_exists",
                format!("a community named {name:?} exists here"),
            ));
        }
        let sequencer = keys::generate();
        let id = community_id(name, &keys::public(&sequencer));
        let signed = kits::founding_statement(name, kit, members, trustees, threshold, &sequencer)
            .map_err(unprocessable)?;
        KeyDir::new(&self.config.data, id)
            .save_sequencer(&sequencer)
            .map_err(ApiError::internal)?;
        Ledger::found(self.store.clone(), signed, sequencer, clock::now_ms()).map_err(|error| {
            match error {
                crate::ledger::LedgerError::Refused(refusal) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    refusal.code,
                    refusal.reason,
                ),
                other => ApiError::internal(other),
            }
        })?;
        let host = Arc::new(
            Host::open(
                self.store.clone(),
                &self.config.data,
                id,
                name,
                self.runtime.clone(),
            )
            .map_err(ApiError::internal)?,
        );
        hosts.insert(id, host.clone());
        drop(hosts);
        self.start_ticker(host.clone());
        tracing::info!(community = %name, %id, %kit, "community founded");
        Ok(host)
    }
}

/// Install the tracing subscriber the configuration asks for (once per process).
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Run the server until SIGINT or SIGTERM. Prints `listening on ADDR` on stdout once it
/// accepts connections (port 0 picks a free port; the line tells which).
pub fn run(config: Config) -> Result<(), ServeError> {
    init_logging(&config);
    tracing::info!(?config, "starting");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ostrom-http")
        .build()?;
    runtime.block_on(serve(config))
}

/// The operator token when none is configured: `DATA/operator.token` (0600), created with a
/// fresh random token on first start, so a new server can found communities at once and
/// the secret is in a file only the operator can read, never in a log.
fn operator_token_file(data: &std::path::Path) -> Result<String, ServeError> {
    let path = data.join("operator.token");
    match std::fs::read_to_string(&path) {
        Ok(token) if token.trim().len() >= config::OPERATOR_TOKEN_BYTES_MIN => {
            return Ok(token.trim().to_owned())
        }
        Ok(_) => {
            return Err(ServeError::Io(std::io::Error::other(format!(
                "{} holds no token of at least {} bytes",
                path.display(),
                config::OPERATOR_TOKEN_BYTES_MIN
            ))))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error.into()),
    }
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let token = format!("ost_operator_{}", hex::encode(secret));
    std::fs::create_dir_all(data)?;
    keys::write_private(&path, token.as_bytes())?;
    tracing::info!(path = %path.display(), "created an operator token file (mode 0600)");
    Ok(token)
}

async fn serve(mut config: Config) -> Result<(), ServeError> {
    if config.operator_token.is_none() {
        config.operator_token = Some(operator_token_file(&config.data)?);
    }
    let listen = config.listen;
    let state = tokio::task::spawn_blocking(move || {
        // The dashboard's templates and grammar load now, not on the first page view.
        web::warm_up();
        ServerState::open(config)
    })
    .await
    .expect("opening does not panic")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| ServeError::Listen(listen, error))?;
    let address = listener.local_addr()?;
    for host in state.hosts.read().expect("hosts lock").values() {
        state.start_ticker(host.clone());
    }
    {
        use std::io::Write;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening on {address}");
        let _ = stdout.flush();
    }
    tracing::info!(%address, "listening");
    let app = api::router(state.clone());
    let stopping = state.stop.clone();
    // Answers go out as soon as they are written: with Nagle's algorithm a response could
    // wait for the client's delayed ACK of the previous one (tens of milliseconds).
    let listener = axum::serve::ListenerExt::tap_io(listener, |connection| {
        if let Err(error) = connection.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal(state.clone()))
        .await?;
    drop(stopping);
    // Requests are done; stop tickers, then close each writer after its last batch.
    let tickers: Vec<_> = std::mem::take(&mut *state.tickers.lock().expect("tickers lock"));
    for ticker in tickers {
        let _ = ticker.await;
    }
    let hosts: Vec<Arc<Host>> = state
        .hosts
        .read()
        .expect("hosts lock")
        .values()
        .cloned()
        .collect();
    tokio::task::spawn_blocking(move || {
        for host in hosts {
            host.shut_down();
        }
    })
    .await
    .expect("shutting down does not panic");
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM, and tells streams and tickers to end.
async fn shutdown_signal(state: Arc<ServerState>) {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
    let _ = state.stop_sender.send(true);
}
