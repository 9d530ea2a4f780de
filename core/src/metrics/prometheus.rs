//! The same figures as the EMF documents, added up since the process started, in Prometheus's
//! text exposition format (version 0.0.4): what hermes-local serves at `/_hermes/metrics`.
//!
//! `PostsDelivered` of the send function is `hermes_posts_delivered_total{function="send"}`;
//! a duration is a summary without quantiles (`hermes_fanout_duration_milliseconds_sum` and
//! `_count`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::{names, Function, Metric, Recorded, Unit};

#[derive(Debug, Default)]
pub struct Totals {
    inner: Mutex<BTreeMap<(Function, Metric), Total>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Total {
    sum: f64,
    count: u64,
}

impl Totals {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one invocation's figures.
    pub fn add(&self, function: Function, r: &Recorded) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (m, n) in &r.counts {
            t.entry((function, *m)).or_default().sum += *n as f64;
        }
        for (m, values) in &r.samples {
            let e = t.entry((function, *m)).or_default();
            e.sum += values.iter().sum::<f64>();
            e.count += values.len() as u64;
        }
    }

    /// A counter's total (for tests and the console).
    pub fn count(&self, function: Function, metric: Metric) -> u64 {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.get(&(function, metric)).map_or(0, |t| t.sum as u64)
    }

    /// The exposition: every metric of every function, zeros included, so the page lists
    /// what there is to watch before anything happened.
    pub fn render(&self) -> String {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // One family per metric name, its functions as label values.
        let mut families: BTreeMap<&str, (Metric, Vec<Function>)> = BTreeMap::new();
        for f in Function::ALL {
            // hermes-local never starts cold: it has one process.
            for m in f.metrics().filter(|m| *m != names::COLD_START) {
                families.entry(m.name).or_insert((m, Vec::new())).1.push(f);
            }
        }
        let mut out = String::new();
        for (metric, functions) in families.values() {
            let name = family_name(metric);
            let kind = match metric.unit {
                Unit::Count => "counter",
                Unit::Milliseconds => "summary",
            };
            let _ = writeln!(out, "# HELP {name} {}", escape_help(metric.help));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for f in functions {
                let total = t.get(&(*f, *metric)).copied().unwrap_or_default();
                let label = format!("{{function=\"{}\"}}", f.as_str());
                match metric.unit {
                    Unit::Count => {
                        let _ = writeln!(out, "{name}{label} {}", total.sum);
                    }
                    Unit::Milliseconds => {
                        let _ = writeln!(out, "{name}_sum{label} {}", total.sum);
                        let _ = writeln!(out, "{name}_count{label} {}", total.count);
                    }
                }
            }
        }
        out
    }
}

/// `PostsDelivered` -> `hermes_posts_delivered_total`, `FanoutDuration` ->
/// `hermes_fanout_duration_milliseconds`.
pub fn family_name(m: &Metric) -> String {
    let mut snake = String::from("hermes");
    for c in m.name.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    match m.unit {
        Unit::Count => snake + "_total",
        Unit::Milliseconds => snake + "_milliseconds",
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn totals_add_up_invocations_in_the_text_format() {
        let totals = Totals::new();
        for delivered in [3, 4] {
            let m = Metrics::new();
            m.add(names::POSTS_DELIVERED, delivered);
            m.sample(names::FANOUT_DURATION, 10.0);
            totals.add(Function::Send, &m.take());
        }
        let m = Metrics::new();
        m.add(names::CONNECTS, 2);
        totals.add(Function::Connect, &m.take());
        let text = totals.render();
        for line in [
            "# TYPE hermes_posts_delivered_total counter",
            "hermes_posts_delivered_total{function=\"send\"} 7",
            "hermes_posts_gone_total{function=\"send\"} 0",
            "# TYPE hermes_fanout_duration_milliseconds summary",
            "hermes_fanout_duration_milliseconds_sum{function=\"send\"} 20",
            "hermes_fanout_duration_milliseconds_count{function=\"send\"} 2",
            "hermes_connects_total{function=\"connect\"} 2",
            "hermes_allowed_total{function=\"authorizer\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("cold_start"));
        assert_eq!(totals.count(Function::Send, names::POSTS_DELIVERED), 7);
        // Every sample line: a name, optional labels, a number.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = l.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
            assert!(series.starts_with("hermes_") && series.ends_with("\"}"), "{l}");
        }
    }
}
