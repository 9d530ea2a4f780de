use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use hermes_core::handlers::Authorizer;
use hermes_core::metrics::Function;
use hermes_core::token::JwtKeys;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cfg, backends) = hermes_lambdas::setup().await?;
    let emf = &hermes_lambdas::emf(Function::Authorizer)?;
    let authorizer = &Authorizer::new(
        JwtKeys::new(cfg.jwt_secret().map_err(hermes_lambdas::fatal)?),
        backends.tokens,
    );
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
