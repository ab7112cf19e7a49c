//! `ostrom serve` over real HTTP on 127.0.0.1: the whole life of a proposal under the
//! democracy kit (propose, vote, pass, execute, audit trail, live stream), the OpenAPI
//! document, founding over the API, tokens, and a clean shutdown.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use common::{found, ok, serve, token};
use serde_json::{json, Value};

/// Read a community's live stream on a thread; every `data:` payload arrives on the channel.
fn listen(served: &common::Served, token: &str, path: &str) -> mpsc::Receiver<Value> {
    let (sender, receiver) = mpsc::channel();
    let response = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(served.url(path))
        .bearer_auth(token)
        .send()
        .expect("the stream opens");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    std::thread::spawn(move || {
        for line in BufReader::new(response).lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data: ") {
                if sender
                    .send(serde_json::from_str(data).expect("JSON"))
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    receiver
}

/// Wait for the stream to deliver an entry of `kind`; returns every event seen until then.
fn until_kind(events: &mpsc::Receiver<Value>, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let event = events
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no {kind} entry arrived; saw {seen:?}"));
        let done = event["audit"]["kind"] == kind;
        seen.push(event);
        if done {
            return seen;
        }
    }
}

#[test]
fn a_proposal_lives_its_whole_life_over_http_under_the_democracy_kit() {
    // Given a democracy of three with a token each, served on loopback.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (community, alice) = found(data, "town", "democracy", &["alice", "bob", "carol"]);
    let bob = token(data, &community, "bob");
    let served = serve(data, &[]);
    let base = "/communities/town";
    let events = listen(&served, &alice, &format!("{base}/events?from=0"));
    let genesis = events.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(genesis["seq"], 0);
    assert_eq!(genesis["audit"]["kind"], "CommunityFounded");

    // When alice proposes a document,
    let proposed = served.post(
        &alice,
        &format!("{base}/proposals"),
        &json!({"action_type": "add_document", "params": {"name": "guidelines", "text": "Be kind."}}),
    );
    assert_eq!(proposed.status, 201, "{proposed:?}");
    let action = proposed.body["action"].as_u64().unwrap();
    assert_eq!(proposed.body["status"], "proposed");

    // then it is open with its governing policy pinned,
    let listed = served.get(&bob, &format!("{base}/proposals?status=proposed"));
    assert_eq!(listed.status, 200);
    let open = &listed.body["proposals"][0];
    assert_eq!(open["id"], action);
    assert_eq!(open["initiator"], "alice");
    assert!(open["governing_policy"].is_u64());
    assert!(open["governing_version"].is_string());

    // and when alice and bob (a majority of three) vote yes, it passes and executes.
    let first = served.post(
        &alice,
        &format!("{base}/proposals/{action}/votes"),
        &json!({"value": "yes"}),
    );
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.body["status"], "proposed");
    let second = served.post(
        &bob,
        &format!("{base}/proposals/{action}/votes"),
        &json!({"value": "yes"}),
    );
    assert_eq!(second.status, 201, "{second:?}");
    assert_eq!(second.body["status"], "passed");

    let proposal = served.get(&alice, &format!("{base}/proposals/{action}"));
    assert_eq!(proposal.status, 200);
    assert_eq!(proposal.body["status"], "passed");
    assert_eq!(proposal.body["yes"], 2);
    assert_eq!(proposal.body["vote_history"].as_array().unwrap().len(), 2);
    assert!(
        proposal.body["execution"]["Executed"].is_object(),
        "{proposal:?}"
    );
    assert!(!proposal.body["evaluations"].as_array().unwrap().is_empty());

    let documents = served.get(&bob, &format!("{base}/documents"));
    assert_eq!(documents.body[0]["name"], "guidelines");
    assert_eq!(documents.body[0]["text"], "Be kind.");

    // Then the audit trail shows the execution, with the proposal's type and initiator,
    let audit = served.get(
        &alice,
        &format!("{base}/audit?action={action}&outcome=executed"),
    );
    assert_eq!(audit.status, 200, "{audit:?}");
    let rows = audit.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["kind"], "ActionExecuted");
    assert_eq!(rows[0]["action_type"], "add_document");
    assert_eq!(rows[0]["member"], "alice");
    let votes = served.get(&alice, &format!("{base}/audit?kind=VoteCast&member=bob"));
    assert_eq!(votes.body["rows"].as_array().unwrap().len(), 1);
    assert_eq!(votes.body["rows"][0]["on_behalf"], true);

    // and the live stream delivered every entry in order, ending with the execution.
    let streamed = until_kind(&events, "ActionExecuted");
    let seqs: Vec<u64> = streamed
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());

    // The raw entries come as JSON and as canonical bytes, and the two agree.
    let json_entries = served.get(&alice, &format!("{base}/entries?from=0&limit=1000"));
    let binary = served
        .http
        .get(served.url(&format!("{base}/entries?from=0&limit=1000")))
        .bearer_auth(&alice)
        .header("accept", "application/octet-stream")
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let mut rest = &binary[..];
    let mut hashes = Vec::new();
    while !rest.is_empty() {
        let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let bytes = &rest[4..4 + length];
        ostrom_schemas::Entry::decode(bytes).expect("canonical bytes decode");
        hashes.push(ostrom_schemas::entry::hash_entry_bytes(bytes).to_hex());
        rest = &rest[4 + length..];
    }
    let json_hashes: Vec<String> = json_entries
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["hash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hashes, json_hashes);
    // A token's vote is a statement the server vouches for: no signature of its own, the
    // entry signature asserts it.
    let bob_votes: Vec<&serde_json::Value> = json_entries
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["entry"]["body"])
        .filter(|body| body["vouched"]["member"] == "bob")
        .collect();
    assert_eq!(bob_votes.len(), 1, "{json_entries:?}");
    assert!(bob_votes[0]["vouched"]["body"]["vote_cast"].is_object());

    // The head names the state hash the CLI computes from the same log, after shutdown.
    let head = served.get(&alice, &format!("{base}/head"));
    let entries = head.body["entries"].as_u64().unwrap();
    assert_eq!(entries, seqs.len() as u64 + 1);
    let status = served.terminate();
    assert!(
        status.success(),
        "a terminated server exits 0, got {status}"
    );
    let replay = ok(data, &["replay"]);
    assert!(
        replay.contains(head.body["state_hash"].as_str().unwrap()),
        "replay {replay:?} vs head {head:?}"
    );
    ok(data, &["verify"]);
}

#[test]
fn the_openapi_document_describes_every_route_and_the_error_shape() {
    // Given a server, when the OpenAPI document is fetched without a token,
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &[]);
    let document: Value = served
        .http
        .get(served.url("/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    // then it is OpenAPI 3.1 with the proposal, vote, audit and stream routes and the error body.
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/communities",
        "/communities/{community}/proposals",
        "/communities/{community}/proposals/{action}/votes",
        "/communities/{community}/audit",
        "/communities/{community}/entries",
        "/communities/{community}/events",
        "/communities/{community}/statements",
        "/communities/{community}/head",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    assert!(paths["/communities/{community}/proposals"]["post"]["requestBody"].is_object());
    // Filters are documented as query parameters, the community as a path parameter.
    // (Regression: wrapped in `Result<Query<..>>`, they were once documented as path
    // parameters, which made the document invalid.)
    let parameters = paths["/communities/{community}/audit"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let place = |name: &str| {
        parameters
            .iter()
            .find(|parameter| parameter["name"] == name)
            .map(|parameter| parameter["in"].as_str().unwrap().to_owned())
    };
    assert_eq!(place("community").as_deref(), Some("path"));
    assert_eq!(place("member").as_deref(), Some("query"));
    assert_eq!(place("to_ms").as_deref(), Some("query"));
    assert!(document["components"]["schemas"]["ErrorBody"].is_object());
}

#[test]
fn an_operator_founds_a_community_over_the_api_and_its_founder_token_works_there_only() {
    // Given a server with an operator token,
    let dir = tempfile::tempdir().unwrap();
    let operator = "o".repeat(40);
    let served = serve(dir.path(), &["--operator-token", &operator]);

    // when the operator founds a community,
    let founded = served.post(
        &operator,
        "/communities",
        &json!({"name": "guild", "kit": "testing", "members": [{"name": "ada"}, {"name": "lin"}]}),
    );
    assert_eq!(founded.status, 201, "{founded:?}");
    let ada = founded.body["admin_token"].as_str().unwrap().to_owned();

    // then the founder's token acts there at once (the testing kit passes everything),
    let proposed = served.post(
        &ada,
        "/communities/guild/proposals",
        &json!({"action_type": "add_role", "params": {"role": "stewards", "description": "keep things tidy"}}),
    );
    assert_eq!(proposed.status, 201, "{proposed:?}");
    assert_eq!(proposed.body["status"], "passed");
    let roles = served.get(&ada, "/communities/guild/roles");
    assert!(roles
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "stewards"));

    // a second community of the same name is refused, a member's token cannot found one,
    let again = served.post(
        &operator,
        "/communities",
        &json!({"name": "guild", "members": [{"name": "x"}]}),
    );
    assert_eq!((again.status, again.code()), (409, "community_exists"));
    let by_member = served.post(
        &ada,
        "/communities",
        &json!({"name": "other", "members": [{"name": "x"}]}),
    );
    assert_eq!(by_member.status, 403);

    // and the founder can issue lin a token, which lin can revoke.
    let issued = served.post(
        &ada,
        "/communities/guild/tokens",
        &json!({"member": "ada", "label": "laptop"}),
    );
    assert_eq!(issued.status, 201, "{issued:?}");
    let for_lin = served.post(&ada, "/communities/guild/tokens", &json!({"member": "lin"}));
    assert_eq!((for_lin.status, for_lin.code()), (403, "wrong_member"));
    let lin = served.post(
        &operator,
        "/communities/guild/tokens",
        &json!({"member": "lin"}),
    );
    assert_eq!(lin.status, 201);
    let lin_token = lin.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        served.get(&lin_token, "/communities/guild/me").body["member"],
        "lin"
    );
    let revoked = served.delete(
        &lin_token,
        &format!(
            "/communities/guild/tokens/{}",
            lin.body["id"].as_str().unwrap()
        ),
    );
    assert_eq!(revoked.status, 204);
    let after = served.get(&lin_token, "/communities/guild/me");
    assert_eq!((after.status, after.code()), (401, "revoked_token"));

    // A restarted server still serves the community founded over the API.
    assert!(served.terminate().success());
    let again = serve(dir.path(), &[]);
    assert_eq!(
        again.get(&ada, "/communities/guild/me").body["member"],
        "ada"
    );
}

#[test]
fn a_bad_configuration_stops_the_server_before_it_opens_anything() {
    // Given a config file with a typo'd key, and one with an impossible limit,
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let limit = dir.path().join("limit.toml");
    std::fs::write(&limit, "request_body_bytes_max = 10\n").unwrap();
    for (config, setting) in [(&typo, "lisen"), (&limit, "request_body_bytes_max")] {
        // when the server starts with it,
        let output = common::ostrom(
            &dir.path().join("data"),
            &[
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
        );
        // then it exits non-zero, naming the setting, and creates no data directory.
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error[bad_config]"), "{stderr}");
        assert!(stderr.contains(setting), "{stderr}");
        assert!(!dir.path().join("data").exists());
    }
}

#[test]
fn proofs_served_over_http_verify_offline_against_saved_tree_heads() {
    // Given a community whose tree head an auditor saved, and then more history,
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (_, ada) = found(data, "guild", "testing", &["ada", "lin"]);
    let served = serve(data, &[]);
    let base = "/communities/guild";
    let propose = |name: &str| {
        let answer = served.post(
            &ada,
            &format!("{base}/proposals"),
            &json!({"action_type": "add_document", "params": {"name": name, "text": "t"}}),
        );
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["action"].as_u64().unwrap()
    };
    propose("first");
    let old: ostrom::merkle::TreeHead =
        serde_json::from_value(served.get(&ada, &format!("{base}/tree-head")).body).unwrap();
    let decided = propose("second");
    propose("third");
    let new: ostrom::merkle::TreeHead =
        serde_json::from_value(served.get(&ada, &format!("{base}/tree-head")).body).unwrap();
    assert!(new.size > old.size);

    // when the server proves a decision's inclusion and the two heads' consistency,
    let executed = served.get(
        &ada,
        &format!("{base}/audit?action={decided}&outcome=executed"),
    );
    let seq = executed.body["rows"][0]["seq"].as_u64().unwrap();
    let inclusion: ostrom::merkle::Proof = serde_json::from_value(
        served
            .get(
                &ada,
                &format!("{base}/proofs/inclusion?seq={seq}&size={}", new.size),
            )
            .body,
    )
    .unwrap();
    let consistency: ostrom::merkle::Proof = serde_json::from_value(
        served
            .get(
                &ada,
                &format!(
                    "{base}/proofs/consistency?old={}&new={}",
                    old.size, new.size
                ),
            )
            .body,
    )
    .unwrap();

    // then both verify offline against the saved heads, and the proven entry is the execution;
    let entry = ostrom::merkle::check_inclusion(&new, &inclusion).expect("inclusion verifies");
    assert_eq!(entry.seq, seq);
    ostrom::merkle::check_consistency(&old, &new, &consistency).expect("consistency verifies");
    // a head that claims another root does not accept them,
    let mut forged = new.clone();
    forged.root = old.root;
    assert!(ostrom::merkle::check_inclusion(&forged, &inclusion).is_err());
    // and a proof for an entry beyond the log is refused.
    let beyond = served.get(&ada, &format!("{base}/proofs/inclusion?seq=100000"));
    assert_eq!((beyond.status, beyond.code()), (422, "bad_param"));
}

#[test]
fn the_command_line_says_so_when_a_running_server_holds_the_data_directory() {
    // Given a running server,
    let dir = tempfile::tempdir().unwrap();
    let (community, _) = found(dir.path(), "town", "testing", &["ada", "lin"]);
    let _served = serve(dir.path(), &[]);
    // when the command line tries to issue a token from the same data directory,
    let output = common::ostrom(
        dir.path(),
        &["--community", &community, "token", "issue", "--as", "lin"],
    );
    // then it fails with a code that points at the server, not a raw lock error.
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error[store_in_use]"), "{stderr}");
}
