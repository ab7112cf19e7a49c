//! Hostile and careless requests to `ostrom serve`: each gets its documented error code and
//! status, and the log is unchanged afterwards. Voting as another member, a token of one
//! community used on another, tampered and replayed signed statements, oversized and
//! malformed bodies, unknown proposals, missing and revoked tokens.

mod common;

use common::{found, serve, token};
use ostrom::keys::KeyDir;
use ostrom_schemas::entry::sign_statement;
use ostrom_schemas::{ActionId, CommunityId, Statement, StatementBody, VoteValue};
use serde_json::json;

struct World {
    _dir: tempfile::TempDir,
    served: common::Served,
    town: String,
    alice: String,
    bob: String,
    /// alice's token in the other community, "village".
    village_alice: String,
    /// An open proposal in town.
    action: u64,
}

/// Given two communities on one server, alice and bob with tokens in town, and one open
/// proposal there.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (town, alice) = found(data, "town", "democracy", &["alice", "bob", "carol"]);
    let bob = token(data, &town, "bob");
    let (_, village_alice) = found(data, "village", "democracy", &["alice", "dan"]);
    let served = serve(data, &["--config", &write_config(data)]);
    let proposed = served.post(
        &alice,
        "/communities/town/proposals",
        &json!({"action_type": "add_document", "params": {"name": "rules", "text": "none"}}),
    );
    assert_eq!(proposed.status, 201, "{proposed:?}");
    let action = proposed.body["action"].as_u64().unwrap();
    World {
        _dir: dir,
        served,
        town,
        alice,
        bob,
        village_alice,
        action,
    }
}

/// A config file with a small body limit, so an oversized body is cheap to send.
fn write_config(data: &std::path::Path) -> String {
    let path = data.join("ostrom.toml");
    std::fs::write(&path, "request_body_bytes_max = 8192\n").unwrap();
    path.display().to_string()
}

impl World {
    fn entries(&self) -> u64 {
        self.served.entries(&self.alice, "town")
    }

    /// alice's own key signs a statement in town with `counter`.
    fn signed_by_alice(
        &self,
        member: &str,
        counter: u64,
        body: StatementBody,
    ) -> serde_json::Value {
        let community = CommunityId::from_hex(&self.town).unwrap();
        let key = KeyDir::new(&self.served.data, community)
            .member("alice")
            .unwrap();
        let statement = Statement {
            community,
            counter,
            member: member.to_owned(),
            evidence: None,
            body,
        };
        serde_json::to_value(sign_statement(statement, &key)).unwrap()
    }

    fn vote_body(&self) -> StatementBody {
        StatementBody::VoteCast {
            action: ActionId(self.action),
            value: VoteValue::Yes,
        }
    }
}

#[test]
fn every_hostile_request_gets_its_code_and_the_log_is_unchanged() {
    let w = world();
    let town = "/communities/town";
    let votes = format!("{town}/proposals/{}/votes", w.action);
    let before = w.entries();

    // Voting as another member with one's own token.
    let as_bob = w
        .served
        .post(&w.alice, &votes, &json!({"value": "yes", "member": "bob"}));
    assert_eq!((as_bob.status, as_bob.code()), (403, "wrong_member"));

    // Voting as another member with one's own key: the key is not bob's.
    let statement = w.signed_by_alice("bob", 1, w.vote_body());
    let forged = w
        .served
        .post(&w.alice, &format!("{town}/statements"), &statement);
    assert_eq!((forged.status, forged.code()), (403, "wrong_key"));

    // A token of village used on town.
    let elsewhere = w
        .served
        .post(&w.village_alice, &votes, &json!({"value": "yes"}));
    assert_eq!(
        (elsewhere.status, elsewhere.code()),
        (403, "wrong_community")
    );
    let reading_elsewhere = w.served.get(&w.village_alice, &format!("{town}/proposals"));
    assert_eq!(reading_elsewhere.code(), "wrong_community");

    // A tampered signed statement: a yes turned into a no after signing.
    let mut tampered = w.signed_by_alice("alice", 1, w.vote_body());
    tampered["statement"]["body"]["vote_cast"]["value"] = json!("no");
    let refused = w
        .served
        .post(&w.alice, &format!("{town}/statements"), &tampered);
    assert_eq!((refused.status, refused.code()), (400, "bad_signature"));

    // An oversized body (the limit is 8192 bytes here).
    let huge = json!({"action_type": "add_document", "params": {"name": "big", "text": "x".repeat(10_000)}});
    let oversized = w.served.post(&w.alice, &format!("{town}/proposals"), &huge);
    assert_eq!(
        (oversized.status, oversized.code()),
        (413, "body_too_large")
    );

    // Malformed JSON, and JSON of the wrong shape.
    let malformed = w
        .served
        .post_raw(&w.alice, &votes, b"{\"value\": ".to_vec());
    assert_eq!(
        (malformed.status, malformed.code()),
        (400, "malformed_json")
    );
    let misshapen = w.served.post(&w.alice, &votes, &json!({"vote": "yes"}));
    assert_eq!(misshapen.code(), "malformed_json");

    // An unknown proposal.
    let unknown = w.served.post(
        &w.alice,
        &format!("{town}/proposals/999999/votes"),
        &json!({"value": "yes"}),
    );
    assert_eq!((unknown.status, unknown.code()), (404, "unknown_proposal"));
    let unknown_read = w.served.get(&w.alice, &format!("{town}/proposals/999999"));
    assert_eq!(
        (unknown_read.status, unknown_read.code()),
        (404, "unknown_proposal")
    );

    // No token, a garbage token, an unknown route.
    let anonymous = w
        .served
        .http
        .post(w.served.url(&votes))
        .json(&json!({"value": "yes"}))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let garbage = w
        .served
        .post("ost_nonsense", &votes, &json!({"value": "yes"}));
    assert_eq!((garbage.status, garbage.code()), (401, "invalid_token"));
    assert_eq!(w.served.get(&w.alice, "/nowhere").code(), "not_found");

    // A vote that is no vote, and a proposal of an unknown action type.
    let empty_vote = w.served.post(&w.alice, &votes, &json!({"value": ""}));
    assert_eq!(
        (empty_vote.status, empty_vote.code()),
        (422, "invalid_vote")
    );
    let unknown_type = w.served.post(
        &w.alice,
        &format!("{town}/proposals"),
        &json!({"action_type": "launch_rockets"}),
    );
    assert_eq!(unknown_type.status, 422, "{unknown_type:?}");

    // Then nothing was appended by any of them.
    assert_eq!(w.entries(), before);
}

#[test]
fn a_replayed_signed_statement_is_refused_and_appends_nothing() {
    // Given a vote alice signed with her own key, accepted once,
    let w = world();
    let statement = w.signed_by_alice("alice", 1, w.vote_body());
    let path = "/communities/town/statements";
    let first = w.served.post(&w.alice, path, &statement);
    assert_eq!(first.status, 201, "{first:?}");
    let after_first = w.entries();

    // when the very same bytes are sent again, they are refused as a replay,
    let again = w.served.post(&w.alice, path, &statement);
    assert_eq!((again.status, again.code()), (409, "replayed"));
    // and so is a fresh statement that reuses the counter.
    let reused = w.signed_by_alice(
        "alice",
        1,
        StatementBody::VoteWithdrawn {
            action: ActionId(w.action),
        },
    );
    assert_eq!(w.served.post(&w.alice, path, &reused).code(), "replayed");

    // Then the log holds the first only; the audit shows it signed by alice's key, not the server's.
    assert_eq!(w.entries(), after_first);
    let audit = w
        .served
        .get(&w.bob, "/communities/town/audit?kind=VoteCast&member=alice");
    let rows = audit.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["on_behalf"], false);
}

#[test]
fn a_revoked_token_can_no_longer_act() {
    // Given bob's token revoked through the API by bob himself,
    let w = world();
    let me = w.served.get(&w.bob, "/communities/town/me");
    assert_eq!(me.body["member"], "bob");
    let issued = w.served.post(
        &w.bob,
        "/communities/town/tokens",
        &json!({"member": "bob"}),
    );
    let id = issued.body["id"].as_str().unwrap().to_owned();
    let spare = issued.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        w.served
            .delete(&w.bob, &format!("/communities/town/tokens/{id}"))
            .status,
        204
    );

    // when the revoked token votes, it is refused and nothing is appended.
    let before = w.entries();
    let vote = w.served.post(
        &spare,
        &format!("/communities/town/proposals/{}/votes", w.action),
        &json!({"value": "no"}),
    );
    assert_eq!((vote.status, vote.code()), (401, "revoked_token"));
    assert_eq!(w.entries(), before);
}
