//! OAuth 2.0 Protected Resource Metadata (RFC 9728): what a client needs
//! to know to call this API, served at
//! `/.well-known/oauth-protected-resource`.
//!
//! The document names the resource identifier (the audience tokens for it
//! carry), the authorization servers that issue them, the scopes it
//! understands, how tokens may be sent, and whether DPoP is required. A
//! client that receives a `401` finds the document's URL in the challenge's
//! `resource_metadata` parameter (RFC 9728 §5.1; see
//! [`BearerAuthLayer::resource_metadata`](crate::BearerAuthLayer::resource_metadata)).
//!
//! ```
//! use axum::Router;
//! use resource_server::ProtectedResourceMetadata;
//!
//! let metadata = ProtectedResourceMetadata::new("https://api.example.com")
//!     .authorization_server("https://idp.example.com")
//!     .scopes(["reports:read", "reports:write"]);
//! assert_eq!(metadata.well_known_path(), "/.well-known/oauth-protected-resource");
//! let app: Router = Router::new().merge(metadata.router());
//! ```

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::alg::Algorithms;

/// The well-known path segment of RFC 9728 §3.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// An RFC 9728 protected resource metadata document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: the `aud` of tokens for this API.
    pub resource: String,
    /// Issuers of tokens this API accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Scopes this API understands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens may be sent: `header` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bearer_methods_supported: Vec<String>,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Where people read about the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// The algorithms DPoP proofs may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// Whether only DPoP-bound tokens are accepted.
    #[serde(default)]
    pub dpop_bound_access_tokens_required: bool,
}

impl ProtectedResourceMetadata {
    /// The metadata of the resource `resource` (its identifier, an
    /// absolute URL): tokens in the `Authorization` header, DPoP accepted
    /// with the default DPoP algorithms ([`Algorithms::DPOP`]), not
    /// required.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
            resource_documentation: None,
            dpop_signing_alg_values_supported: Algorithms::DPOP
                .iter()
                .map(|alg| alg.name().to_owned())
                .collect(),
            dpop_bound_access_tokens_required: false,
        }
    }

    /// Adds an issuer of tokens for this API.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes this API understands.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable name.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Whether only DPoP-bound tokens are accepted.
    pub fn dpop_required(mut self, required: bool) -> Self {
        self.dpop_bound_access_tokens_required = required;
        self
    }

    /// The algorithms DPoP proofs may use.
    pub fn dpop_algorithms(mut self, algorithms: Algorithms) -> Self {
        self.dpop_signing_alg_values_supported =
            algorithms.iter().map(|alg| alg.name().to_owned()).collect();
        self
    }

    /// Where RFC 9728 §3.1 puts the document: the well-known segment
    /// between the resource's host and its path
    /// (`https://api.example.com/v1` → `/.well-known/oauth-protected-resource/v1`).
    pub fn well_known_path(&self) -> String {
        let path = Url::parse(&self.resource)
            .ok()
            .filter(Url::has_host)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        format!("{WELL_KNOWN}{path}")
    }

    /// The document's URL for a service reachable at `base`
    /// (`https://api.example.com`), for
    /// [`BearerAuthLayer::resource_metadata`](crate::BearerAuthLayer::resource_metadata).
    pub fn url_at(&self, base: &str) -> String {
        format!("{}{}", base.trim_end_matches('/'), self.well_known_path())
    }

    /// A router serving the document at [`well_known_path`](Self::well_known_path)
    /// (and at the bare well-known path too, when the resource has a path),
    /// as JSON, cacheable for five minutes.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let body = serde_json::to_string(self).unwrap_or_default();
        let serve = move || {
            let body = body.clone();
            async move {
                (
                    [
                        (CONTENT_TYPE, "application/json"),
                        (CACHE_CONTROL, "public, max-age=300"),
                    ],
                    body,
                )
                    .into_response()
            }
        };
        let path = self.well_known_path();
        let mut router = Router::new().route(&path, get(serve.clone()));
        if path != WELL_KNOWN {
            router = router.route(WELL_KNOWN, get(serve));
        }
        router
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_paths_follow_rfc9728() {
        let at = |resource: &str| ProtectedResourceMetadata::new(resource).well_known_path();
        assert_eq!(at("https://api.example.com"), WELL_KNOWN);
        assert_eq!(at("https://api.example.com/"), WELL_KNOWN);
        assert_eq!(
            at("https://api.example.com/v1/"),
            "/.well-known/oauth-protected-resource/v1"
        );
        assert_eq!(at("urn:example:api"), WELL_KNOWN);
        assert_eq!(
            ProtectedResourceMetadata::new("https://api.example.com/v1")
                .url_at("https://gw.example.com/"),
            "https://gw.example.com/.well-known/oauth-protected-resource/v1"
        );
    }

    #[test]
    fn the_document_says_what_is_configured() {
        let doc = serde_json::to_value(
            ProtectedResourceMetadata::new("https://api.example.com")
                .authorization_server("https://idp.example.com")
                .scopes(["a", "b"])
                .dpop_required(true)
                .dpop_algorithms(crate::Algorithm::ES256.into()),
        )
        .expect("json");
        assert_eq!(doc["resource"], "https://api.example.com");
        assert_eq!(doc["authorization_servers"][0], "https://idp.example.com");
        assert_eq!(doc["scopes_supported"], serde_json::json!(["a", "b"]));
        assert_eq!(
            doc["bearer_methods_supported"],
            serde_json::json!(["header"])
        );
        assert_eq!(
            doc["dpop_signing_alg_values_supported"],
            serde_json::json!(["ES256"])
        );
        assert_eq!(doc["dpop_bound_access_tokens_required"], true);
    }
}
