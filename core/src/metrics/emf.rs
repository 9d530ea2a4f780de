//! CloudWatch Embedded Metric Format: one JSON line per invocation, which CloudWatch Logs turns
//! into metrics as it ingests the function's log.
//!
//! ```json
//! {"_aws": {"Timestamp": 1767225600000,
//!           "CloudWatchMetrics": [{"Namespace": "Hermes", "Dimensions": [["Stage", "Function"]],
//!                                  "Metrics": [{"Name": "PostsDelivered", "Unit": "Count"}, ...]}]},
//!  "Stage": "production", "Function": "send",
//!  "PostsDelivered": 900, "FanoutDuration": [41.5, 12.0], ..., "RequestId": "..."}
//! ```
//!
//! What the specification asks, and how it is met here: the `_aws` member with a millisecond
//! `Timestamp` and one metric directive; every dimension named in `Dimensions` is a string
//! member of the root; every metric named in `Metrics` is a member whose value is a number or
//! an array of at most 100 numbers; at most 100 metrics per directive and 30 dimensions per
//! set. Other members (request and message ids) are properties: searchable in the log, not
//! metrics. Dimensions are only the stage and the function, so the number of metric streams
//! (and their cost) does not grow with rooms, users or requests.
//!
//! The metric crate `metrics_cloudwatch_embedded` was considered: it records through the
//! `metrics` facade's one global recorder, while hermes-local runs the four handlers in one
//! process, many invocations at once, and the tests need each invocation's own numbers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::{names, Function, Metrics, Recorded};

/// The environment variable naming the CloudWatch namespace (the template's `MetricsNamespace`).
pub const NAMESPACE_ENV: &str = "HERMES_METRICS_NAMESPACE";
/// The environment variable holding the stage (the `Stage` dimension's value).
pub const STAGE_ENV: &str = "HERMES_STAGE";
pub const DEFAULT_NAMESPACE: &str = "Hermes";
/// The `Stage` dimension when `HERMES_STAGE` is not set (a function run outside the template).
pub const DEFAULT_STAGE: &str = "default";

/// The dimension names, in the order of the one dimension set.
pub const STAGE_DIMENSION: &str = "Stage";
pub const FUNCTION_DIMENSION: &str = "Function";

/// EMF's limits.
pub const MAX_METRICS: usize = 100;
pub const MAX_VALUES: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetricsConfigError {
    #[error(
        "{NAMESPACE_ENV} {0:?} is not a CloudWatch namespace: 1 to 255 of letters, digits and . - _ / # : or space, not starting with AWS/"
    )]
    Namespace(String),
    #[error("{STAGE_ENV} {0:?} is not a dimension value: 1 to 1024 characters, not only spaces")]
    Stage(String),
}

/// Makes one function's documents: the namespace and the two dimensions, fixed for the
/// process, and whether the next document is the process's first (its cold start).
#[derive(Debug)]
pub struct Emf {
    namespace: String,
    stage: String,
    function: Function,
    cold: AtomicBool,
}

impl Emf {
    pub fn new(namespace: &str, stage: &str, function: Function) -> Result<Self, MetricsConfigError> {
        let ns_ok = !namespace.is_empty()
            && namespace.len() <= 255
            && !namespace.starts_with("AWS/")
            && namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
            && !namespace.trim().is_empty();
        if !ns_ok {
            return Err(MetricsConfigError::Namespace(namespace.to_owned()));
        }
        if stage.trim().is_empty() || stage.chars().count() > 1024 {
            return Err(MetricsConfigError::Stage(stage.to_owned()));
        }
        Ok(Emf {
            namespace: namespace.to_owned(),
            stage: stage.to_owned(),
            function,
            cold: AtomicBool::new(true),
        })
    }

    /// From `HERMES_METRICS_NAMESPACE` and `HERMES_STAGE`, with their defaults when unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        function: Function,
    ) -> Result<Self, MetricsConfigError> {
        let namespace = lookup(NAMESPACE_ENV).unwrap_or_else(|| DEFAULT_NAMESPACE.into());
        let stage = lookup(STAGE_ENV).unwrap_or_else(|| DEFAULT_STAGE.into());
        Self::new(&namespace, &stage, function)
    }

    pub fn from_env(function: Function) -> Result<Self, MetricsConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok(), function)
    }

    pub fn function(&self) -> Function {
        self.function
    }

    /// The invocation's document, taking what `metrics` recorded; `ColdStart` is 1 in the
    /// process's first.
    pub fn next_document(&self, metrics: &Metrics) -> String {
        let cold = self.cold.swap(false, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        self.document(&metrics.take(), now, cold)
    }

    /// Prints the invocation's document on stdout, where Lambda's log goes: one line, written
    /// at once, so the JSON log lines around it stay whole.
    pub fn print(&self, metrics: &Metrics) {
        use std::io::Write;
        let mut line = self.next_document(metrics);
        line.push('\n');
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }

    /// One document: every counter of the function (zeros included), the samples recorded,
    /// and the properties.
    pub fn document(&self, r: &Recorded, timestamp_ms: u64, cold: bool) -> String {
        let mut root = Map::new();
        let mut defs = Vec::new();
        for m in self.function.counters() {
            let v = if *m == names::COLD_START {
                u64::from(cold)
            } else {
                r.counts.get(m).copied().unwrap_or(0)
            };
            defs.push(json!({"Name": m.name, "Unit": m.unit.as_str()}));
            root.insert(m.name.to_owned(), json!(v));
        }
        // Counted, though not one of the function's: still emitted rather than lost.
        for (m, v) in &r.counts {
            if !root.contains_key(m.name) {
                defs.push(json!({"Name": m.name, "Unit": m.unit.as_str()}));
                root.insert(m.name.to_owned(), json!(v));
            }
        }
        let mut dropped = Map::new();
        for (m, values) in &r.samples {
            if values.is_empty() || root.contains_key(m.name) {
                continue;
            }
            // A batch has at most 10 records; more values than EMF takes are dropped, and
            // said so, rather than split into a second document.
            let kept = &values[..values.len().min(MAX_VALUES)];
            if values.len() > kept.len() {
                dropped.insert(m.name.to_owned(), json!(values.len() - kept.len()));
            }
            defs.push(json!({"Name": m.name, "Unit": m.unit.as_str()}));
            let value = match kept {
                [one] => json!(one),
                many => json!(many),
            };
            root.insert(m.name.to_owned(), value);
        }
        defs.truncate(MAX_METRICS);
        root.insert(STAGE_DIMENSION.into(), json!(self.stage));
        root.insert(FUNCTION_DIMENSION.into(), json!(self.function.as_str()));
        for (k, v) in &r.properties {
            if k == "_aws" || root.contains_key(k) {
                tracing::warn!(
                    property = k,
                    "a metrics property named like a metric or dimension: left out"
                );
                continue;
            }
            root.insert(k.clone(), v.clone());
        }
        if !dropped.is_empty() {
            root.insert("DroppedSamples".into(), Value::Object(dropped));
        }
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [[STAGE_DIMENSION, FUNCTION_DIMENSION]],
                    "Metrics": defs,
                }],
            }),
        );
        Value::Object(root).to_string()
    }
}

/// A document read back: what a test (or a log reader) checks the output against.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub namespace: String,
    /// Dimension name to value, for the one dimension set.
    pub dimensions: Vec<(String, String)>,
    /// Each metric's values (one for a number, several for an array), and its unit.
    pub values: std::collections::BTreeMap<String, Vec<f64>>,
    pub units: std::collections::BTreeMap<String, String>,
    /// The members that are neither metrics, dimensions nor `_aws`.
    pub properties: Map<String, Value>,
}

impl Read {
    /// A metric's one value (its sum, for an array).
    pub fn value(&self, name: &str) -> Option<f64> {
        self.values.get(name).map(|v| v.iter().sum())
    }
}

/// Reads a line as an EMF document, checking what the specification requires: `_aws` with a
/// millisecond `Timestamp` and metric directives, each with a `Namespace`, dimension sets of at
/// most 30 names that are string members of the root, and at most 100 metric definitions whose
/// members are numbers or arrays of 1 to 100 numbers.
pub fn read(line: &str) -> Result<Read, String> {
    if line.trim_end_matches('\n').contains('\n') {
        return Err("a document is one line".into());
    }
    let root: Map<String, Value> =
        serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("_aws.Timestamp is not a number of milliseconds")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    let [d] = directives.as_slice() else {
        return Err(format!(
            "{} metric directives; Hermes writes one",
            directives.len()
        ));
    };
    let namespace = d
        .get("Namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("no Namespace")?
        .to_owned();
    let sets = d
        .get("Dimensions")
        .and_then(Value::as_array)
        .ok_or("no Dimensions")?;
    let [set] = sets.as_slice() else {
        return Err(format!("{} dimension sets; Hermes writes one", sets.len()));
    };
    let set = set.as_array().ok_or("a dimension set is not an array")?;
    if set.len() > 30 {
        return Err(format!("{} dimensions in a set; at most 30", set.len()));
    }
    let mut dimensions = Vec::new();
    for name in set {
        let name = name.as_str().ok_or("a dimension name is not a string")?;
        let value = root
            .get(name)
            .and_then(Value::as_str)
            .ok_or(format!("dimension {name} is not a string member"))?;
        dimensions.push((name.to_owned(), value.to_owned()));
    }
    let defs = d.get("Metrics").and_then(Value::as_array).ok_or("no Metrics")?;
    if defs.len() > MAX_METRICS {
        return Err(format!(
            "{} metrics in a directive; at most {MAX_METRICS}",
            defs.len()
        ));
    }
    let mut values = std::collections::BTreeMap::new();
    let mut units = std::collections::BTreeMap::new();
    for def in defs {
        let name = def
            .get("Name")
            .and_then(Value::as_str)
            .ok_or("a metric without a Name")?;
        let unit = def.get("Unit").and_then(Value::as_str).unwrap_or("None");
        let nums = match root.get(name) {
            Some(Value::Number(n)) => vec![n.as_f64().ok_or("not a number")?],
            Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_VALUES => a
                .iter()
                .map(|v| v.as_f64().ok_or(format!("{name}: {v} is not a number")))
                .collect::<Result<_, _>>()?,
            Some(Value::Array(a)) => return Err(format!("{name}: {} values; 1 to {MAX_VALUES}", a.len())),
            other => return Err(format!("{name}: {other:?} is not a metric value")),
        };
        if values.insert(name.to_owned(), nums).is_some() {
            return Err(format!("{name} defined twice"));
        }
        units.insert(name.to_owned(), unit.to_owned());
    }
    let properties = root
        .into_iter()
        .filter(|(k, _)| k != "_aws" && !values.contains_key(k) && !dimensions.iter().any(|(d, _)| d == k))
        .collect();
    Ok(Read {
        namespace,
        dimensions,
        values,
        units,
        properties,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_document_follows_the_specification() {
        let emf = Emf::new("Hermes/prod", "production", Function::Send).unwrap();
        let m = Metrics::new();
        m.add(names::POSTS_DELIVERED, 900);
        m.add(names::POSTS_GONE, 100);
        m.sample(names::FANOUT_DURATION, 41.5);
        m.sample(names::FANOUT_DURATION, 12.0);
        m.sample(names::NOTIFICATION_AGE, 250.0);
        m.property("RequestId", "req-1");
        m.property("MessageIds", json!(["a", "b"]));
        let doc = emf.document(&m.take(), 1_767_225_600_000, true);
        let r = read(&doc).unwrap();
        let root: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(root["_aws"]["Timestamp"], 1_767_225_600_000u64);
        assert_eq!(r.namespace, "Hermes/prod");
        assert_eq!(
            r.dimensions,
            [
                ("Stage".into(), "production".into()),
                ("Function".into(), "send".into())
            ]
        );
        assert_eq!(r.values["PostsDelivered"], [900.0]);
        assert_eq!(r.values["PostsGone"], [100.0]);
        assert_eq!(
            r.values["PostsFailed"],
            [0.0],
            "every counter of the function, zeros included"
        );
        assert_eq!(r.values["ColdStart"], [1.0]);
        assert_eq!(root["FanoutDuration"], json!([41.5, 12.0]));
        assert_eq!(root["NotificationAge"], json!(250.0), "one value: a number");
        assert_eq!(
            r.properties,
            json!({"RequestId": "req-1", "MessageIds": ["a", "b"]})
                .as_object()
                .unwrap()
                .clone()
        );
        let names: BTreeSet<&str> = r.values.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = Function::Send.metrics().map(|m| m.name).collect();
        assert_eq!(names, want);
        for m in Function::Send.metrics() {
            assert_eq!(r.units[m.name], m.unit.as_str(), "{}", m.name);
        }
        assert_eq!(r.units["NotificationAge"], "Milliseconds");
    }

    #[test]
    fn only_the_first_document_of_a_process_is_a_cold_start() {
        let emf = Emf::new("Hermes", "dev", Function::Connect).unwrap();
        let m = Metrics::new();
        m.add(names::CONNECTS, 1);
        let first = read(&emf.next_document(&m)).unwrap();
        assert_eq!(
            (first.value("ColdStart"), first.value("Connects")),
            (Some(1.0), Some(1.0))
        );
        let second = read(&emf.next_document(&m)).unwrap();
        assert_eq!(
            (second.value("ColdStart"), second.value("Connects")),
            (Some(0.0), Some(0.0)),
            "what was printed is not counted again"
        );
    }

    #[test]
    fn more_values_than_emf_takes_are_dropped_and_said_so() {
        let emf = Emf::new("Hermes", "dev", Function::Send).unwrap();
        let m = Metrics::new();
        for i in 0..130 {
            m.sample(names::FANOUT_DURATION, f64::from(i));
        }
        let r = read(&emf.document(&m.take(), 1, false)).unwrap();
        assert_eq!(r.values["FanoutDuration"].len(), 100);
        assert_eq!(r.properties["DroppedSamples"], json!({"FanoutDuration": 30}));
    }

    #[test]
    fn properties_cannot_overwrite_metrics_or_dimensions() {
        let emf = Emf::new("Hermes", "dev", Function::Connect).unwrap();
        let m = Metrics::new();
        m.add(names::CONNECTS, 1);
        m.property("Connects", "x");
        m.property("Stage", "x");
        m.property("_aws", "x");
        m.property("ConnectionId", "abc=");
        let r = read(&emf.document(&m.take(), 1, false)).unwrap();
        assert_eq!(r.value("Connects"), Some(1.0));
        assert_eq!(r.dimensions[0], ("Stage".into(), "dev".into()));
        assert_eq!(
            r.properties,
            json!({"ConnectionId": "abc="}).as_object().unwrap().clone()
        );
    }

    #[test]
    fn the_reader_refuses_what_the_specification_forbids() {
        let ok = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["S"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"S":"x","M":1}"#;
        assert!(read(ok).is_ok());
        for (bad, why) in [
            (ok.replace(r#""Timestamp":1"#, r#""Timestamp":"1""#), "Timestamp"),
            (ok.replace(r#""S":"x""#, r#""S":1"#), "dimension S"),
            (ok.replace(r#""M":1"#, r#""M":"1""#), "not a metric value"),
            (ok.replace(r#""M":1"#, r#""M":[]"#), "1 to 100"),
            (ok.replace(r#","M":1"#, ""), "not a metric value"),
            (ok.replace(r#""Namespace":"N","#, ""), "Namespace"),
        ] {
            let e = read(&bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let many = format!(
            r#"{{"_aws":{{"Timestamp":1,"CloudWatchMetrics":[{{"Namespace":"N","Dimensions":[[]],"Metrics":[{{"Name":"M"}}]}}]}},"M":[{}]}}"#,
            vec!["1"; 101].join(",")
        );
        assert!(read(&many).unwrap_err().contains("101 values"));
    }

    #[test]
    fn bad_namespaces_and_stages_are_refused_by_name() {
        for ns in ["", "AWS/Lambda", "a\"b", &"n".repeat(256), "  "] {
            let e = Emf::new(ns, "dev", Function::Send).unwrap_err();
            assert!(e.to_string().contains(NAMESPACE_ENV), "{e}");
        }
        assert!(Emf::new("Hermes", " ", Function::Send)
            .unwrap_err()
            .to_string()
            .contains(STAGE_ENV));
        let emf = Emf::from_lookup(|_| None, Function::Send).unwrap();
        let r = read(&emf.document(&Recorded::default(), 1, false)).unwrap();
        assert_eq!(r.namespace, DEFAULT_NAMESPACE);
        assert_eq!(r.dimensions[0].1, DEFAULT_STAGE);
    }
}
