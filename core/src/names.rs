//! Every name that crosses a boundary: environment variables, tables, attributes, the
//! room index, and the AWS actions each handler calls. This module is the one list: the SAM
//! template is checked against it (lambdas/tests/template.rs), the gem reads the environment
//! names from it (the extension exports `env::SETTINGS` as `Hermes::Native::SETTINGS`), and
//! the moto tables are created from the checked template (script/moto-bootstrap.py).

pub mod env {
    pub const JWT_SECRET: &str = "HERMES_JWT_SECRET";
    pub const PASSCODE: &str = "HERMES_PASSCODE";
    pub const TOKENS_TABLE: &str = "HERMES_TOKENS_TABLE";
    pub const CONNECTIONS_TABLE: &str = "HERMES_CONNECTIONS_TABLE";
    pub const QUEUE_URL: &str = "HERMES_QUEUE_URL";
    pub const TOKEN_TTL: &str = "HERMES_TOKEN_TTL";
    pub const BCRYPT_COST: &str = "HERMES_BCRYPT_COST";
    pub const WEBSOCKET_ENDPOINT: &str = "HERMES_WEBSOCKET_ENDPOINT";
    pub const AWS_ENDPOINT_URL: &str = "HERMES_AWS_ENDPOINT_URL";
    pub const BACKEND: &str = "HERMES_BACKEND";
    pub const LOCAL_URL: &str = "HERMES_LOCAL_URL";
    pub const AWS_REGION: &str = "AWS_REGION";
    pub const HISTORY_TABLE: &str = "HERMES_HISTORY_TABLE";
    pub const HISTORY_TTL: &str = "HERMES_HISTORY_TTL";
    pub const SUBSCRIPTIONS_TABLE: &str = "HERMES_SUBSCRIPTIONS_TABLE";
    pub const STREAM_HISTORY_TABLE: &str = "HERMES_STREAM_HISTORY_TABLE";
    /// A Secrets Manager secret (name or ARN) holding the JWT secret and passcode, read at run
    /// time instead of `JWT_SECRET`/`PASSCODE` (core/src/secrets.rs has its JSON).
    pub const SECRET_ID: &str = "HERMES_SECRET_ID";
    /// How long (seconds) a read of `SECRET_ID` is used before it is read again.
    pub const SECRET_TTL: &str = "HERMES_SECRET_TTL";
    /// Without `SECRET_ID`: the keys being rotated out, still accepted until removed.
    pub const PREVIOUS_JWT_SECRET: &str = "HERMES_PREVIOUS_JWT_SECRET";
    pub const PREVIOUS_PASSCODE: &str = "HERMES_PREVIOUS_PASSCODE";

    /// Every variable `Config` reads, with the name of the setting in Ruby
    /// (`Hermes.configure { |c| c.jwt_secret = ... }`). `Config::from_lookup` asks for exactly
    /// these (tested in config.rs).
    pub const SETTINGS: &[(&str, &str)] = &[
        ("jwt_secret", JWT_SECRET),
        ("passcode", PASSCODE),
        ("previous_jwt_secret", PREVIOUS_JWT_SECRET),
        ("previous_passcode", PREVIOUS_PASSCODE),
        ("secret_id", SECRET_ID),
        ("secret_ttl", SECRET_TTL),
        ("tokens_table", TOKENS_TABLE),
        ("connections_table", CONNECTIONS_TABLE),
        ("history_table", HISTORY_TABLE),
        ("history_ttl", HISTORY_TTL),
        ("subscriptions_table", SUBSCRIPTIONS_TABLE),
        ("stream_history_table", STREAM_HISTORY_TABLE),
        ("queue_url", QUEUE_URL),
        ("token_ttl", TOKEN_TTL),
        ("bcrypt_cost", BCRYPT_COST),
        ("websocket_endpoint", WEBSOCKET_ENDPOINT),
        ("aws_endpoint_url", AWS_ENDPOINT_URL),
        ("backend", BACKEND),
        ("local_url", LOCAL_URL),
        ("region", AWS_REGION),
    ];

    /// The settings whose values are secrets: never shown, logged or echoed in an error.
    pub const SECRETS: &[&str] = &[JWT_SECRET, PASSCODE, PREVIOUS_JWT_SECRET, PREVIOUS_PASSCODE];
}

/// Seed-compatible tokens table: `user_id` (S, hash) + `room_id` (S, range).
pub mod tokens {
    pub const DEFAULT_TABLE: &str = "hermesTokens";
    pub const USER_ID: &str = "user_id";
    pub const ROOM_ID: &str = "room_id";
    pub const TOKEN: &str = "token";
    pub const EXPIRES_AT: &str = "expires_at";
    /// During a passcode rotation: the seal the row held before, of the token composed with
    /// the previous passcode (S), and until when it is accepted (N).
    pub const PREVIOUS_TOKEN: &str = "previous_token";
    pub const PREVIOUS_EXPIRES_AT: &str = "previous_expires_at";
}

/// Connections table: `connection_id` (S, hash) and a GSI on `room_id` for fan-out.
pub mod connections {
    pub const DEFAULT_TABLE: &str = "hermesConnections";
    pub const CONNECTION_ID: &str = "connection_id";
    pub const ROOM_ID: &str = "room_id";
    pub const USER_ID: &str = "user_id";
    pub const CONNECTED_AT: &str = "connected_at";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const ROOM_INDEX: &str = "room_id-index";
    /// Until when (ms since 1970) the connection's recovery lease is held (N); absent until
    /// its first recovery.
    pub const RECOVERY_UNTIL: &str = "recovery_until";
    /// The streams the socket is subscribed to (SS); absent while it has none. `$disconnect`
    /// (and a 410) reads it back from the deleted row to delete the subscriptions it names.
    pub const STREAMS: &str = "streams";
    /// When the socket last changed its streams (N, ms since 1970): the rate of
    /// `subscribe`/`unsubscribe` is checked against it in the same conditional write.
    pub const SUBSCRIBED_AT: &str = "subscribed_at";
}

/// Subscriptions table: `stream` (S, hash) + `connection_id` (S, range), one item per socket
/// subscribed to a stream; fan-out to a stream is a Query on its key.
pub mod subscriptions {
    pub const DEFAULT_TABLE: &str = "hermesSubscriptions";
    pub const STREAM: &str = "stream";
    pub const CONNECTION_ID: &str = "connection_id";
    /// Absent for a socket of nobody.
    pub const USER_ID: &str = "user_id";
    pub const EXPIRES_AT: &str = "expires_at";
}

/// Stream history table: `stream` (S, hash) + `seq` (N, range), items shaped like the room
/// history's (the other attributes are `history`'s).
pub mod stream_history {
    pub const DEFAULT_TABLE: &str = "hermesStreamHistory";
    pub const STREAM: &str = "stream";
}

/// History table: `room_id` (S, hash) + `seq` (N, range). Per room, `seq > 0` holds the frames
/// as delivered, `seq = 0` the counter (`last_seq`, `epoch`), and `seq < 0` one claim per SQS
/// message id (so a redelivery finds the seq it already got).
pub mod history {
    pub const DEFAULT_TABLE: &str = "hermesHistory";
    pub const ROOM_ID: &str = "room_id";
    pub const SEQ: &str = "seq";
    /// The exact frame bytes posted (S); absent on a skip marker.
    pub const FRAME: &str = "frame";
    pub const TARGET_USER_ID: &str = "target_user_id";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const EPOCH: &str = "epoch";
    /// Counter item: the last seq handed out.
    pub const LAST_SEQ: &str = "last_seq";
    /// Counter item: when the last seq was handed out (ms).
    pub const UPDATED_AT: &str = "updated_at";
    /// Claim item: the SQS message id and the seq it was delivered at.
    pub const MESSAGE_ID: &str = "message_id";
    pub const MESSAGE_SEQ: &str = "message_seq";
    pub const DEFAULT_TTL_SECS: u64 = 86_400;
}

/// The WebSocket API's route keys besides `$connect`, `$disconnect` and `$default`: the
/// values of a client frame's `action` (`$request.body.action`), each routed to the send
/// function. The template's routes, hermes-local's route selection and the send function's
/// dispatch all come from this list.
pub mod routes {
    pub const SEND_MESSAGE: &str = "sendMessage";
    pub const RECOVER: &str = "recover";
    pub const PRESENCE: &str = "presence";
    pub const SUBSCRIBE: &str = "subscribe";
    pub const UNSUBSCRIBE: &str = "unsubscribe";
    pub const ALL: &[&str] = &[SEND_MESSAGE, RECOVER, PRESENCE, SUBSCRIBE, UNSUBSCRIBE];
}

pub const DEFAULT_QUEUE_NAME: &str = "hermes-messageQueue";

/// Where hermes-local listens by default, and so where the gem's `local` backend looks.
pub const DEFAULT_LOCAL_URL: &str = "http://127.0.0.1:3001";

/// The AWS actions each Lambda's code path calls; IAM in the template must grant exactly these.
pub mod iam {
    /// The authorizer reads the secret (its JWT keys) at run time, and so does the send
    /// function (the keys of signed stream names).
    pub const AUTHORIZER: &[&str] = &["dynamodb:GetItem", "secretsmanager:GetSecretValue"];
    pub const CONNECT: &[&str] = &["dynamodb:PutItem"];
    /// The connection's row (DeleteItem, returning the streams it held), then those
    /// subscriptions (BatchWriteItem).
    pub const DISCONNECT: &[&str] = &["dynamodb:DeleteItem", "dynamodb:BatchWriteItem"];
    /// Connections: GetItem for the sender's row, Query on the room index, DeleteItem for gone
    /// connections, UpdateItem for the recovery lease and the socket's streams. History and
    /// stream history: UpdateItem (the counter), PutItem (frames, claims), GetItem (claims,
    /// counter), Query (recover). Subscriptions: Query (a stream's subscribers), BatchWriteItem
    /// (subscribe, unsubscribe, gone sockets). ManageConnections to post and to close
    /// (revocation); the SQS actions are what the event source mapping needs, and SendMessage
    /// queues the rest of a room one invocation cannot finish (handlers/fanout).
    pub const SEND: &[&str] = &[
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "execute-api:ManageConnections",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:SendMessage",
        "secretsmanager:GetSecretValue",
    ];
    /// What the Rails side (the gem) calls, for the policy of the app's own IAM user/role:
    /// the tokens table (GetItem, PutItem, DeleteItem), GetItem of a room's counter in the
    /// history table (`Hermes.position`, embedded by the connect tag), Query on the
    /// connections' room index (`Hermes.presence`) and on the subscriptions table (a stream's
    /// presence), and SendMessage (notifications, and the
    /// disconnect records of `revoke_token`/`disconnect`: the app never needs
    /// ManageConnections). lambdas/tests/template.rs checks each action's table too.
    /// GetSecretValue: the keys, when the app reads them from the secret (HERMES_SECRET_ID).
    pub const GEM: &[&str] = &[
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "sqs:SendMessage",
        "secretsmanager:GetSecretValue",
    ];
}
