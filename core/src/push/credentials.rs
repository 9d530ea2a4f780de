//! AWS credentials for the lean poster, as an SDK client would get them.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::orchestrator::endpoints::StaticUriEndpointResolver;
use aws_smithy_runtime::client::retries::strategy::NeverRetryStrategy;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::identity::{
    ResolveCachedIdentity, SharedIdentityCache, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;

use super::PushError;

/// Credentials through the SDK's own identity cache (the `LazyCache` every SDK client uses)
/// over the configured provider (aws-config's chain): loaded once, reloaded shortly before
/// they expire, and shared by every post.
pub(super) struct CredentialSource {
    cache: SharedIdentityCache,
    resolver: SharedIdentityResolver,
    components: RuntimeComponents,
    bag: ConfigBag,
}

impl CredentialSource {
    pub(super) fn new(
        sdk: &SdkConfig,
        time: SharedTimeSource,
        sleep: SharedAsyncSleep,
        endpoint: &str,
    ) -> Result<Self, String> {
        let provider = sdk
            .credentials_provider()
            .ok_or("no AWS credentials provider configured")?;
        let cache = sdk
            .identity_cache()
            .unwrap_or_else(|| IdentityCache::lazy().build());
        let resolver = SharedIdentityResolver::new(provider);
        // The cache reads only the time source and the sleep; a RuntimeComponents must name
        // the rest too, so they are the real ones a SigV4 client of this endpoint would have.
        let scheme = aws_runtime::auth::sigv4::SCHEME_ID;
        let components = RuntimeComponentsBuilder::new("hermes lean post")
            .with_time_source(Some(time))
            .with_sleep_impl(Some(sleep))
            .with_identity_cache(Some(cache.clone()))
            .with_identity_resolver(scheme.clone(), resolver.clone())
            .with_auth_scheme(aws_runtime::auth::sigv4::SigV4AuthScheme::new())
            .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![scheme])))
            .with_endpoint_resolver(Some(StaticUriEndpointResolver::uri(endpoint)))
            .with_retry_strategy(Some(NeverRetryStrategy::new()))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(CredentialSource {
            cache,
            resolver,
            components,
            bag: ConfigBag::base(),
        })
    }

    pub(super) async fn get(&self) -> Result<Credentials, PushError> {
        let identity = self
            .cache
            .resolve_cached_identity(self.resolver.clone(), &self.components, &self.bag)
            .await
            .map_err(|e| PushError::Unavailable(format!("loading AWS credentials failed: {e}")))?;
        identity
            .data::<Credentials>()
            .cloned()
            .ok_or_else(|| PushError::Misconfigured("the identity resolver gave no AWS credentials".into()))
    }
}
