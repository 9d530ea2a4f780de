use hermes_core::events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (_, backends) = hermes_lambdas::setup().await?;
    let (connections, subscriptions) = (&*backends.connections, &*backends.subscriptions);
    run(service_fn(
        move |ev: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            let done = hermes_core::handlers::disconnect(connections, Some(subscriptions), &ev.payload).await;
            Ok::<ApiGatewayProxyResponse, Error>(done)
        },
    ))
    .await
}
