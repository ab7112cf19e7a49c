//! Shared harness for the end-to-end tests: run the real `ostrom` binary on a temporary
//! data directory (`ok`, `refused`), start `ostrom serve` on 127.0.0.1 with a free port,
//! and talk HTTP to it. A served process is killed when its handle drops, so no test leaves a server behind.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn ostrom(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ostrom"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("OSTROM_COMMUNITY")
        .env_remove("OSTROM_OPERATOR_TOKEN")
        .env_remove("OSTROM_LISTEN")
        .output()
        .expect("ostrom runs")
}

pub fn ok(data: &Path, args: &[&str]) -> String {
    let output = ostrom(data, args);
    assert!(
        output.status.success(),
        "ostrom {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The error code of a failed command, from `error[CODE]: ...`.
pub fn refused(data: &Path, args: &[&str]) -> String {
    refused_with_message(data, args).0
}

/// The error code and the whole message of a failed command; it must not have panicked.
pub fn refused_with_message(data: &Path, args: &[&str]) -> (String, String) {
    let output = ostrom(data, args);
    assert!(
        !output.status.success(),
        "ostrom {args:?} should have failed"
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (code, message) = stderr
        .strip_prefix("error[")
        .and_then(|rest| rest.split_once(']'))
        .unwrap_or_else(|| panic!("no error code in {stderr:?}"));
    (code.to_owned(), message.to_owned())
}

/// Found a community with the CLI; returns its id and the founder's token.
pub fn found(data: &Path, name: &str, kit: &str, members: &[&str]) -> (String, String) {
    let mut args = vec!["init", "--name", name, "--kit", kit];
    for member in members {
        args.extend(["--member", member]);
    }
    let out = ok(data, &args);
    let mut lines = out.lines();
    let id = lines.next().expect("community id").to_owned();
    let token = lines.next().expect("founder token").to_owned();
    (id, token)
}

/// Issue a member's token with the CLI (the server must not be running).
pub fn token(data: &Path, community: &str, member: &str) -> String {
    ok(
        data,
        &["--community", community, "token", "issue", "--as", member],
    )
    .trim()
    .to_owned()
}

pub struct Served {
    child: Option<Child>,
    pub address: String,
    pub data: PathBuf,
    pub http: reqwest::blocking::Client,
}

/// Start `ostrom serve` on a free loopback port and wait until it listens.
pub fn serve(data: &Path, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ostrom"))
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn"])
        .args(extra)
        .env_remove("OSTROM_OPERATOR_TOKEN")
        .env_remove("OSTROM_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ostrom serve starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("serve prints its address");
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"))
        .to_owned();
    Served {
        child: Some(child),
        address,
        data: data.to_path_buf(),
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
    }
}

/// An HTTP answer: status and JSON body (or `null`).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no code>")
    }
}

fn answer(response: reqwest::blocking::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.address)
    }

    pub fn get(&self, token: &str, path: &str) -> Answer {
        answer(
            self.http
                .get(self.url(path))
                .bearer_auth(token)
                .send()
                .expect("GET"),
        )
    }

    pub fn post(&self, token: &str, path: &str, body: &Value) -> Answer {
        answer(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .json(body)
                .send()
                .expect("POST"),
        )
    }

    pub fn post_raw(&self, token: &str, path: &str, body: Vec<u8>) -> Answer {
        answer(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .expect("POST"),
        )
    }

    pub fn delete(&self, token: &str, path: &str) -> Answer {
        answer(
            self.http
                .delete(self.url(path))
                .bearer_auth(token)
                .send()
                .expect("DELETE"),
        )
    }

    /// The number of entries in a community's log, as the server publishes it.
    pub fn entries(&self, token: &str, community: &str) -> u64 {
        let head = self.get(token, &format!("/communities/{community}/head"));
        assert_eq!(head.status, 200, "{head:?}");
        head.body["entries"].as_u64().expect("entries")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, and wait for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        wait_for(&mut child, Duration::from_secs(30))
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }
}

fn wait_for(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not stop in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
