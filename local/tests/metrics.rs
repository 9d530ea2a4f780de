//! `GET /_hermes/metrics`: the handlers' counts since start, in Prometheus text format, after
//! real sockets connect (and one is refused), a notification reaches them, and one leaves.

mod common;

use std::time::Duration;

use common::pages::{next, open_as};
use common::{gateway, http, open};
use hermes_core::Notification;
use hermes_local::Options;
use serde_json::json;

/// The page's value of a series (`name{labels}`), if it is there.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn the_metrics_page_counts_what_the_handlers_did() {
    let gw = gateway(Options::default()).await;
    let (status, page) = http(&gw, "GET", "/_hermes/metrics", &[], "").await;
    assert_eq!(status, 200, "{page}");
    // Every metric is listed before anything happened, at zero.
    assert_eq!(
        value(&page, r#"hermes_posts_delivered_total{function="send"}"#),
        Some(0.0)
    );
    assert!(
        page.contains("# TYPE hermes_fanout_duration_milliseconds summary"),
        "{page}"
    );

    let mut pages = Vec::new();
    for user in 1..=3 {
        pages.push(open_as(&gw, user, "ACME").await);
    }
    assert!(open(&gw, "not-a-token").await.is_err(), "refused");
    gw.queue()
        .unwrap()
        .send(&Notification::new(
            9,
            "ACME",
            json!({"type": "info", "data": "hello"}),
        ))
        .await
        .unwrap();
    for p in &mut pages {
        assert_eq!(next(p).await["data"]["data"], "hello");
    }
    drop(pages.pop());

    let want = [
        (r#"hermes_allowed_total{function="authorizer"}"#, 3.0),
        (r#"hermes_denied_malformed_total{function="authorizer"}"#, 1.0),
        (r#"hermes_connects_total{function="connect"}"#, 3.0),
        (r#"hermes_notifications_total{function="send"}"#, 1.0),
        (r#"hermes_posts_delivered_total{function="send"}"#, 3.0),
        (r#"hermes_posts_gone_total{function="send"}"#, 0.0),
        (r#"hermes_records_failed_total{function="send"}"#, 0.0),
        (
            r#"hermes_fanout_duration_milliseconds_count{function="send"}"#,
            1.0,
        ),
        (
            r#"hermes_notification_age_milliseconds_count{function="send"}"#,
            1.0,
        ),
        (r#"hermes_disconnects_total{function="disconnect"}"#, 1.0),
    ];
    let mut page = String::new();
    // The send handler counts once its posts are answered, and $disconnect runs after the
    // socket's close: both a little after the pages see their frames.
    for _ in 0..100 {
        page = http(&gw, "GET", "/_hermes/metrics", &[], "").await.1;
        if want.iter().all(|(s, v)| value(&page, s) == Some(*v)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (series, v) in want {
        assert_eq!(value(&page, series), Some(v), "{series} in\n{page}");
    }
}

#[tokio::test]
async fn the_metrics_page_answers_this_machine_only() {
    let gw = gateway(Options::default()).await;
    let own = format!("http://{}", gw.addr);
    for (why, headers, status) in [
        ("other origin", vec![("Origin", "http://evil.example")], 403),
        ("rebound host", vec![("Host", "evil.example:80")], 403),
        ("its own page", vec![("Origin", own.as_str())], 200),
        ("a scraper", vec![], 200),
    ] {
        let (got, body) = http(&gw, "GET", "/_hermes/metrics", &headers, "").await;
        assert_eq!(got, status, "{why}: {body}");
    }
}
