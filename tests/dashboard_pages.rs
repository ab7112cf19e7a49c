//! The dashboard's pages over plain HTTP (no browser): who may see them, which form posts
//! are refused and with what code, and that a refused post appends nothing.

mod common;

use common::{found, serve, Served};
use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;

fn client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

fn page(served: &Served, token: Option<&str>, path: &str) -> Response {
    let mut request = client().get(format!("http://{}{path}", served.address));
    if let Some(token) = token {
        request = request.header("cookie", format!("ostrom_session={token}"));
    }
    request.send().expect("GET")
}

fn post(
    served: &Served,
    token: &str,
    path: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let mut request = client()
        .post(format!("http://{}{path}", served.address))
        .header("cookie", format!("ostrom_session={token}"))
        .form(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().expect("POST")
}

/// The `data-code` an error page carries.
fn code(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    let html = response.text().expect("body");
    let code = html
        .split("data-code=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("<no code>")
        .to_owned();
    (status, code)
}

#[test]
fn pages_need_a_member_of_that_community_and_carry_a_content_security_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (_, alice) = found(dir.path(), "town", "democracy", &["alice", "bob"]);
    let (_, other) = found(dir.path(), "village", "democracy", &["olga"]);
    let served = serve(dir.path(), &[]);

    // Without a session, or with another community's token, a page sends you to sign in.
    for token in [
        None,
        Some(other.as_str()),
        Some("ost_0000000000000000_garbage"),
    ] {
        let response = page(&served, token, "/c/town/proposals");
        assert_eq!(response.status(), 303, "{token:?}");
        assert_eq!(response.headers()["location"], "/c/town/signin");
    }
    // A wrong token at sign-in is refused on the page, with the reason.
    let response = client()
        .post(format!("http://{}/c/town/signin", served.address))
        .form(&[("token", other.as_str())])
        .send()
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().unwrap().contains("another community"));
    // The right one sets an HttpOnly, SameSite=Strict cookie for this community's pages.
    let response = client()
        .post(format!("http://{}/c/town/signin", served.address))
        .form(&[("token", alice.as_str())])
        .send()
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/c/town"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // Signed in, pages render, and forbid inline scripts and framing.
    let response = page(&served, Some(&alice), "/c/town");
    assert_eq!(response.status(), 200);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
    // An unknown proposal is a 404 page with its code.
    assert_eq!(
        code(page(&served, Some(&alice), "/c/town/proposals/999")),
        (404, "unknown_proposal".to_owned())
    );
}

#[test]
fn refused_form_posts_say_why_and_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, alice) = found(dir.path(), "town", "democracy", &["alice", "bob"]);
    let served = serve(dir.path(), &[]);
    let proposed = post(
        &served,
        &alice,
        "/c/town/propose",
        &[
            ("action_type", "add_document"),
            ("p.name", "rules"),
            ("p.text", "Be kind."),
        ],
        &[],
    );
    assert_eq!(proposed.status(), 303);
    let proposal = proposed.headers()["location"].to_str().unwrap().to_owned();
    let entries = served.entries(&alice, "town");

    // A vote another site started (the browser says so, or the origin is elsewhere).
    let vote = format!("{proposal}/vote");
    for headers in [
        [("sec-fetch-site", "cross-site")],
        [("origin", "http://evil.example")],
    ] {
        assert_eq!(
            code(post(&served, &alice, &vote, &[("value", "yes")], &headers)),
            (403, "cross_site".to_owned())
        );
    }
    // A vote that is not one (a ranking of things that are not options).
    assert_eq!(
        code(post(
            &served,
            &alice,
            &vote,
            &[("value", "first,second")],
            &[]
        )),
        (422, "invalid_vote".to_owned())
    );
    // A proposal missing a required parameter is shown again with the error.
    assert_eq!(
        code(post(
            &served,
            &alice,
            "/c/town/propose",
            &[("action_type", "add_document"), ("p.name", "faq")],
            &[],
        )),
        (422, "bad_param".to_owned())
    );
    // An action type the ledger does not know.
    assert_eq!(
        code(post(
            &served,
            &alice,
            "/c/town/propose",
            &[("action_type", "launch_rockets")],
            &[]
        )),
        (422, "bad_param".to_owned())
    );
    assert_eq!(
        served.entries(&alice, "town"),
        entries,
        "a refused post appended"
    );

    // And a vote from this site lands.
    let response = post(
        &served,
        &alice,
        &vote,
        &[("value", "yes")],
        &[("origin", &format!("http://{}", served.address))],
    );
    assert_eq!(response.status(), 303);
    assert!(served.entries(&alice, "town") > entries);
}
