//! The four handlers, as library functions over the store/pusher traits. The Lambda
//! binaries and the local gateway call these very functions.

pub mod authorize;
pub mod connect;
pub mod deadline;
pub mod fanout;
pub mod presence;
pub mod recover;
pub mod send;

pub use authorize::{Authorizer, Decision, DenyReason};
pub use connect::{connect, connect_measured, disconnect, disconnect_measured};
pub use presence::presence;
pub use recover::{recover, Recovery};
pub use send::{SendEvent, Sender};

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body;

pub(crate) fn response(status: i64, body: &str) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status;
    r.body = Some(Body::Text(body.to_owned()));
    r
}
