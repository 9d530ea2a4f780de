#![allow(dead_code)]
//! Shared by the integration tests: fixtures, a config, and the emulator switch.

use hermes_core::Config;
use serde::de::DeserializeOwned;

pub const SECRET: &str = "integration-test-secret-for-hs512-0123456789";
pub const PASSCODE: &str = "integration-passcode";

pub fn fixture<T: DeserializeOwned>(name: &str, token: Option<&str>) -> T {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if let Some(t) = token {
        text = text.replace("{{TOKEN}}", t);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn config(extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("HERMES_JWT_SECRET".into(), SECRET.into()),
        ("HERMES_PASSCODE".into(), PASSCODE.into()),
        ("HERMES_BCRYPT_COST".into(), "4".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap()
}

/// Unique ids per test run, so tests sharing the emulator's tables never see each other's rows.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}
