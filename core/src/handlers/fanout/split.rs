//! Reading the rest of a room after the reader's own share, and queueing it for other
//! invocations, `chunk` connection ids a record, until the room ends or the deadline nears.

use std::time::{Duration, Instant};

use super::continuation;
use super::job::{Cursor, Job};
use super::{retry_delay, Fanout, FanoutError};
use crate::queue::Queue;
use crate::store::{RoomPage, StoreError};

impl Fanout<'_> {
    /// Queues `ids` and the pages after `next`, `chunk` ids a record; when the deadline nears,
    /// the ids read and the cursor go on together. `last_read`: how long the previous page
    /// took. Returns the records queued.
    pub(super) async fn split(
        &self,
        queue: &dyn Queue,
        job: &Job,
        mut ids: Vec<String>,
        mut next: Option<String>,
        mut last_read: Duration,
    ) -> Result<usize, FanoutError> {
        let chunk = self.settings.chunk.max(1);
        let mut queued = 0;
        loop {
            while ids.len() >= chunk || (next.is_none() && !ids.is_empty()) {
                let rest = ids.split_off(ids.len().min(chunk));
                let part = job.part(std::mem::replace(&mut ids, rest), None, job.round);
                queued += self.hand_on(queue, &part, Duration::ZERO).await?;
            }
            let Some(after) = next.take() else {
                return Ok(queued);
            };
            // A read likely to outlast the invocation is not started: it would be given up,
            // and read again by the next one.
            let began = Instant::now();
            let page = match self.deadline.hard_stop() {
                _ if self.deadline.stopped(began) => None,
                Some(h) if began + last_read.mul_f32(1.5) >= h => None,
                _ => self.read_page(job, Some(&after)).await,
            };
            last_read = began.elapsed();
            let (delay, round) = match page {
                Some(Ok(page)) => {
                    ids.extend(job.wanted(page.members));
                    next = page.next;
                    continue;
                }
                None => (Duration::ZERO, job.round),
                // Part of the room is on its way already: failing the record would post that
                // part again. The rest waits and tries again, a bounded number of times.
                Some(Err(e)) if job.round < self.settings.max_rounds => {
                    tracing::warn!(audience = %job.audience, error = %e, "reading the audience failed; trying again later");
                    (retry_delay(job.round), job.round + 1)
                }
                Some(Err(e)) => return Err(e.into()),
            };
            let rest = job.part(ids, Some(Cursor { after: Some(after) }), round);
            return Ok(queued + self.hand_on(queue, &rest, delay).await?);
        }
    }

    /// One page of the job's audience, given up at the deadline's hard stop (`None`).
    pub(super) async fn read_page(
        &self,
        job: &Job,
        after: Option<&str>,
    ) -> Option<Result<RoomPage, StoreError>> {
        let read = self.page(&job.audience, after, self.settings.page_size);
        match self.deadline.hard_stop() {
            Some(t) => tokio::time::timeout_at(t.into(), read).await.ok(),
            None => Some(read.await),
        }
    }

    /// Queues `job` as continuation records; returns how many.
    pub(super) async fn hand_on(
        &self,
        queue: &dyn Queue,
        job: &Job,
        delay: Duration,
    ) -> Result<usize, FanoutError> {
        let records = continuation::encode(job)?;
        for (i, body) in records.iter().enumerate() {
            if let Err(e) = queue.send_body(body, job.audience.key(), delay).await {
                if i > 0 {
                    // Part of it queued: the record fails, SQS delivers it again and some
                    // connections may get the frame twice (the browser client drops
                    // duplicates by id).
                    tracing::warn!(
                        audience = %job.audience,
                        queued = i,
                        "continuation only partly queued"
                    );
                }
                return Err(e.into());
            }
        }
        Ok(records.len())
    }
}
