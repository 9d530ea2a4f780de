use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use hermes_core::handlers::Authorizer;
use hermes_core::token::JwtKeys;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cfg, backends) = hermes_lambdas::setup().await?;
    let authorizer = &Authorizer::new(
        JwtKeys::new(cfg.jwt_secret().map_err(hermes_lambdas::fatal)?),
        backends.tokens,
    );
    run(service_fn(
        move |ev: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| async move {
            Ok::<ApiGatewayCustomAuthorizerResponse, Error>(authorizer.handle(&ev.payload).await)
        },
    ))
    .await
}
