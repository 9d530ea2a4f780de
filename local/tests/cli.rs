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
        "--max-queued-bytes",
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
            "--max-frame-bytes must be from 1 to --max-message-bytes",
        ),
        (vec!["--stage", "a/b"], "--stage must be letters"),
        (
            vec!["--max-connections", "0"],
            "--max-connections must be at least 1",
        ),
        (
            vec!["--header-timeout", "0"],
            "--header-timeout must be at least 1 second",
        ),
        (
            vec!["--max-queued-bytes", "1000"],
            "--max-queued-bytes must be at least --max-message-bytes",
        ),
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
