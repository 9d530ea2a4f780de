//! Who is connected to a room: the `presence` route's answer, `Hermes.presence`, and
//! hermes-local's development endpoint.

use std::collections::BTreeSet;

use crate::store::{ConnectionStore, StoreError};

/// The room's distinct users (sorted) and its number of connections, from the room index.
pub async fn presence(
    connections: &dyn ConnectionStore,
    room_id: &str,
) -> Result<(Vec<String>, usize), StoreError> {
    let members = connections.room(room_id).await?;
    let count = members.len();
    let users: BTreeSet<String> = members.into_iter().map(|m| m.user_id).collect();
    Ok((users.into_iter().collect(), count))
}
