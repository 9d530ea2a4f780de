use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use hermes_core::handlers::Authorizer;
use hermes_core::metrics::Function;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cfg, backends) = hermes_lambdas::setup().await?;
    let emf = &hermes_lambdas::emf(Function::Authorizer)?;
    // HERMES_SECRET_ID: the keys are read from the secret at run time and again as the cache
    // expires, so a rotation reaches a warm function within HERMES_SECRET_TTL.
    let secrets = hermes_lambdas::secrets(&cfg).await?;
    let authorizer = &Authorizer::new(secrets, backends.tokens);
    run(service_fn(
        move |ev: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| async move {
            let metrics = hermes_lambdas::invocation_metrics(&ev.context);
            let out = authorizer.handle_measured(&ev.payload, &metrics).await;
            emf.print(&metrics);
            Ok::<ApiGatewayCustomAuthorizerResponse, Error>(out)
        },
    ))
    .await
}
