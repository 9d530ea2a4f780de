//! What the unit tests of the send path start from.

use std::sync::Arc;

use crate::store::{Connection, ConnectionStore, MemoryConnectionStore};

/// Connections `(connection id, room, user)`, in memory.
pub(super) async fn connections(rows: &[(&str, &str, &str)]) -> Arc<MemoryConnectionStore> {
    let store = Arc::new(MemoryConnectionStore::new());
    for (id, room, user) in rows {
        let row = Connection {
            connection_id: (*id).into(),
            room_id: (*room).into(),
            user_id: (*user).into(),
            connected_at: 0,
            expires_at: u64::MAX,
            streams: Vec::new(),
        };
        store.put(&row).await.expect("memory stores do not fail");
    }
    store
}
