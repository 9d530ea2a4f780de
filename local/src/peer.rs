//! The client of one WebSocket as API Gateway reports it: in every event of its connection
//! and in the management API's GetConnection.

use std::time::SystemTime;

#[derive(Clone)]
pub(crate) struct Peer {
    pub connected_at: SystemTime,
    pub source_ip: String,
    pub user_agent: String,
}
