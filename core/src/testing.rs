//! For the test suites of the crates built on this one (and this one's own).
//!
//! A test that needs the moto server is marked
//! `#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]`,
//! so a plain `cargo test` reports it as ignored rather than passing it untested, and
//! `script/with-moto cargo test -- --include-ignored` (what `script/test` runs) runs it; there
//! it reads the server's address with [`moto_endpoint`], which fails the test when it is missing.

/// The DynamoDB/SQS emulator that `script/with-moto` started, from `HERMES_TEST_AWS_ENDPOINT`.
/// Panics when it is unset: a test that asks for it has nothing to test without it.
pub fn moto_endpoint() -> String {
    moto_var("HERMES_TEST_AWS_ENDPOINT")
}

/// The message queue `script/with-moto` created, from `HERMES_TEST_QUEUE_URL`.
pub fn moto_queue_url() -> String {
    moto_var("HERMES_TEST_QUEUE_URL")
}

fn moto_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{name} is not set: run under script/with-moto"),
    }
}
