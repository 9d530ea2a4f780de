//! What a reconnecting page missed, from the room's history (docs/protocol.md, "Recovery").
//! The `recover` route (send/recovery.rs) bounds what a client can ask of it.
//!
//! A recovery answers from the history what a reconnecting page missed: the frames with
//! `seq > since` it may see, byte for byte as first posted, and whether that is all of it
//! (`recovered`). It is all of it only if the epoch is the client's, the client's anchor
//! (the item at `since`) has not expired, at most `MAX_RECOVERED` are owed and no seq of the
//! range is unaccounted for.
//!
//! Why gaps are waited for: the send path hands out a seq, then writes the frame to the history
//! while it reads the room's connections. A page that reconnects in between may miss the
//! frame live (its new connection was not in the room yet) and in the history (not written
//! yet). So a seq with no item, handed out moments ago, is waited for briefly; older gaps are
//! seqs whose write failed (the message was redelivered under a new seq) and are skipped.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::store::{Counter, HistoryItem, HistoryStore, StoreError};
use crate::token::now_secs;

/// At most this many frames are replayed; a page that missed more refetches its state.
pub const MAX_RECOVERED: usize = 100;
/// Seqs one recovery looks through, visible to the client or not: bounds the reads a client
/// can cause. A longer span is an overflow.
pub const MAX_SPAN: u64 = 500;
/// How long after its seq was handed out a history write may still land: the SDK's operation
/// timeout (20 s, retries included), plus margin.
const IN_FLIGHT_MS: u64 = 30_000;
/// Pauses before reading a recent gap again (850 ms in all).
const GAP_WAITS_MS: [u64; 3] = [100, 250, 500];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Oldest first, as first posted.
    pub frames: Vec<Vec<u8>>,
    pub recovered: bool,
    pub epoch: String,
    /// The room's latest seq when the recovery started: where the client stands afterwards.
    pub seq: u64,
}

impl Recovery {
    /// Not recovered: the page starts over at `seq` of `epoch` (and refetches its state).
    pub fn lost_at(epoch: &str, seq: u64) -> Self {
        Recovery {
            frames: vec![],
            recovered: false,
            epoch: epoch.to_owned(),
            seq,
        }
    }

    /// Not recovered: the page starts over at the counter's seq (and refetches its state).
    pub fn lost(c: &Counter) -> Self {
        Recovery {
            frames: vec![],
            recovered: false,
            epoch: c.epoch.clone(),
            seq: c.last_seq,
        }
    }
}

/// What a recovery must do, once the room's counter is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Answered from the counter alone: nothing to replay (nothing missed), or nothing that
    /// can be (another epoch, a seq from the future, too long a span).
    Answer(Recovery),
    /// The history between `since` and `counter.last_seq` must be read.
    Replay { since: u64, counter: Counter },
}

/// What `user_id` (a connection of `room_id`) missed after `since` in `epoch`.
pub async fn recover(
    history: &dyn HistoryStore,
    ttl_secs: u64,
    room_id: &str,
    user_id: &str,
    since: u64,
    epoch: &str,
) -> Result<Recovery, StoreError> {
    match plan(history, room_id, since, epoch).await? {
        Plan::Answer(r) => Ok(r),
        Plan::Replay { since, counter } => replay(history, ttl_secs, room_id, user_id, since, counter).await,
    }
}

/// Reads the room's counter (strongly consistent) and decides whether the history must be read.
pub async fn plan(
    history: &dyn HistoryStore,
    room_id: &str,
    since: u64,
    epoch: &str,
) -> Result<Plan, StoreError> {
    let c = history.counter(room_id).await?;
    if epoch != c.epoch || since > c.last_seq {
        return Ok(Plan::Answer(Recovery::lost(&c)));
    }
    if since == c.last_seq {
        return Ok(Plan::Answer(Recovery {
            recovered: true,
            ..Recovery::lost(&c)
        }));
    }
    if c.last_seq - since > MAX_SPAN {
        return Ok(Plan::Answer(Recovery::lost(&c)));
    }
    Ok(Plan::Replay { since, counter: c })
}

/// The frames after `since` that `user_id` may see, up to the counter's seq.
pub async fn replay(
    history: &dyn HistoryStore,
    ttl_secs: u64,
    room_id: &str,
    user_id: &str,
    since: u64,
    c: Counter,
) -> Result<Recovery, StoreError> {
    let to = c.last_seq;
    // From `since` itself: the anchor tells whether what follows it can have expired.
    let from = since.max(1);
    let limit = (to - from + 1) as usize;
    let mut items = of_epoch(history.range(room_id, from, to, limit).await?, &c);
    if since >= 1 && items.first().is_none_or(|i| i.seq != since) {
        return Ok(Recovery::lost(&c));
    }
    for pause in GAP_WAITS_MS {
        let Some(first_gap) = first_recent_gap(&items, since, &c, ttl_secs) else {
            break;
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let again = of_epoch(
            history
                .range(room_id, first_gap, to, (to - first_gap + 1) as usize)
                .await?,
            &c,
        );
        items.retain(|i| i.seq < first_gap);
        items.extend(again);
    }
    let now = now_secs();
    if items.iter().any(|i| i.expires_at <= now) {
        return Ok(Recovery::lost(&c));
    }
    let frames: Vec<Vec<u8>> = items
        .into_iter()
        .filter(|i| i.seq > since && i.visible_to(user_id))
        .filter_map(|i| i.frame)
        .collect();
    if frames.len() > MAX_RECOVERED {
        return Ok(Recovery::lost(&c));
    }
    Ok(Recovery {
        frames,
        recovered: true,
        epoch: c.epoch,
        seq: to,
    })
}

/// Items left from an earlier epoch (the counter was lost and seqs start over) are not this
/// epoch's history.
fn of_epoch(mut items: Vec<HistoryItem>, c: &Counter) -> Vec<HistoryItem> {
    items.retain(|i| i.epoch == c.epoch);
    items
}

/// The first seq after `since` with no item whose write may still be on its way: its
/// successor's item was written less than `IN_FLIGHT_MS` ago, or it has no successor and the
/// counter moved that recently.
fn first_recent_gap(items: &[HistoryItem], since: u64, c: &Counter, ttl_secs: u64) -> Option<u64> {
    let now_ms = crate::store::history::now_ms();
    let present: BTreeSet<u64> = items.iter().map(|i| i.seq).collect();
    (since + 1..=c.last_seq).find(|gap| {
        if present.contains(gap) {
            return false;
        }
        let written_ms = match items.iter().find(|i| i.seq > *gap) {
            Some(next) => next.expires_at.saturating_sub(ttl_secs) * 1000,
            None => c.updated_at_ms,
        };
        written_ms + IN_FLIGHT_MS > now_ms
    })
}
