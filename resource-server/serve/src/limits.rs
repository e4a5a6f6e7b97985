//! The per-request limits [`serve`](crate::serve) wraps every router in, as
//! a pure function of the router, so that they can be exercised without a
//! socket.

use axum::response::Response;
use axum::Router;
use http::header::CONTENT_TYPE;
use http::StatusCode;
use tower::util::MapResponseLayer;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

use crate::config::ServeConfig;
use crate::error::json_error;

/// `router` with the request timeout of `config`: a request not answered
/// within [`ServeConfig::request_timeout`] gets a JSON `408`
/// `request_timeout`.
///
/// ```
/// use axum::Router;
/// use serve::{with_limits, ServeConfig};
///
/// let app: Router = with_limits(Router::new(), &ServeConfig::default());
/// # let _ = app;
/// ```
pub fn with_limits(router: Router, config: &ServeConfig) -> Router {
    // One `layer` call: axum boxes each one around every route and clones
    // the boxes per request. The first layer of the builder is the outer
    // one: the JSON rewrite must see what the timeout answers.
    router.layer(
        ServiceBuilder::new()
            .layer(MapResponseLayer::new(
                json_timeout as fn(Response) -> Response,
            ))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            )),
    )
}

/// The timeout layer answers with an empty body and no content type; give
/// it the JSON shape of every other error. A `408` that a handler built
/// itself, with a body of its own, is left alone.
fn json_timeout(response: Response) -> Response {
    if response.status() != StatusCode::REQUEST_TIMEOUT
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    json_error(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request took too long",
    )
}
