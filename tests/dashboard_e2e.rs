//! The dashboard end to end: a real `ostrom serve` on 127.0.0.1 driven by Debian's headless
//! Chromium through chromedriver (WebDriver). Members sign in with their tokens, propose,
//! vote and watch the decision land on the proposal page and in the audit trail; a policy
//! author types a broken policy, sees the error at its line, fixes it, backtests it and
//! proposes it; HTML in documents, policies and parameters is shown as text, never run.
//!
//! Screenshots of the pages go to `target/dashboard-screenshots/` for reviewers. A wait that
//! times out says where the browser was: its URL, its last navigations, its console and the
//! page source.
//! Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`); `.ci/run`
//! installs them when they are missing.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{found, ok, serve, token, Served};
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page or an element may take to appear.
const WAIT: Duration = Duration::from_secs(20);
/// How long chromedriver may take to close its browsers when a test ends.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// How long one look at the browser for a timeout's report may take.
const DIAGNOSIS_WAIT: Duration = Duration::from_secs(5);
/// The browser's most recent navigation events a timeout's report shows.
const DIAGNOSIS_NAVIGATIONS_SHOWN: usize = 20;

/// A chromedriver on a free loopback port, shut down with its browsers on drop.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A test that fails never reaches its `close`, and killing chromedriver alone
        // leaves its Chromium running, orphaned, competing for the cores with the next
        // runs. chromedriver's `/shutdown` quits every session's browser first.
        let _ = reqwest::blocking::Client::new()
            .get(format!("{}/shutdown", self.url))
            .timeout(SHUTDOWN_WAIT)
            .send();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn driver() -> Driver {
    for program in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < WAIT, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Driver {
        child,
        url,
        _profile: tempfile::tempdir().expect("profile dir"),
    }
}

async fn browser(driver: &Driver, width: u32, height: u32) -> Client {
    let mut capabilities = serde_json::Map::new();
    // Kept for a timeout's report: the console, and the page events (navigations) of the
    // DevTools performance log without its far more numerous network events.
    capabilities.insert(
        "goog:loggingPrefs".to_owned(),
        json!({ "browser": "ALL", "performance": "ALL" }),
    );
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "perfLoggingPrefs": { "enableNetwork": false, "enablePage": true },
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("saved");
}

/// One of chromedriver's logs (`browser` for the console, `performance` for DevTools
/// events), read and emptied; chromedriver's extension of WebDriver, as Selenium uses it.
#[derive(Debug)]
struct ReadLog(&'static str);

impl WebDriverCompatibleCommand for ReadLog {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        let session = session_id.expect("a session");
        base_url.join(&format!("session/{session}/se/log"))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({ "type": self.0 }).to_string();
        (axum::http::Method::POST, Some(body))
    }
}

/// Where the browser is and how it got there, for a wait that timed out: its URL, the
/// document's load state, its last navigations, its console and the page source. Each
/// look is bounded, since a browser stuck in a navigation may not answer.
async fn diagnosis(browser: &Client) -> String {
    let url = look(browser.current_url()).await;
    let ready = look(browser.execute("return document.readyState;", vec![])).await;
    let navigations = look(browser.issue_cmd(ReadLog("performance"))).await;
    let console = look(browser.issue_cmd(ReadLog("browser"))).await;
    let source = look(browser.source()).await;
    let navigations = navigations.map(|log| {
        let events: Vec<String> = entries(&log)
            .filter_map(|entry| serde_json::from_str(entry["message"].as_str()?).ok())
            .filter_map(|event: serde_json::Value| navigation(&event["message"]))
            .collect();
        let shown = events.len().saturating_sub(DIAGNOSIS_NAVIGATIONS_SHOWN);
        events[shown..].join("\n")
    });
    let console = console.map(|log| {
        entries(&log)
            .map(|entry| {
                let level = entry["level"].as_str().unwrap_or("");
                format!("{level} {}", entry["message"].as_str().unwrap_or(""))
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    format!(
        "url: {}\ndocument.readyState: {}\nlast navigations:\n{}\nconsole:\n{}\nsource:\n{}",
        said(url),
        said(ready),
        said(navigations),
        said(console),
        said(source)
    )
}

/// One command to the browser, given `DIAGNOSIS_WAIT` to answer.
async fn look<T>(
    command: impl std::future::Future<Output = Result<T, CmdError>>,
) -> Result<T, String> {
    match tokio::time::timeout(DIAGNOSIS_WAIT, command).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(error)) => Err(format!("<{error}>")),
        Err(_) => Err(format!("<no answer in {DIAGNOSIS_WAIT:?}>")),
    }
}

fn said(answer: Result<impl std::fmt::Display, String>) -> String {
    answer.map_or_else(|error| error, |answer| answer.to_string())
}

fn entries(log: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    log.as_array().into_iter().flatten()
}

/// A DevTools page event that is part of a navigation, as `method url (reason)`.
fn navigation(event: &serde_json::Value) -> Option<String> {
    let method = event["method"].as_str()?;
    if !(method.starts_with("Page.frame") && method.contains("Navigat")) {
        return None;
    }
    let params = &event["params"];
    let url = params["url"].as_str().or(params["frame"]["url"].as_str());
    let reason = params["reason"].as_str();
    Some(format!(
        "{method} {} {}",
        url.unwrap_or(""),
        reason.unwrap_or("")
    ))
}

/// The first element matching `css`, once there is one; a timeout reports where the
/// browser was.
async fn element(browser: &Client, css: &str) -> fantoccini::elements::Element {
    match browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
    {
        Ok(found) => found,
        Err(error) => panic!("{css}: {error}\n{}", diagnosis(browser).await),
    }
}

/// The text of the first element matching `css`, once there is one. Live pages swap their
/// `<main>` when the log grows, so an element found may go stale before it is read: find
/// it again.
async fn text(browser: &Client, css: &str) -> String {
    let started = Instant::now();
    loop {
        match element(browser, css).await.text().await {
            Ok(text) => return text,
            Err(error) if error.is_stale_element_reference() && started.elapsed() < WAIT => {}
            Err(error) => panic!("{css}: {error}\n{}", diagnosis(browser).await),
        }
    }
}

/// Click the first element matching `css`, finding it again if a live page swapped it out
/// between finding and clicking. For a click that leaves the page, use `submit`.
async fn click(browser: &Client, css: &str) {
    let started = Instant::now();
    loop {
        match element(browser, css).await.click().await {
            Ok(()) => return,
            Err(error) if error.is_stale_element_reference() && started.elapsed() < WAIT => {}
            Err(error) => panic!("click {css}: {error}\n{}", diagnosis(browser).await),
        }
    }
}

/// Click the button or link matching `css` and wait until the browser has left the page it
/// was on. A click returns once it is dispatched, when the navigation it starts (a form's
/// POST, a link) may only be scheduled; a `goto` sent then races it, and the browser can
/// end up on either page. Regression guard: a `goto` sent right after the sign-in click
/// was overtaken by the form's POST, so the browser landed on the home page and the next
/// wait timed out there (about one run in eight; 9 of 60 sign-ins in a loop).
async fn submit(browser: &Client, css: &str) {
    // A mark on this page's document, which the next page's document does not carry. (The
    // page's root element going stale would do too, but chromedriver sometimes reports an
    // element of a replaced document as an unknown inspector error rather than stale.)
    browser
        .execute("document.ostromLeaving = true;", vec![])
        .await
        .expect("mark the page");
    click(browser, css).await;
    let started = Instant::now();
    loop {
        let stayed = browser
            .execute("return document.ostromLeaving === true;", vec![])
            .await
            .expect("look at the page");
        if stayed == serde_json::Value::Bool(false) {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "{css} was clicked but the page stayed\n{}",
            diagnosis(browser).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = element(browser, css).await;
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

async fn sign_in(browser: &Client, served: &Served, community: &str, token: &str) {
    browser
        .goto(&format!("http://{}/c/{community}", served.address))
        .await
        .expect("open");
    // Not signed in: the community's pages send us to sign in.
    assert!(browser
        .current_url()
        .await
        .expect("url")
        .path()
        .ends_with("/signin"));
    fill(browser, "#token", token).await;
    submit(browser, "form button[type=submit]").await;
}

async fn sign_out(browser: &Client) {
    submit(browser, ".who button").await;
    text(browser, "#token").await;
}

/// Wait until the element's text satisfies `wanted`, reloading the page between looks.
async fn eventually(browser: &Client, css: &str, wanted: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let found = text(browser, css).await;
        if wanted(&found) {
            return found;
        }
        assert!(started.elapsed() < WAIT, "{css} stayed {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        browser.refresh().await.expect("reload");
    }
}

/// One browser at a time, so the tests' page loads do not compete for the two cores.
static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_browser() -> std::sync::MutexGuard<'static, ()> {
    ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn members_sign_in_propose_and_vote_an_action_through_and_see_it_decided() {
    // Given a democracy of three with a token each, and the dashboard on 127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (_, alice) = found(data, "town", "democracy", &["alice", "bob", "carol"]);
    let bob = token(data, "town", "bob");
    let carol = token(data, "town", "carol");
    let served = serve(data, &[]);
    let _browser = one_browser();
    let driver = driver();
    runtime().block_on(async {
        let browser = browser(&driver, 1280, 1400).await;

        // When alice signs in, the pages show her and what she may do.
        sign_in(&browser, &served, "town", &alice).await;
        assert_eq!(text(&browser, "#signed-in-as").await, "alice");

        // When she proposes a document through the generated form,
        browser
            .goto(&format!(
                "http://{}/c/town/propose?type=add_document",
                served.address
            ))
            .await
            .unwrap();
        fill(&browser, "#p-name", "guidelines").await;
        fill(&browser, "#p-text", "Be kind. Assume good faith.").await;
        submit(&browser, "#propose-submit").await;
        // then she lands on the proposal, open, governed by the kit's majority vote.
        assert_eq!(text(&browser, "#proposal-status").await, "proposed");
        let url = browser.current_url().await.unwrap();
        let proposal = url.path_segments().unwrap().next_back().unwrap().to_owned();
        assert!(text(&browser, "aside").await.contains("Majority vote"));

        // When alice and then bob vote yes (2 of 3 is more than half),
        submit(&browser, "#vote-yes").await;
        assert_eq!(text(&browser, "#tally-yes").await, "1 yes");

        // (and while alice watches, carol votes no through the API: her page updates
        // itself over the live stream, without a reload)
        let api = reqwest::Client::new();
        let answer = api
            .post(format!(
                "http://{}/api/v1/communities/town/proposals/{proposal}/votes",
                served.address
            ))
            .bearer_auth(&carol)
            .json(&json!({ "value": "no" }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
        let started = Instant::now();
        while text(&browser, "#tally-no").await != "1 no" {
            assert!(started.elapsed() < WAIT, "the page did not update itself");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sign_out(&browser).await;
        sign_in(&browser, &served, "town", &bob).await;
        browser
            .goto(&format!(
                "http://{}/c/town/proposals/{proposal}",
                served.address
            ))
            .await
            .unwrap();
        submit(&browser, "#vote-yes").await;

        // then the proposal page shows it passed and executed,
        eventually(&browser, "#proposal-status", |status| status == "passed").await;
        let outcome = text(&browser, "#outcome").await;
        assert!(outcome.contains("executed at seq"), "{outcome}");
        screenshot(&browser, "proposal").await;

        // the audit trail shows every entry about it, ending in its execution,
        browser
            .goto(&format!(
                "http://{}/c/town/audit?action={proposal}",
                served.address
            ))
            .await
            .unwrap();
        let trail = text(&browser, "table.audit").await;
        for wanted in [
            "ActionProposed",
            "VoteCast",
            "passed",
            "executed",
            "server for bob",
        ] {
            assert!(trail.contains(wanted), "{wanted} missing from:\n{trail}");
        }
        screenshot(&browser, "audit").await;

        // and the home page lists the new document and the decision.
        browser
            .goto(&format!("http://{}/c/town", served.address))
            .await
            .unwrap();
        let home = text(&browser, "main").await;
        assert!(home.contains("guidelines"), "{home}");
        assert!(home.contains("Be kind. Assume good faith."), "{home}");
        assert!(text(&browser, "#log-head").await.contains("Head hash"));
        screenshot(&browser, "home").await;
        browser.set_window_size(390, 1400).await.unwrap();
        screenshot(&browser, "home-phone").await;
        browser.close().await.unwrap();
    });
}

#[test]
fn an_author_sees_a_syntax_error_at_its_line_fixes_it_backtests_and_proposes_the_policy() {
    // Given a community whose history holds one passed add_document.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (_, alice) = found(data, "town", "democracy", &["alice", "bob", "carol"]);
    let faq = ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "add_document",
            "name=faq",
            "text=Ask.",
        ],
    );
    ok(data, &["vote", "--as", "alice", faq.trim(), "yes"]);
    ok(data, &["vote", "--as", "bob", faq.trim(), "yes"]);
    let served = serve(data, &[]);
    let _browser = one_browser();
    let driver = driver();
    runtime().block_on(async {
        let browser = browser(&driver, 1280, 1600).await;
        sign_in(&browser, &served, "town", &alice).await;
        browser
            .goto(&format!("http://{}/c/town/editor", served.address))
            .await
            .unwrap();

        // When she types a policy whose third line does not parse,
        let broken = "fn filter(action, policy) { true }\nfn check(action, policy) {\n    let x = ;\n    FAILED\n}\n";
        fill(&browser, "#source", broken).await;
        // then the server's compiler, run as she types, points at line 3.
        let error = text(&browser, ".compile-error[data-line='3']").await;
        assert!(error.starts_with("Line 3"), "{error}");
        assert_eq!(text(&browser, "#gutter span.error").await, "3");
        screenshot(&browser, "editor-error").await;

        // When she fixes it: a constitution policy that fails every add_document,
        let strict = "// Nothing new gets written down.\nfn filter(action, policy) { true }\nfn check(action, policy) {\n    FAILED\n}\n";
        fill(&browser, "#source", strict).await;
        text(&browser, ".compile-ok").await;
        fill(&browser, "#p-name", "no-new-documents").await;
        browser
            .find(Locator::Css("#p-kind option:nth-child(2)"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        fill(&browser, "#p-action_types", "add_document").await;
        fill(&browser, "#p-description", "Freeze the documents").await;

        // and backtests it, then the one past add_document would have failed instead.
        submit(&browser, "#backtest").await;
        assert_eq!(text(&browser, "#backtest-different").await, "1");
        let report = text(&browser, "#backtest-report").await;
        assert!(report.contains("add_document"), "{report}");
        assert!(report.contains("passed") && report.contains("failed"), "{report}");
        screenshot(&browser, "editor").await;

        // When she proposes it, then an add_policy proposal carries her code.
        submit(&browser, "#propose-policy").await;
        assert_eq!(text(&browser, "#proposal-status").await, "proposed");
        let action = text(&browser, "h1").await;
        assert!(action.contains("add_policy"), "{action}");
        assert!(text(&browser, "pre.code").await.contains("Nothing new gets written down."));

        // And the policy page of the kit's policy shows its highlighted code and history.
        browser
            .goto(&format!("http://{}/c/town/policies", served.address))
            .await
            .unwrap();
        submit(&browser, "table a[href*='/policies/']").await;
        text(&browser, "#policy-code .hl-storage, #policy-code .hl-keyword").await;
        screenshot(&browser, "policy").await;
        browser.close().await.unwrap();
    });
}

#[test]
fn html_in_documents_policies_and_parameters_is_displayed_never_executed() {
    // Given a document, a policy (description and code) and a pending action's parameter
    // that all carry markup and script.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (_, alice) = found(data, "town", "democracy", &["alice", "bob", "carol"]);
    let document =
        "<script>window.pwned='document'</script><img src=x onerror=\"window.pwned='img'\">";
    let first = ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "add_document",
            "name=hostile",
            &format!("text={document}"),
        ],
    );
    let first = first.trim();
    ok(data, &["vote", "--as", "alice", first, "yes"]);
    ok(data, &["vote", "--as", "bob", first, "yes"]);
    let source = dir.path().join("hostile.rhai");
    std::fs::write(
        &source,
        "// </pre><script>window.pwned='code'</script>\nfn filter(action, policy) { true }\nfn check(action, policy) { PASSED }\n",
    )
    .unwrap();
    let second = ok(
        data,
        &[
            "propose",
            "--as",
            "alice",
            "add_policy",
            "name=hostile",
            "kind=platform",
            "action_types=example.nothing",
            "description=<b onmouseover=\"window.pwned='description'\">bold</b>",
            &format!("source=@{}", source.display()),
        ],
    );
    let second = second.trim();
    ok(data, &["vote", "--as", "alice", second, "yes"]);
    ok(data, &["vote", "--as", "bob", second, "yes"]);
    ok(
        data,
        &[
            "propose",
            "--as",
            "carol",
            "slack.post_message",
            "channel=<i>c</i>",
            "text=\"><script>window.pwned='param'</script>",
        ],
    );
    let served = serve(data, &[]);
    let proposals: Vec<u64> = {
        let page = served.get(&alice, "/communities/town/proposals");
        page.body["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_u64().unwrap())
            .collect()
    };
    let policy = served
        .get(&alice, "/communities/town/policies")
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hostile")
        .map(|p| p["id"].as_u64().unwrap())
        .expect("the hostile policy passed");
    let pages: Vec<String> = [
        "/c/town".to_owned(),
        "/c/town/documents".to_owned(),
        format!("/c/town/policies/{policy}"),
        "/c/town/policies".to_owned(),
        "/c/town/audit".to_owned(),
        "/c/town/history?at=3&from=0&to=8".to_owned(),
    ]
    .into_iter()
    .chain(proposals.iter().map(|id| format!("/c/town/proposals/{id}")))
    .collect();

    // When each page is fetched, then its HTML carries the markup escaped, never raw.
    let http = reqwest::blocking::Client::new();
    for page in &pages {
        let html = http
            .get(format!("http://{}{page}", served.address))
            .header("cookie", format!("ostrom_session={alice}"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        for raw in [
            "<script>window",
            "<img src=x",
            "<b onmouseover",
            "<i>c</i>",
            "</pre><script>",
        ] {
            assert!(!html.contains(raw), "{page} contains raw {raw:?}");
        }
    }

    // And in the browser: the text reads as written, and no script ran.
    let _browser = one_browser();
    let driver = driver();
    runtime().block_on(async {
        let browser = browser(&driver, 1280, 1400).await;
        sign_in(&browser, &served, "town", &alice).await;
        for page in &pages {
            browser
                .goto(&format!("http://{}{page}", served.address))
                .await
                .unwrap();
            text(&browser, "main").await;
            let pwned = browser
                .execute(
                    "return window.pwned === undefined ? null : window.pwned;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(pwned, serde_json::Value::Null, "a script ran on {page}");
        }
        browser
            .goto(&format!("http://{}/c/town/documents", served.address))
            .await
            .unwrap();
        assert!(text(&browser, "#doc-hostile .text")
            .await
            .contains(document));
        browser
            .goto(&format!(
                "http://{}/c/town/policies/{policy}",
                served.address
            ))
            .await
            .unwrap();
        assert!(text(&browser, "#policy-code")
            .await
            .contains("</pre><script>window.pwned='code'</script>"));
        browser.close().await.unwrap();
    });
}
