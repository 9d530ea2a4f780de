//! Clients that flood: `sendMessage` frames as fast as TCP takes them. The gateway bounds the
//! frames it handles at once, per socket and overall (a socket is not read past its share,
//! so the flooder waits in TCP), and the management posts in flight; so its tasks and file
//! descriptors stay bounded, nothing is lost, and a client in another room still gets
//! through. Alone in its own test binary: it counts the process's tasks and descriptors,
//! which other tests would disturb.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{gateway, next_json_within, open, token, wait_for};
use futures::{SinkExt, StreamExt};
use hermes_local::Options;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const FRAMES: usize = 1_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// How much the tasks and descriptors of this process grew at their peak during a flood.
struct Growth {
    tasks: usize,
    fds: usize,
}

/// Samples the process's tasks and descriptors from a plain thread (a busy runtime cannot
/// hide a peak) until `stop`.
struct Sampler {
    base: (usize, usize),
    peak: Arc<(AtomicUsize, AtomicUsize)>,
    sampling: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start() -> Sampler {
        let runtime = tokio::runtime::Handle::current();
        let base = (runtime.metrics().num_alive_tasks(), open_fds());
        let peak = Arc::new((AtomicUsize::new(base.0), AtomicUsize::new(base.1)));
        let sampling = Arc::new(AtomicBool::new(true));
        let thread = {
            let (peak, sampling) = (peak.clone(), sampling.clone());
            std::thread::spawn(move || {
                while sampling.load(Ordering::Relaxed) {
                    peak.0
                        .fetch_max(runtime.metrics().num_alive_tasks(), Ordering::Relaxed);
                    peak.1.fetch_max(open_fds(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        Sampler {
            base,
            peak,
            sampling,
            thread,
        }
    }

    fn stop(self) -> Growth {
        self.sampling.store(false, Ordering::Relaxed);
        self.thread.join().unwrap();
        Growth {
            tasks: self.peak.0.load(Ordering::Relaxed).saturating_sub(self.base.0),
            fds: self.peak.1.load(Ordering::Relaxed).saturating_sub(self.base.1),
        }
    }
}

/// `flooders` clients, each alone in its room, send `FRAMES` frames each and read their
/// echoes; mid-flood a client of another room sends one. Everything must arrive.
async fn flood(opts: Options, flooders: usize) -> Growth {
    let gw = gateway(opts).await;
    let mut clients = Vec::new();
    for i in 0..flooders {
        clients.push(
            open(&gw, &token(&gw, i as i64, &format!("FLOOD{i}")).await)
                .await
                .unwrap(),
        );
    }
    let mut other = open(&gw, &token(&gw, 99, "QUIET").await).await.unwrap();
    wait_for(|| gw.live_connections() == flooders + 1).await;

    let sampler = Sampler::start();

    let mut floods = Vec::new();
    for ws in clients {
        let (mut sink, mut echoes) = ws.split();
        floods.push(tokio::spawn(async move {
            let send = async {
                for i in 0..FRAMES {
                    let frame = json!({"action": "sendMessage", "data": i}).to_string();
                    sink.feed(Message::Text(frame.into())).await.unwrap();
                }
                sink.flush().await.unwrap();
            };
            // Every frame comes back to its sender (alone in its room), none lost.
            let receive = async {
                let mut seen = 0;
                while seen < FRAMES {
                    match tokio::time::timeout(Duration::from_secs(60), echoes.next()).await {
                        Ok(Some(Ok(Message::Text(_)))) => seen += 1,
                        Ok(Some(Ok(_))) => {}
                        other => panic!("after {seen} echoes: {other:?}"),
                    }
                }
            };
            tokio::join!(send, receive);
        }));
    }

    // Another room, mid-flood: its message goes through.
    other
        .send(Message::Text(
            r#"{"action":"sendMessage","data":"still here"}"#.into(),
        ))
        .await
        .unwrap();
    assert_eq!(
        next_json_within(&mut other, Duration::from_secs(30)).await["data"],
        "still here"
    );
    for f in floods {
        f.await.unwrap();
    }
    let growth = sampler.stop();
    gw.shutdown().await;
    growth
}

/// `messages` notifications queued to one room of `members` sockets: each is one fan-out
/// of `members` posts (the send handler's own concurrency is 64).
async fn fan_out(opts: Options, members: usize, messages: usize) -> Growth {
    let gw = gateway(opts).await;
    let received = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for i in 0..members {
        let mut ws = open(&gw, &token(&gw, i as i64, "BIG").await).await.unwrap();
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if matches!(m, Message::Text(_)) {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    wait_for(|| gw.live_connections() == members).await;
    let sampler = Sampler::start();
    let queue = gw.queue().unwrap();
    for i in 0..messages {
        let n = hermes_core::Notification::new(0, "BIG", json!({"type": "info", "data": i}));
        queue.send(&n).await.unwrap();
    }
    for _ in 0..3000 {
        if received.load(Ordering::Relaxed) == members * messages {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        received.load(Ordering::Relaxed),
        members * messages,
        "every frame delivered in 60 s"
    );
    let growth = sampler.stop();
    for r in readers {
        r.abort();
    }
    gw.shutdown().await;
    growth
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_held_back_per_socket_and_overall() {
    let max_posts = 8;
    // Besides the frames being handled: each post in flight may hold a connection task at
    // both ends (the management client's and the gateway's), the test's own tasks, slack.
    let other_tasks = |flooders: usize| 2 * max_posts + flooders + 16;
    // Each post in flight may hold two descriptors (both ends are in this process).
    let fd_bound = 2 * max_posts + 32;

    // One socket may not take more than its share, though the gateway would take 1,000.
    let g = flood(
        Options {
            max_posts,
            max_routes: 1_000,
            max_routes_per_connection: 4,
            ..Options::default()
        },
        1,
    )
    .await;
    assert!(
        g.tasks <= 4 + other_tasks(1),
        "per socket: tasks grew by {}",
        g.tasks
    );
    assert!(g.fds <= fd_bound, "per socket: descriptors grew by {}", g.fds);

    // Three sockets that could each take 1,000 share the gateway's 8.
    let g = flood(
        Options {
            max_posts,
            max_routes: 8,
            max_routes_per_connection: 1_000,
            ..Options::default()
        },
        3,
    )
    .await;
    assert!(
        g.tasks <= 8 + other_tasks(3),
        "overall: tasks grew by {}",
        g.tasks
    );
    assert!(g.fds <= fd_bound, "overall: descriptors grew by {}", g.fds);

    // Fan-outs of 60 posts each share the gateway's 8 posts in flight, so the management
    // client opens no more connections than that.
    let g = fan_out(
        Options {
            max_posts,
            ..Options::default()
        },
        60,
        20,
    )
    .await;
    assert!(g.fds <= fd_bound, "fan-out: descriptors grew by {}", g.fds);
}
