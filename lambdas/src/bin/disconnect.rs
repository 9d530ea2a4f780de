use hermes_core::events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use hermes_core::metrics::Function;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (_, backends) = hermes_lambdas::setup().await?;
    let emf = &hermes_lambdas::emf(Function::Disconnect)?;
    let (connections, subscriptions) = (&*backends.connections, &*backends.subscriptions);
    run(service_fn(
        move |ev: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            let metrics = hermes_lambdas::invocation_metrics(&ev.context);
            let out = hermes_core::handlers::disconnect_measured(
                connections,
                Some(subscriptions),
                &ev.payload,
                &metrics,
            )
            .await;
            emf.print(&metrics);
            Ok::<ApiGatewayProxyResponse, Error>(out)
        },
    ))
    .await
}
