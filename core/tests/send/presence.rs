//! `presence`: who is connected to the room.

use super::*;

#[tokio::test]
async fn presence_lists_distinct_users_sorted_and_counts_connections() {
    let w = world();
    join(&w, "c1", "ACME", "42").await;
    join(&w, "c2", "ACME", "42").await;
    join(&w, "c3", "ACME", "7").await;
    join(&w, "x", "OTHER", "99").await;
    let ev = route("c3", json!({"action": "presence"}));
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 200);
    assert_eq!(
        frames(&w, "c3"),
        vec![json!({"hermes": "presence", "room_id": "ACME", "users": ["42", "7"], "connections": 3})]
    );
    assert!(frames(&w, "c1").is_empty(), "only the asker is answered");
}
