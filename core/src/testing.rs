//! For the test suites of the crates built on this one (and this one's own).

/// The DynamoDB/SQS emulator that `script/with-moto` started, from `HERMES_TEST_AWS_ENDPOINT`.
/// `None` (the caller skips, with a notice) when it is unset, unless
/// `HERMES_REQUIRE_AWS_TESTS=1` (what `script/test` sets): then a missing emulator panics, so
/// a run that should exercise AWS code paths cannot pass without them.
pub fn aws_endpoint() -> Option<String> {
    match std::env::var("HERMES_TEST_AWS_ENDPOINT") {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("HERMES_REQUIRE_AWS_TESTS").as_deref() == Ok("1") => {
            panic!("HERMES_TEST_AWS_ENDPOINT is not set: run under script/with-moto")
        }
        _ => {
            eprintln!("skipped: HERMES_TEST_AWS_ENDPOINT not set (run under script/with-moto)");
            None
        }
    }
}
