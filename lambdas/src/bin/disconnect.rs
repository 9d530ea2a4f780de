use hermes_core::events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (_, backends) = hermes_lambdas::setup().await?;
    let store = &*backends.connections;
    run(service_fn(
        move |ev: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<ApiGatewayProxyResponse, Error>(hermes_core::handlers::disconnect(store, &ev.payload).await)
        },
    ))
    .await
}
