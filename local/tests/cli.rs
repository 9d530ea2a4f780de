//! The binary's command line: every bad value is refused before anything starts, naming the flag.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hermes-local"))
        .args(args)
        .env_remove("HERMES_BACKEND")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_every_flag() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--port",
        "--stage",
        "--idle-timeout",
        "--max-age",
        "--max-frame-bytes",
        "--max-message-bytes",
        "--max-connections",
        "--header-timeout",
        "--body-timeout",
        "--max-queued-bytes",
        "--max-total-queued-bytes",
    ] {
        assert!(out.contains(flag), "--help does not mention {flag}");
    }
}

#[test]
fn bad_values_name_the_flag() {
    for (args, expected) in [
        (vec!["--port", "99999"], "--port must be a number from 0 to 65535"),
        (vec!["--idle-timeout", "ten"], "--idle-timeout must be seconds"),
        (
            vec!["--max-frame-bytes", "x"],
            "--max-frame-bytes must be a byte count",
        ),
        (
            vec!["--max-frame-bytes", "200000"],
            "--max-frame-bytes (max_frame_bytes) must be from 1 to --max-message-bytes",
        ),
        (vec!["--stage", "a/b"], "--stage (stage) must be letters"),
        (
            vec!["--max-connections", "0"],
            "--max-connections (max_connections) must be more than 0",
        ),
        (
            vec!["--header-timeout", "0"],
            "--header-timeout (header_read_timeout) must be more than 0",
        ),
        (
            vec!["--max-queued-bytes", "1000"],
            "--max-queued-bytes (max_queued_bytes) must be at least --max-message-bytes",
        ),
        (vec!["--body-timeout", "soon"], "--body-timeout must be seconds"),
        (
            vec!["--body-timeout", "0"],
            "--body-timeout (body_read_timeout) must be more than 0",
        ),
        (
            vec!["--max-total-queued-bytes", "lots"],
            "--max-total-queued-bytes must be a byte count",
        ),
        (
            vec!["--max-total-queued-bytes", "1000000"],
            "--max-total-queued-bytes (max_total_queued_bytes) must be at least --max-queued-bytes",
        ),
        (
            vec!["--idle-timeout", "0"],
            "--idle-timeout (idle_timeout) must be more than 0",
        ),
        (vec!["--max-age", "0"], "--max-age (max_age) must be more than 0"),
        (vec!["--stage"], "--stage needs a value"),
        (vec!["--verbose"], "unknown argument \"--verbose\""),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn a_taken_port_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, _, err) = run(&["--port", &port]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
}

/// A developer who exported HERMES_BACKEND=local for Rails starts hermes-local in the same
/// shell: it runs on its own memory backend and says so, once. The stack's secret, named in
/// the same shell (HERMES_SECRET_ID), is not read: the memory backend's keys are its own.
#[test]
fn the_gems_local_backend_setting_means_memory_here() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut child = Command::new(env!("CARGO_BIN_EXE_hermes-local"))
        .args(["--port", "0"])
        .env("HERMES_BACKEND", "local")
        .env("HERMES_SECRET_ID", "hermes/production")
        .env_remove("HERMES_JWT_SECRET")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    // Up to the demo page's line, the last one it prints on start.
    while !lines.iter().any(|l: &String| l.contains("demo page")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "hermes-local did not start: {lines:?} {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = lines.join("\n");
    assert!(text.contains("(backend memory,"), "{text}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("HERMES_BACKEND=local"))
            .count(),
        1,
        "{text}"
    );
}

/// `start` refuses what the flags refuse, for a library user who builds `Options` by hand.
#[tokio::test]
async fn start_checks_options_built_in_code() {
    let cfg = hermes_core::Config::from_lookup(|k| match k {
        "HERMES_JWT_SECRET" => Some("cli-test-secret-for-hs512-0123456789abcdef".into()),
        "HERMES_PASSCODE" => Some("p".into()),
        "HERMES_BACKEND" => Some("memory".into()),
        _ => None,
    })
    .unwrap();
    for (opts, want) in [
        (
            hermes_local::Options {
                port: 0,
                max_frame_bytes: 200_000,
                ..Default::default()
            },
            "--max-frame-bytes (max_frame_bytes) must be from 1 to --max-message-bytes",
        ),
        (
            hermes_local::Options {
                port: 0,
                max_posts: 0,
                ..Default::default()
            },
            "max_posts must be more than 0",
        ),
    ] {
        let err = hermes_local::start(cfg.clone(), opts)
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, hermes_local::StartError::Options(_)), "{err:?}");
        assert_eq!(err.to_string(), want);
    }
}
