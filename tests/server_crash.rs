//! Crash safety of `ostrom serve`: SIGKILL during a stream of concurrent writes, restart,
//! and every acknowledged write is in the log at the seq and hash it was acknowledged
//! with, and the log verifies. Three rounds kill at different points of the stream.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{found, ok, serve, token};
use serde_json::json;

/// Writers sending at once: votes, and now and then a proposal.
const CLIENTS: usize = 4;

/// Every entry hash of a community's log, read through the API.
fn all_hashes(served: &common::Served, token: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    loop {
        let page = served.get(
            token,
            &format!("/communities/town/entries?from={}&limit=1000", hashes.len()),
        );
        assert_eq!(page.status, 200, "{page:?}");
        let items = page.body.as_array().unwrap();
        if items.is_empty() {
            return hashes;
        }
        for item in items {
            assert_eq!(item["seq"].as_u64().unwrap() as usize, hashes.len());
            hashes.push(item["hash"].as_str().unwrap().to_owned());
        }
    }
}

#[test]
fn no_acknowledged_write_is_lost_when_the_server_is_killed_mid_stream() {
    // Given a democracy of eight where four members keep voting (never a majority either
    // way, so the proposal stays open), each with a token,
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let members = ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"];
    let (community, founder) = found(data, "town", "democracy", &members);
    let tokens: Vec<String> = std::iter::once(founder.clone())
        .chain(
            members[1..CLIENTS]
                .iter()
                .map(|m| token(data, &community, m)),
        )
        .collect();
    let mut acknowledged: Vec<(u64, String)> = Vec::new();

    for (round, kill_after) in [40usize, 150, 400].into_iter().enumerate() {
        let served = serve(data, &[]);
        let proposed = served.post(
            &founder,
            "/communities/town/proposals",
            &json!({"action_type": "add_document", "params": {"name": format!("d{round}"), "text": "t"}}),
        );
        assert_eq!(proposed.status, 201, "{proposed:?}");
        let action = proposed.body["action"].as_u64().unwrap();
        acknowledged.push((
            proposed.body["seq"].as_u64().unwrap(),
            proposed.body["hash"].as_str().unwrap().to_owned(),
        ));

        // when the server is killed while the clients are still writing,
        let acks = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(index, token)| {
                let (token, acks, count, stop) =
                    (token.clone(), acks.clone(), count.clone(), stop.clone());
                let url = served.url("/communities/town");
                std::thread::spawn(move || {
                    let http = reqwest::blocking::Client::new();
                    let mut turn = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        turn += 1;
                        let request = if turn % 25 == 0 {
                            http.post(format!("{url}/proposals")).json(&json!({
                                "action_type": "add_document",
                                "params": {"name": format!("c{index}-{turn}"), "text": "t"}
                            }))
                        } else {
                            let value = if (turn + index as u64) % 2 == 0 {
                                "yes"
                            } else {
                                "no"
                            };
                            http.post(format!("{url}/proposals/{action}/votes"))
                                .json(&json!({ "value": value }))
                        };
                        let Ok(response) = request.bearer_auth(&token).send() else {
                            return; // the server is gone
                        };
                        if response.status() != 201 {
                            continue;
                        }
                        let Ok(body) = response.json::<serde_json::Value>() else {
                            return;
                        };
                        acks.lock().unwrap().push((
                            body["seq"].as_u64().unwrap(),
                            body["hash"].as_str().unwrap().to_owned(),
                        ));
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        while count.load(Ordering::Relaxed) < kill_after {
            std::thread::yield_now();
        }
        served.kill9();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
        let acked = std::mem::take(&mut *acks.lock().unwrap());
        assert!(acked.len() >= kill_after);
        acknowledged.extend(acked);

        // then after a restart every write acknowledged in any round is there, unchanged.
        let restarted = serve(data, &[]);
        let hashes = all_hashes(&restarted, &founder);
        for (seq, hash) in &acknowledged {
            assert_eq!(
                hashes.get(*seq as usize),
                Some(hash),
                "round {round}: acknowledged entry {seq} is missing or different"
            );
        }
        // The restarted server keeps accepting writes on top of the recovered log.
        let after = restarted.post(
            &founder,
            &format!("/communities/town/proposals/{action}/votes"),
            &json!({"value": "yes"}),
        );
        assert_eq!(after.status, 201, "{after:?}");
        assert!(restarted.terminate().success());
    }
    // And the whole log verifies: chain, signatures, authors.
    let verified = ok(data, &["verify"]);
    assert!(
        verified.contains("ok") || verified.contains("verified"),
        "{verified}"
    );
}

#[test]
fn a_timer_set_before_a_crash_fires_after_the_restart() {
    // Given a proposal that no policy may see for another 1.5 s (testing kit: it passes on
    // arrival), accepted and still waiting,
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (_, founder) = found(data, "town", "testing", &["ada", "lin"]);
    let served = serve(data, &[]);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let proposed = served.post(
        &founder,
        "/communities/town/proposals",
        &json!({"action_type": "add_document", "params": {"name": "later", "text": "t"}, "not_before_ms": now_ms + 1_500}),
    );
    assert_eq!(proposed.status, 201, "{proposed:?}");
    assert_eq!(proposed.body["status"], "proposed");
    let action = proposed.body["action"].as_u64().unwrap();

    // when the server is killed before then and restarted,
    served.kill9();
    let restarted = serve(data, &[]);

    // then its ticker brings the action in when it is due, and it passes and executes:
    // the live stream shows the execution without anybody writing.
    let response = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(restarted.url("/communities/town/events?from=0"))
        .bearer_auth(&founder)
        .send()
        .unwrap();
    let reader = std::io::BufReader::new(response);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data: ") {
                let event: serde_json::Value = serde_json::from_str(data).unwrap();
                if sender.send(event).is_err() {
                    return;
                }
            }
        }
    });
    loop {
        let event = receiver
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the timer fired within 30 s");
        if event["audit"]["kind"] == "ActionExecuted" && event["audit"]["action"] == action {
            assert!(event["entry"]["at_ms"].as_u64().unwrap() >= now_ms + 1_500);
            break;
        }
    }
    let proposal = restarted.get(&founder, &format!("/communities/town/proposals/{action}"));
    assert_eq!(proposal.body["status"], "passed");
}
