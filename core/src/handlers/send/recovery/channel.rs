//! A room or a stream a page recovers, and the answer that names it.

use super::super::request::Position;
use super::super::streams::Named;
use crate::frame::{recovered_frame, recovered_stream_frame};
use crate::handlers::fanout::Audience;

/// A room or a stream a page recovers: where it stood, and for a stream the signed name its
/// answer repeats.
pub(in crate::handlers::send) struct Channel {
    pub audience: Audience,
    pub since: u64,
    pub epoch: String,
    signed: Option<String>,
}

impl Channel {
    pub fn room(room_id: &str, at: Position) -> Self {
        Channel {
            audience: Audience::Room(room_id.to_owned()),
            since: at.since,
            epoch: at.epoch,
            signed: None,
        }
    }

    /// A stream named with a position.
    pub fn stream(n: Named) -> Self {
        let at = n.position.unwrap_or(Position {
            since: 0,
            epoch: String::new(),
        });
        Channel {
            audience: Audience::Stream(n.stream),
            since: at.since,
            epoch: at.epoch,
            signed: Some(n.signed),
        }
    }

    /// The `recovered` answer for this channel.
    pub fn answer(&self, recovered: bool, epoch: &str, seq: u64) -> Vec<u8> {
        match (&self.audience, &self.signed) {
            (Audience::Stream(stream), Some(signed)) => {
                recovered_stream_frame(stream, signed, recovered, epoch, seq)
            }
            _ => recovered_frame(recovered, epoch, seq),
        }
    }
}
