//! The last frames posted through the management API, for the development console
//! (`dev/console.rs`): when, to which connection, how large, and the first bytes of each.
//!
//! A ring bounded in entries and in bytes: a post records a copy of at most `PREVIEW_BYTES`
//! of its frame (never the frame itself, whose buffer could be 128 KB), and the oldest entries
//! go once either bound is reached. So whatever is posted, the log holds at most
//! `MAX_ENTRIES` entries and `MAX_BYTES` bytes of text. Recording is one short lock per post:
//! it runs on the fan-out's path.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

/// Entries kept.
pub(crate) const MAX_ENTRIES: usize = 100;
/// Bytes of text kept across the entries (previews and connection ids, each entry's
/// `ENTRY_OVERHEAD` included).
pub(crate) const MAX_BYTES: usize = 16 * 1024;
/// The most of a frame an entry keeps.
pub(crate) const PREVIEW_BYTES: usize = 96;
/// What an entry costs besides its text, so the byte bound holds for empty frames too.
const ENTRY_OVERHEAD: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Posted {
    pub at: SystemTime,
    pub connection_id: String,
    /// The whole frame's size.
    pub bytes: usize,
    /// Its first bytes (at most `PREVIEW_BYTES`, cut at a character boundary).
    pub preview: String,
    /// The preview is not the whole frame.
    pub cut: bool,
    /// The management API's answer: 200, 410 (gone) or 429 (the gateway's queues full).
    pub status: u16,
}

impl Posted {
    fn cost(&self) -> usize {
        self.connection_id.len() + self.preview.len() + ENTRY_OVERHEAD
    }
}

#[derive(Default)]
pub(crate) struct FrameLog {
    inner: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Posted>,
    bytes: usize,
    /// Frames recorded since the gateway started, the ones dropped from the ring included.
    total: u64,
}

impl FrameLog {
    pub fn record(&self, connection_id: &str, frame: &str, status: u16) {
        let preview = head(frame, PREVIEW_BYTES);
        let entry = Posted {
            at: SystemTime::now(),
            // Ours (`ids.rs`: 16 characters), but a management call may name any id: cut too.
            connection_id: head(connection_id, PREVIEW_BYTES).to_owned(),
            bytes: frame.len(),
            cut: preview.len() < frame.len(),
            preview: preview.to_owned(),
            status,
        };
        let mut ring = self.inner.lock().unwrap();
        ring.total += 1;
        ring.bytes += entry.cost();
        ring.entries.push_back(entry);
        while ring.entries.len() > MAX_ENTRIES || ring.bytes > MAX_BYTES {
            let Some(old) = ring.entries.pop_front() else {
                break;
            };
            ring.bytes -= old.cost();
        }
    }

    /// The entries, newest first, and how many frames were recorded in all.
    pub fn newest_first(&self) -> (Vec<Posted>, u64) {
        let ring = self.inner.lock().unwrap();
        (ring.entries.iter().rev().cloned().collect(), ring.total)
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.inner.lock().unwrap().bytes
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_within_its_entries_and_bytes() {
        let log = FrameLog::default();
        for i in 0..1000 {
            log.record(&format!("conn{i}"), &format!("{i:>width$}", width = 50_000), 200);
        }
        let (entries, total) = log.newest_first();
        assert_eq!(total, 1000);
        assert!(entries.len() <= MAX_ENTRIES, "{}", entries.len());
        assert!(log.held_bytes() <= MAX_BYTES, "{}", log.held_bytes());
        assert_eq!(log.held_bytes(), entries.iter().map(Posted::cost).sum::<usize>());
        assert_eq!(entries[0].connection_id, "conn999");
        assert_eq!(entries[0].bytes, 50_000);
        assert!(entries[0].cut && entries[0].preview.len() == PREVIEW_BYTES);
        // Newest first, no gap.
        for (k, e) in entries.iter().enumerate() {
            assert_eq!(e.connection_id, format!("conn{}", 999 - k));
        }
    }

    #[test]
    fn the_byte_bound_holds_for_frames_of_every_size() {
        let log = FrameLog::default();
        // Small frames: the count bound bites first.
        for _ in 0..500 {
            log.record("c", "{}", 200);
        }
        assert_eq!(log.newest_first().0.len(), MAX_ENTRIES);
        // Long ids (cut too) and long frames: the byte bound bites first.
        for _ in 0..500 {
            log.record(&"x".repeat(10_000), &"y".repeat(10_000), 410);
        }
        let (entries, _) = log.newest_first();
        assert_eq!(entries[0].connection_id.len(), PREVIEW_BYTES);
        assert!(entries.len() < MAX_ENTRIES, "{}", entries.len());
        assert!(log.held_bytes() <= MAX_BYTES);
        assert!(log.held_bytes() > MAX_BYTES - entries[0].cost());
    }

    #[test]
    fn a_preview_is_cut_at_a_character_boundary() {
        let text = "é".repeat(100);
        let cut = head(&text, PREVIEW_BYTES + 1);
        assert_eq!(cut.len(), PREVIEW_BYTES);
        assert_eq!(head("short", 10), "short");
    }
}
