//! lambdas/template.yaml against the names the code uses (hermes_core::names): tables, keys,
//! index, TTL attribute, queue, env vars, routes, binaries and each function's IAM actions.
//! A rename on either side without the other fails here.

use std::collections::BTreeSet;

use hermes_core::names::{
    self, connections as C, env, history as H, iam, stream_history as SH, subscriptions as S, tokens as T,
};
use serde_yaml::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn res<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(!r.is_null(), "template has no resource {name}");
    r
}

/// A plain string, or what `!Ref X` names.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Tagged(t) => scalar(&t.value),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn param_default(t: &Value, v: &Value) -> String {
    let Value::Tagged(tag) = v else { return scalar(v) };
    assert_eq!(tag.tag.to_string(), "!Ref", "{v:?}");
    scalar(&t["Parameters"][scalar(&tag.value).as_str()]["Default"])
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(s) => s.iter().map(scalar).collect(),
        other => vec![scalar(other)],
    }
}

fn keys(schema: &Value) -> Vec<(String, String)> {
    schema
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| (scalar(&k["AttributeName"]), scalar(&k["KeyType"])))
        .collect()
}

#[test]
fn tables_match_the_stores() {
    let t = template();
    let tokens = &res(&t, "TokensTable")["Properties"];
    assert_eq!(param_default(&t, &tokens["TableName"]), T::DEFAULT_TABLE);
    assert_eq!(
        keys(&tokens["KeySchema"]),
        vec![
            (T::USER_ID.into(), "HASH".into()),
            (T::ROOM_ID.into(), "RANGE".into())
        ]
    );
    assert_eq!(
        scalar(&tokens["TimeToLiveSpecification"]["AttributeName"]),
        T::EXPIRES_AT
    );

    let conns = &res(&t, "ConnectionsTable")["Properties"];
    assert_eq!(param_default(&t, &conns["TableName"]), C::DEFAULT_TABLE);
    assert_eq!(
        keys(&conns["KeySchema"]),
        vec![(C::CONNECTION_ID.into(), "HASH".into())]
    );
    assert_eq!(
        scalar(&conns["TimeToLiveSpecification"]["AttributeName"]),
        C::EXPIRES_AT
    );
    let gsi = &conns["GlobalSecondaryIndexes"][0];
    assert_eq!(scalar(&gsi["IndexName"]), C::ROOM_INDEX);
    assert_eq!(
        keys(&gsi["KeySchema"]),
        vec![
            (C::ROOM_ID.into(), "HASH".into()),
            (C::CONNECTION_ID.into(), "RANGE".into())
        ]
    );
    assert!(
        strings(&gsi["Projection"]["NonKeyAttributes"]).contains(&C::USER_ID.to_owned()),
        "fan-out reads user_id from the index"
    );

    // The room history and the stream history: the same items, under another partition key.
    for (logical, table, key) in [
        ("HistoryTable", H::DEFAULT_TABLE, H::ROOM_ID),
        ("StreamHistoryTable", SH::DEFAULT_TABLE, SH::STREAM),
    ] {
        let history = &res(&t, logical)["Properties"];
        assert_eq!(param_default(&t, &history["TableName"]), table);
        assert_eq!(
            keys(&history["KeySchema"]),
            vec![(key.into(), "HASH".into()), (H::SEQ.into(), "RANGE".into())],
            "{logical}"
        );
        assert_eq!(
            attribute_types(history),
            vec![(key.into(), "S".into()), (H::SEQ.into(), "N".into())],
            "{logical}: seq is a number: recovery queries seq > since"
        );
        assert_eq!(
            scalar(&history["TimeToLiveSpecification"]["AttributeName"]),
            H::EXPIRES_AT,
            "{logical}"
        );
    }
    assert_eq!(
        t["Parameters"]["HistoryTtl"]["Default"].as_u64(),
        Some(H::DEFAULT_TTL_SECS)
    );

    let subs = &res(&t, "SubscriptionsTable")["Properties"];
    assert_eq!(param_default(&t, &subs["TableName"]), S::DEFAULT_TABLE);
    assert_eq!(
        keys(&subs["KeySchema"]),
        vec![
            (S::STREAM.into(), "HASH".into()),
            (S::CONNECTION_ID.into(), "RANGE".into())
        ]
    );
    assert_eq!(
        attribute_types(subs),
        vec![
            (S::STREAM.into(), "S".into()),
            (S::CONNECTION_ID.into(), "S".into())
        ]
    );
    assert_eq!(
        scalar(&subs["TimeToLiveSpecification"]["AttributeName"]),
        S::EXPIRES_AT
    );
    assert!(subs["GlobalSecondaryIndexes"].is_null(), "read by its key only");

    let q = &res(&t, "MessageQueue")["Properties"];
    assert_eq!(param_default(&t, &q["QueueName"]), names::DEFAULT_QUEUE_NAME);
}

fn attribute_types(table: &Value) -> Vec<(String, String)> {
    table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (scalar(&a["AttributeName"]), scalar(&a["AttributeType"])))
        .collect()
}

/// Every table is an output named as its logical id, described by the variable that takes
/// its name.
#[test]
fn every_table_is_an_output_for_its_variable() {
    let t = template();
    let tables: BTreeSet<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| scalar(&r["Type"]) == "AWS::DynamoDB::Table")
        .map(|(name, _)| scalar(name))
        .collect();
    let want = [
        ("TokensTable", env::TOKENS_TABLE),
        ("ConnectionsTable", env::CONNECTIONS_TABLE),
        ("HistoryTable", env::HISTORY_TABLE),
        ("SubscriptionsTable", env::SUBSCRIPTIONS_TABLE),
        ("StreamHistoryTable", env::STREAM_HISTORY_TABLE),
    ];
    assert_eq!(
        tables,
        want.iter().map(|(l, _)| l.to_string()).collect(),
        "the tables the code knows"
    );
    for (logical, var) in want {
        let out = &t["Outputs"][logical];
        assert_eq!(scalar(&out["Value"]), logical, "{logical}");
        assert_eq!(scalar(&out["Description"]), var, "{logical}");
    }
}

/// (action, resource) pairs of a list of statements, resources as written (`!GetAtt X.Arn`,
/// `!Sub "..."`).
fn grants(statements: &Value) -> BTreeSet<(String, String)> {
    statements
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let resources = strings(&s["Resource"]);
            strings(&s["Action"])
                .into_iter()
                .flat_map(move |a| resources.clone().into_iter().map(move |r| (a.clone(), r)))
        })
        .collect()
}

/// The (action, resource) pairs, written `(action, resource)`.
fn pairs(p: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    p.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect()
}

#[test]
fn each_table_grants_only_what_its_calls_need() {
    let t = template();
    let of = |logical: &str| grants(&function(&t, logical)["Properties"]["Policies"][0]["Statement"]);
    assert_eq!(
        of("AuthorizerFunction"),
        pairs(&[
            ("dynamodb:GetItem", "TokensTable.Arn"),
            ("secretsmanager:GetSecretValue", SECRET_ARN),
        ])
    );
    assert_eq!(
        of("ConnectFunction"),
        pairs(&[("dynamodb:PutItem", "ConnectionsTable.Arn")])
    );
    // The row's DeleteItem returns its streams; their subscriptions go in batches.
    assert_eq!(
        of("DisconnectFunction"),
        pairs(&[
            ("dynamodb:DeleteItem", "ConnectionsTable.Arn"),
            ("dynamodb:BatchWriteItem", "SubscriptionsTable.Arn"),
        ])
    );
    let send = of("SendFunction");
    let on = |resource: &str| -> BTreeSet<String> {
        send.iter()
            .filter(|(_, r)| r == resource)
            .map(|(a, _)| a.clone())
            .collect()
    };
    let history = set(&[
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
    ]);
    assert_eq!(on("HistoryTable.Arn"), history);
    assert_eq!(on("StreamHistoryTable.Arn"), history);
    assert_eq!(
        on("ConnectionsTable.Arn"),
        set(&["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"])
    );
    assert_eq!(
        on("${ConnectionsTable.Arn}/index/room_id-index"),
        set(&["dynamodb:Query"])
    );
    assert_eq!(
        on("SubscriptionsTable.Arn"),
        set(&["dynamodb:Query", "dynamodb:BatchWriteItem"])
    );
    assert!(
        on("TokensTable.Arn").is_empty(),
        "the send function never reads tokens"
    );
    assert_eq!(on(SECRET_ARN), set(&["secretsmanager:GetSecretValue"]));
    // The Rails app: tokens, the room index and the subscriptions (room and stream presence),
    // the queue, and only the counter read on the history (GetItem: a page's position at
    // render).
    let rails = grants(&res(&t, "RailsAppPolicy")["Properties"]["PolicyDocument"]["Statement"]);
    assert_eq!(
        rails,
        pairs(&[
            ("dynamodb:GetItem", "TokensTable.Arn"),
            ("dynamodb:PutItem", "TokensTable.Arn"),
            ("dynamodb:DeleteItem", "TokensTable.Arn"),
            ("dynamodb:GetItem", "HistoryTable.Arn"),
            ("dynamodb:Query", "${ConnectionsTable.Arn}/index/room_id-index"),
            ("dynamodb:Query", "SubscriptionsTable.Arn"),
            ("sqs:SendMessage", "MessageQueue.Arn"),
            ("secretsmanager:GetSecretValue", SECRET_ARN),
        ])
    );
}

/// The one secret the functions and the app may read: the stack's, by its name and the
/// suffix Secrets Manager appends to it in the ARN, never "*".
const SECRET_ARN: &str =
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretName}-??????";

fn function<'a>(t: &'a Value, logical: &str) -> &'a Value {
    let f = res(t, logical);
    assert_eq!(scalar(&f["Type"]), "AWS::Serverless::Function");
    f
}

fn env_names(f: &Value) -> BTreeSet<String> {
    f["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .map(|m| m.keys().map(scalar).collect())
        .unwrap_or_default()
}

fn actions(statements: &Value) -> BTreeSet<String> {
    statements
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .collect()
}

fn policy_actions(f: &Value) -> BTreeSet<String> {
    f["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|p| actions(&p["Statement"]))
        .collect()
}

fn set(a: &[&str]) -> BTreeSet<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn functions_get_exactly_the_env_and_actions_their_handlers_use() {
    let t = template();
    let cases: [(&str, &str, &[&str], &[&str]); 4] = [
        (
            "AuthorizerFunction",
            "authorizer",
            iam::AUTHORIZER,
            &[env::SECRET_ID, env::SECRET_TTL, env::TOKENS_TABLE],
        ),
        (
            "ConnectFunction",
            "connect",
            iam::CONNECT,
            &[env::CONNECTIONS_TABLE],
        ),
        (
            "DisconnectFunction",
            "disconnect",
            iam::DISCONNECT,
            &[env::CONNECTIONS_TABLE, env::SUBSCRIPTIONS_TABLE],
        ),
        (
            "SendFunction",
            "send",
            iam::SEND,
            &[
                env::SECRET_ID,
                env::SECRET_TTL,
                env::CONNECTIONS_TABLE,
                env::WEBSOCKET_ENDPOINT,
                env::HISTORY_TABLE,
                env::HISTORY_TTL,
                env::SUBSCRIPTIONS_TABLE,
                env::STREAM_HISTORY_TABLE,
                env::QUEUE_URL,
            ],
        ),
    ];
    let cargo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    for (logical, bin, want_actions, want_env) in cases {
        let f = function(&t, logical);
        assert_eq!(scalar(&f["Metadata"]["BuildMethod"]), "rust-cargolambda");
        assert_eq!(scalar(&f["Metadata"]["BuildProperties"]["Binary"]), bin);
        assert!(
            cargo.contains(&format!("name = \"{bin}\"")),
            "no [[bin]] {bin} in lambdas/Cargo.toml"
        );
        assert_eq!(
            policy_actions(f),
            set(want_actions),
            "{logical}: IAM actions differ from hermes_core::names::iam"
        );
        assert_eq!(env_names(f), set(want_env), "{logical}: env vars");
    }
    // The gem's policy for the Rails app's principal.
    let rails = &res(&t, "RailsAppPolicy")["Properties"]["PolicyDocument"]["Statement"];
    assert_eq!(actions(rails), set(iam::GEM));
}

#[test]
fn every_env_var_is_one_the_code_reads() {
    let t = template();
    let known: BTreeSet<String> = env::SETTINGS.iter().map(|(_, n)| n.to_string()).collect();
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        for var in env_names(r) {
            assert!(
                known.contains(&var),
                "{}: {var} is not read by hermes-core",
                scalar(name)
            );
        }
    }
}

#[test]
fn secrets_are_never_template_text() {
    let t = template();
    // The keys are read at run time, so a rotation needs no deploy: nothing resolves them
    // at deploy time, and no function is given one.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    assert!(!text.contains("{{resolve:"), "a value resolved at deploy time");
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        for secret in env::SECRETS {
            assert!(!env_names(r).contains(*secret), "{}: {secret}", scalar(name));
        }
    }
    for logical in ["AuthorizerFunction", "SendFunction"] {
        let vars = &function(&t, logical)["Properties"]["Environment"]["Variables"];
        assert_eq!(
            param_default(&t, &vars[env::SECRET_ID]),
            "hermes/secrets",
            "{logical}"
        );
        let Value::Tagged(ttl) = &vars[env::SECRET_TTL] else {
            panic!("{logical}: {} is not a !Ref", env::SECRET_TTL)
        };
        assert_eq!(scalar(&ttl.value), "SecretTtl", "{logical}");
        assert_eq!(t["Parameters"]["SecretTtl"]["Default"].as_u64(), Some(300));
    }
    for (_, p) in t["Parameters"].as_mapping().unwrap() {
        assert!(
            p["NoEcho"].is_null(),
            "no NoEcho parameters: secrets come from Secrets Manager"
        );
    }
}

#[test]
fn routes_authorizer_and_queue_follow_the_spec() {
    let t = template();
    let api = &res(&t, "WebSocketApi")["Properties"];
    assert_eq!(scalar(&api["ProtocolType"]), "WEBSOCKET");
    assert_eq!(scalar(&api["RouteSelectionExpression"]), "$request.body.action");
    let auth = &res(&t, "Authorizer")["Properties"];
    assert_eq!(scalar(&auth["AuthorizerType"]), "REQUEST");
    assert_eq!(
        strings(&auth["IdentitySource"]),
        vec!["route.request.querystring.token"]
    );

    let routes: BTreeSet<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| scalar(&r["Type"]) == "AWS::ApiGatewayV2::Route")
        .map(|r| scalar(&r["Properties"]["RouteKey"]))
        .collect();
    let mut want = set(&["$connect", "$disconnect", "$default"]);
    want.extend(set(names::routes::ALL));
    assert_eq!(routes, want);
    // Every route but $connect/$disconnect goes to the send function, and the deployment
    // waits for all of them.
    for r in [
        "SendMessageRoute",
        "DefaultRoute",
        "RecoverRoute",
        "PresenceRoute",
        "SubscribeRoute",
        "UnsubscribeRoute",
    ] {
        assert_eq!(
            scalar(&res(&t, r)["Properties"]["Target"]),
            "integrations/${SendIntegration}",
            "{r}"
        );
        assert!(
            strings(&res(&t, "Deployment")["DependsOn"]).contains(&r.to_owned()),
            "Deployment must depend on {r}"
        );
    }
    assert_eq!(
        scalar(&res(&t, "ConnectRoute")["Properties"]["AuthorizationType"]),
        "CUSTOM"
    );

    let send = function(&t, "SendFunction");
    let ev = &send["Properties"]["Events"]["Queue"]["Properties"];
    assert_eq!(
        strings(&ev["FunctionResponseTypes"]),
        vec!["ReportBatchItemFailures"]
    );
    let timeout = send["Properties"]["Timeout"].as_u64().unwrap();
    let q = &res(&t, "MessageQueue")["Properties"];
    assert!(
        q["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout,
        "visibility >= 6 x send timeout"
    );
    assert!(!q["RedrivePolicy"]["deadLetterTargetArn"].is_null(), "a DLQ");

    // ManageConnections is scoped to this API's stage, not "*": POST (post) and DELETE
    // (close a revoked user's socket), nothing else.
    let manage = &send["Properties"]["Policies"][0]["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| strings(&s["Action"]) == vec!["execute-api:ManageConnections"])
        .unwrap()["Resource"];
    let arns = strings(manage);
    assert_eq!(arns.len(), 2, "{arns:?}");
    for (arn, method) in arns.iter().zip(["POST", "DELETE"]) {
        assert!(
            arn.contains(&format!("${{WebSocketApi}}/${{Stage}}/{method}/@connections/")),
            "{arn}"
        );
    }
}

/// A value as the checks compare it: `!Ref X` is `ref:X`, `!GetAtt X.Y` is `getatt:X.Y`, and
/// so are `${X}` and `${X.Y}` in a `!Sub` text (the dashboard's body); plain text as it is.
fn reference(v: &Value) -> String {
    match v {
        Value::Tagged(t) if t.tag == "!Ref" => format!("ref:{}", scalar(&t.value)),
        Value::Tagged(t) if t.tag == "!GetAtt" => format!("getatt:{}", scalar(&t.value)),
        other => substituted(&scalar(other)),
    }
}

fn substituted(s: &str) -> String {
    match s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(inner) if inner.contains('.') => format!("getatt:{inner}"),
        Some(inner) => format!("ref:{inner}"),
        None => s.to_owned(),
    }
}

/// A metric an alarm or a widget shows: namespace, name, dimensions (as `reference` writes
/// them), in order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Watched {
    namespace: String,
    name: String,
    dimensions: Vec<(String, String)>,
}

fn resources_of<'a>(t: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| scalar(&r["Type"]) == kind)
        .map(|(n, r)| (scalar(n), r))
        .collect()
}

/// Whether something emits `w`: the functions' own metrics (hermes_core::metrics, in the
/// stack's namespace, with the Stage and Function dimensions), or Lambda's, SQS's and the
/// WebSocket API's for a resource of this stack. `None` when it does; else why not.
fn not_emitted(t: &Value, w: &Watched) -> Option<String> {
    use hermes_core::metrics::emf::{FUNCTION_DIMENSION, STAGE_DIMENSION};
    use hermes_core::metrics::Function;
    let of_kind =
        |kind: &str| -> BTreeSet<String> { resources_of(t, kind).into_iter().map(|(n, _)| n).collect() };
    let dims: Vec<(&str, &str)> = w
        .dimensions
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    match w.namespace.as_str() {
        "ref:MetricsNamespace" => {
            let [(STAGE_DIMENSION, "ref:Stage"), (FUNCTION_DIMENSION, function)] = dims[..] else {
                return Some(format!(
                    "dimensions {dims:?}: the functions' metrics have Stage and Function"
                ));
            };
            let Some(f) = Function::ALL.iter().find(|f| f.as_str() == function) else {
                return Some(format!("no function {function}"));
            };
            (!f.metrics().any(|m| m.name == w.name))
                .then(|| format!("the {function} function emits no {}", w.name))
        }
        "AWS/Lambda" => {
            const LAMBDA: &[&str] = &[
                "Errors",
                "Throttles",
                "Duration",
                "Invocations",
                "ConcurrentExecutions",
            ];
            let functions = of_kind("AWS::Serverless::Function");
            match dims[..] {
                [("FunctionName", f)] if f.strip_prefix("ref:").is_some_and(|f| functions.contains(f)) => {
                    (!LAMBDA.contains(&w.name.as_str())).then(|| format!("Lambda has no metric {}", w.name))
                }
                _ => Some(format!(
                    "dimensions {dims:?}: FunctionName of a function of this stack"
                )),
            }
        }
        "AWS/SQS" => {
            const SQS: &[&str] = &[
                "ApproximateNumberOfMessagesVisible",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateAgeOfOldestMessage",
                "NumberOfMessagesSent",
                "NumberOfMessagesReceived",
                "NumberOfMessagesDeleted",
            ];
            let queues = of_kind("AWS::SQS::Queue");
            match dims[..] {
                [("QueueName", q)]
                    if q.strip_prefix("getatt:")
                        .and_then(|q| q.strip_suffix(".QueueName"))
                        .is_some_and(|q| queues.contains(q)) =>
                {
                    (!SQS.contains(&w.name.as_str())).then(|| format!("SQS has no metric {}", w.name))
                }
                _ => Some(format!("dimensions {dims:?}: QueueName of a queue of this stack")),
            }
        }
        "AWS/ApiGateway" => {
            // A WebSocket API's metrics (a REST API's have other names and dimensions).
            const WEBSOCKET: &[&str] = &[
                "ConnectCount",
                "MessageCount",
                "IntegrationError",
                "ClientError",
                "ExecutionError",
                "IntegrationLatency",
            ];
            match dims[..] {
                [("ApiId", "ref:WebSocketApi"), ("Stage", "ref:Stage")] => (!WEBSOCKET
                    .contains(&w.name.as_str()))
                .then(|| format!("a WebSocket API has no metric {}", w.name)),
                _ => Some(format!("dimensions {dims:?}: the API and its stage")),
            }
        }
        other => Some(format!("namespace {other}")),
    }
}

fn watched_in_alarm(a: &Value) -> Vec<Watched> {
    let one = |m: &Value| Watched {
        namespace: reference(&m["Namespace"]),
        name: scalar(&m["MetricName"]),
        dimensions: m["Dimensions"]
            .as_sequence()
            .map(|d| {
                d.iter()
                    .map(|d| (scalar(&d["Name"]), reference(&d["Value"])))
                    .collect()
            })
            .unwrap_or_default(),
    };
    match a["Metrics"].as_sequence() {
        Some(ms) => ms
            .iter()
            .filter(|m| !m["MetricStat"].is_null())
            .map(|m| one(&m["MetricStat"]["Metric"]))
            .collect(),
        None => vec![one(a)],
    }
}

#[test]
fn every_alarm_watches_a_metric_something_emits_and_notifies_the_topic() {
    let t = template();
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 17, "{} alarms", alarms.len());
    let mut watched = BTreeSet::new();
    for (name, a) in &alarms {
        let p = &a["Properties"];
        let metrics = watched_in_alarm(p);
        assert!(!metrics.is_empty(), "{name}");
        for w in metrics {
            if let Some(why) = not_emitted(&t, &w) {
                panic!("{name}: {w:?}: {why}");
            }
            watched.insert((w.namespace, w.name));
        }
        for key in ["AlarmActions", "OKActions"] {
            let Value::Tagged(tag) = &p[key] else {
                panic!("{name}: {key} is !If")
            };
            assert_eq!(tag.tag.to_string(), "!If", "{name}");
            let args = tag.value.as_sequence().unwrap();
            assert_eq!(scalar(&args[0]), "HasAlarmTopic", "{name}");
            assert_eq!(strings(&args[1]), ["AlarmTopicArn"], "{name}");
            assert_eq!(scalar(&args[2]), "AWS::NoValue", "{name}");
        }
        assert_eq!(scalar(&p["TreatMissingData"]), "notBreaching", "{name}");
    }
    // What the issue asks to be alarmed on.
    for (ns, metric) in [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/ApiGateway", "IntegrationError"),
        ("AWS/ApiGateway", "ExecutionError"),
        ("ref:MetricsNamespace", "PostsFailed"),
        ("ref:MetricsNamespace", "PostsGone"),
        ("ref:MetricsNamespace", "PostsDelivered"),
    ] {
        assert!(
            watched.contains(&(ns.to_owned(), metric.to_owned())),
            "no alarm on {ns} {metric}"
        );
    }
    let dlq = &res(&t, "DeadLetterQueueAlarm")["Properties"];
    assert_eq!(
        watched_in_alarm(dlq)[0].dimensions,
        [(
            "QueueName".to_owned(),
            "getatt:DeadLetterQueue.QueueName".to_owned()
        )]
    );
    assert_eq!(
        (dlq["Threshold"].as_u64(), scalar(&dlq["ComparisonOperator"])),
        (Some(1), "GreaterThanOrEqualToThreshold".to_owned())
    );
    assert_eq!(
        reference(&res(&t, "QueueAgeAlarm")["Properties"]["Threshold"]),
        "ref:QueueAgeAlarmSeconds"
    );
}

#[test]
fn each_function_has_error_throttle_and_duration_alarms_at_80_percent_of_its_timeout() {
    let t = template();
    let default_timeout = t["Globals"]["Function"]["Timeout"].as_u64().unwrap();
    for (logical, f) in resources_of(&t, "AWS::Serverless::Function") {
        let timeout_ms = f["Properties"]["Timeout"].as_u64().unwrap_or(default_timeout) * 1000;
        let on = |metric: &str| -> Vec<&Value> {
            resources_of(&t, "AWS::CloudWatch::Alarm")
                .into_iter()
                .map(|(_, a)| &a["Properties"])
                .filter(|p| {
                    watched_in_alarm(p).iter().any(|w| {
                        w.namespace == "AWS/Lambda"
                            && w.name == metric
                            && w.dimensions == [("FunctionName".to_owned(), format!("ref:{logical}"))]
                    })
                })
                .collect()
        };
        assert_eq!(on("Errors").len(), 1, "{logical}: Errors");
        assert_eq!(on("Throttles").len(), 1, "{logical}: Throttles");
        let duration = on("Duration");
        assert_eq!(duration.len(), 1, "{logical}: Duration");
        assert_eq!(
            duration[0]["Threshold"].as_u64(),
            Some(timeout_ms * 8 / 10),
            "{logical}: 80% of {timeout_ms} ms"
        );
        assert_eq!(scalar(&duration[0]["Statistic"]), "Maximum");
    }
}

#[test]
fn the_dashboard_shows_the_hermes_metrics_beside_the_apis() {
    let t = template();
    let body = &res(&t, "Dashboard")["Properties"]["DashboardBody"];
    let Value::Tagged(sub) = body else {
        panic!("DashboardBody is a !Sub")
    };
    let body: serde_json::Value = serde_json::from_str(&scalar(&sub.value)).expect("the body is JSON");
    let mut shown = BTreeSet::new();
    for widget in body["widgets"].as_array().unwrap() {
        let props = &widget["properties"];
        assert_eq!(props["region"], "${AWS::Region}");
        for m in props["metrics"].as_array().unwrap() {
            let parts: Vec<&str> = m.as_array().unwrap().iter().filter_map(|p| p.as_str()).collect();
            let w = Watched {
                namespace: substituted(parts[0]),
                name: parts[1].to_owned(),
                dimensions: parts[2..]
                    .chunks(2)
                    .map(|kv| (kv[0].to_owned(), substituted(kv[1])))
                    .collect(),
            };
            if let Some(why) = not_emitted(&t, &w) {
                panic!("widget {}: {w:?}: {why}", props["title"]);
            }
            shown.insert(w.name);
        }
    }
    // Every metric of the send function, and the API's connections and messages.
    for m in hermes_core::metrics::Function::Send.metrics() {
        assert!(shown.contains(m.name), "the dashboard does not show {}", m.name);
    }
    for name in [
        "ConnectCount",
        "MessageCount",
        "Allowed",
        "Connects",
        "Disconnects",
    ] {
        assert!(shown.contains(name), "the dashboard does not show {name}");
    }
}

#[test]
fn functions_log_to_groups_kept_log_retention_days_and_print_their_metrics_settings() {
    use hermes_core::metrics::emf::{NAMESPACE_ENV, STAGE_ENV};
    let t = template();
    for (logical, f) in resources_of(&t, "AWS::Serverless::Function") {
        let group = reference(&f["Properties"]["LoggingConfig"]["LogGroup"]);
        let group = group
            .strip_prefix("ref:")
            .unwrap_or_else(|| panic!("{logical}: {group}"));
        let g = res(&t, group);
        assert_eq!(scalar(&g["Type"]), "AWS::Logs::LogGroup", "{logical}");
        assert_eq!(
            reference(&g["Properties"]["RetentionInDays"]),
            "ref:LogRetentionDays",
            "{logical}"
        );
    }
    let globals = &t["Globals"]["Function"];
    let vars = &globals["Environment"]["Variables"];
    let names: BTreeSet<String> = vars.as_mapping().unwrap().keys().map(scalar).collect();
    assert_eq!(
        names,
        set(&[NAMESPACE_ENV, STAGE_ENV]),
        "the globals' variables are the metrics' two"
    );
    assert_eq!(reference(&vars[NAMESPACE_ENV]), "ref:MetricsNamespace");
    assert_eq!(reference(&vars[STAGE_ENV]), "ref:Stage");
    assert_eq!(reference(&globals["Tracing"]), "ref:Tracing");
    let tracing = &t["Parameters"]["Tracing"];
    assert_eq!(scalar(&tracing["Default"]), "Disabled");
    assert!(strings(&tracing["AllowedValues"]).contains(&"Active".to_owned()));
    // Every test here builds and runs x86_64; arm64 stays possible.
    let arch = &t["Parameters"]["Architecture"];
    assert_eq!(scalar(&arch["Default"]), "x86_64");
    assert_eq!(strings(&arch["AllowedValues"]), ["x86_64", "arm64"]);
    assert_eq!(
        scalar(&t["Parameters"]["MetricsNamespace"]["Default"]),
        hermes_core::metrics::emf::DEFAULT_NAMESPACE
    );
}
