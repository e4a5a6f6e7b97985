//! The OpenAPI 3.1 document of the IdP, generated from the handlers
//! (utoipa), and `GET /openapi.json`, which serves it.
//!
//! Every module's `router()` is a `utoipa_axum` [`OpenApiRouter`] whose
//! routes are registered with `routes!(handler, ...)`: the path and
//! methods the router serves are read from each handler's
//! `#[utoipa::path]`, so the router and the document are built from the
//! same registrations and cannot drift. [`document`] assembles them
//! without an [`AppState`](crate::AppState), so `idp openapi` prints the
//! document without a database, and `http::api` splits the same routers
//! into the axum router it serves.
//!
//! What lives here is what no single handler owns: the document's info,
//! the security schemes (HTTP Basic for clients, Bearer, DPoP) and the
//! tags.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::HeaderValue;
use axum::response::Response;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::discovery::IfNoneMatch;
use crate::state::AppState;

/// Security scheme names, as the handlers' `security(...)` name them.
pub(super) const BASIC: &str = "client_basic";
pub(super) const BEARER: &str = "bearer";
pub(super) const DPOP: &str = "dpop";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "idp",
        description = "The identity provider's HTTP API: signup and login, OAuth 2.0 \
            (`/authorize`, `/token`, `/revoke`, `/introspect`), OpenID Connect, the client \
            registry and administration, the revocation feed, the hosted sign-in pages. \
            Every error answer of the JSON API is the `ErrorBody` shape \
            `{\"error\", \"error_description\"}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    components(schemas(super::error::ErrorBody)),
    tags(
        (name = "discovery", description = "Keys, metadata and the revocation feed"),
        (name = "oauth", description = "OAuth 2.0 endpoints for clients"),
        (name = "users", description = "Signup and login"),
        (name = "account", description = "The signed-in user's account (bearer token)"),
        (name = "recovery", description = "Password reset and email verification by mailed link"),
        (name = "admin", description = "The client registry, keys and users (scope `admin`)"),
        (name = "pages", description = "Hosted HTML pages for people in a browser"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub(super) struct ApiDoc;

/// Adds the security schemes the handlers refer to.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BASIC,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "client_secret_basic (RFC 6749 §2.3.1): client id and secret, each \
                         form-urlencoded. `/login` takes a user's email and password the same way.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token issued by this IdP (RFC 9068)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            DPOP,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "DPoP",
                "A DPoP-bound access token (RFC 9449): `Authorization: DPoP <token>` with a \
                 proof for this request in the `DPoP` header.",
            ))),
        );
    }
}

/// The whole document: every route of [`super::app`], `/metrics` included.
pub fn document() -> utoipa::openapi::OpenApi {
    super::documented_routes().into_openapi()
}

/// The document as `GET /openapi.json` serves it: pretty JSON.
pub fn json() -> &'static str {
    &SERVED.text
}

/// The document as served: JSON, serialized once, with its ETag.
struct Served {
    text: String,
    etag: HeaderValue,
}

static SERVED: LazyLock<Served> = LazyLock::new(|| {
    // Serializing a document of strings and maps cannot fail; an empty
    // body would be caught by the tests that parse it.
    let text = document().to_pretty_json().unwrap_or_default();
    let etag = crate::etag::strong_etag(text.as_bytes());
    Served { text, etag }
});

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// This document. It changes only with the IdP's version, so caches may
/// keep it for an hour and revalidate with the ETag.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json",
            body = Object,
            headers(("ETag" = String), ("Cache-Control" = String, description = "`public, max-age=3600`"))),
        (status = 304, description = "Unchanged since the ETag named in `If-None-Match`"),
    )
)]
async fn openapi_json(if_none_match: IfNoneMatch) -> Response {
    let served: &'static Served = &SERVED;
    if_none_match.answer(
        &served.etag,
        Bytes::from_static(served.text.as_bytes()),
        "application/json",
        HeaderValue::from_static("public, max-age=3600"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_the_error_shape_and_schemes() {
        let doc: serde_json::Value =
            serde_json::from_str(json()).expect("the served document is JSON");
        assert!(doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")));
        let schemes = &doc["components"]["securitySchemes"];
        for name in [BASIC, BEARER, DPOP] {
            assert!(schemes[name].is_object(), "{name}");
        }
        let error = &doc["components"]["schemas"]["ErrorBody"]["required"];
        assert_eq!(error, &serde_json::json!(["error", "error_description"]));
        assert!(SERVED.etag.as_bytes().starts_with(b"\""));
    }
}
