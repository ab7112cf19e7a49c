//! The dashboard end to end: a real `ostrom serve` on 127.0.0.1 driven by Debian's headless
//! Chromium through chromedriver (WebDriver). Members sign in with their tokens, propose,
//! vote and watch the decision land on the proposal page and in the audit trail; a policy
//! author types a broken policy, sees the error at its line, fixes it, backtests it and
//! proposes it; HTML in documents, policies and parameters is shown as text, never run.
//!
//! Screenshots of the pages go to `target/dashboard-screenshots/` for reviewers.
//! Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`); `.ci/run`
//! installs them when they are missing.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{found, ok, serve, token, Served};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page or an element may take to appear.
const WAIT: Duration = Duration::from_secs(20);

/// A chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
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
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
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

/// The text of the first element matching `css`, once there is one. Pages navigate and
/// refresh themselves, so an element found may go stale before it is read: find it again.
async fn text(browser: &Client, css: &str) -> String {
    let started = Instant::now();
    loop {
        let found = match browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(found) => found,
            Err(error) => {
                let url = browser.current_url().await.map(|url| url.to_string());
                let source = browser.source().await.unwrap_or_default();
                panic!("{css}: {error} on {url:?}:\n{source}");
            }
        };
        match found.text().await {
            Ok(text) => return text,
            Err(_) if started.elapsed() < WAIT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("{css}: {error}"),
        }
    }
}

async fn click(browser: &Client, css: &str) {
    let started = Instant::now();
    loop {
        let found = browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css}: {error}"));
        match found.click().await {
            Ok(()) => return,
            // Stale: the page refreshed itself between finding and clicking.
            Err(_) if started.elapsed() < WAIT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("click {css}: {error}"),
        }
    }
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("{css}: {error}"));
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
    click(browser, "form button[type=submit]").await;
}

async fn sign_out(browser: &Client) {
    click(browser, ".who button").await;
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
        click(&browser, "#propose-submit").await;
        // then she lands on the proposal, open, governed by the kit's majority vote.
        assert_eq!(text(&browser, "#proposal-status").await, "proposed");
        let url = browser.current_url().await.unwrap();
        let proposal = url.path_segments().unwrap().next_back().unwrap().to_owned();
        assert!(text(&browser, "aside").await.contains("Majority vote"));

        // When alice and then bob vote yes (2 of 3 is more than half),
        click(&browser, "#vote-yes").await;
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
        click(&browser, "#vote-yes").await;

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
        click(&browser, "#backtest").await;
        assert_eq!(text(&browser, "#backtest-different").await, "1");
        let report = text(&browser, "#backtest-report").await;
        assert!(report.contains("add_document"), "{report}");
        assert!(report.contains("passed") && report.contains("failed"), "{report}");
        screenshot(&browser, "editor").await;

        // When she proposes it, then an add_policy proposal carries her code.
        click(&browser, "#propose-policy").await;
        assert_eq!(text(&browser, "#proposal-status").await, "proposed");
        let action = text(&browser, "h1").await;
        assert!(action.contains("add_policy"), "{action}");
        assert!(text(&browser, "pre.code").await.contains("Nothing new gets written down."));

        // And the policy page of the kit's policy shows its highlighted code and history.
        browser
            .goto(&format!("http://{}/c/town/policies", served.address))
            .await
            .unwrap();
        click(&browser, "table a[href*='/policies/']").await;
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
