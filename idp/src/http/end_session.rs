//! `/end_session`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! An application sends the browser here with `id_token_hint` (an ID token
//! this IdP issued, expired or not), optionally `post_logout_redirect_uri`
//! (registered with `--post-logout-redirect-uri`, or one of the client's
//! redirect URIs) and `state`. A valid hint from the browser that holds
//! the hinted session (or another session of the same user) ends it and
//! the hinted session at once. Any other request is suspect (§2: a hint
//! can come from a log line, or another user's browser) and the user is
//! asked to confirm with a form: without a hint, with a hint for another
//! user, or from a browser with no session. Confirming ends the browser's
//! own session and the hinted one. Ending a session revokes every grant
//! made in it and their refresh tokens, which reaches resource servers
//! through the revocation feed.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cookies;
use super::pages::{self, EndSessionPage};
use crate::authorization::{with_query, Params};
use crate::browser_sessions;
use crate::error::Error;
use crate::id_tokens::{self, IdTokenClaims};
use crate::redirect_uris::csp_source;
use crate::state::AppState;
use crate::unix_now;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(end_session_get, end_session_post))
}

/// A logout request's parameters (RP-Initiated Logout 1.0 §2), for the
/// OpenAPI document; [`check`] reads them from [`Params`].
#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct EndSessionParams {
    /// An ID token this IdP issued, expired or not.
    id_token_hint: Option<String>,
    /// Registered for the client; where the browser goes afterwards.
    post_logout_redirect_uri: Option<String>,
    /// Returned with the redirect.
    state: Option<String>,
    client_id: Option<String>,
}

/// The parameters carried through the confirmation form.
const CARRIED: [&str; 4] = [
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
    "client_id",
];

/// A checked logout request.
struct Logout {
    hint: Option<IdTokenClaims>,
    /// The application asking: `client_id`, or the hint's audience.
    client_id: Option<String>,
    /// Where to send the browser afterwards, `state` already added.
    redirect: Option<String>,
    /// The bare post-logout URI, for the form's CSP.
    target: Option<String>,
}

fn bad(state: &AppState, text: &str) -> Box<Response> {
    Box::new(pages::message(
        &state.settings().issuer,
        StatusCode::BAD_REQUEST,
        "This sign-out link is not valid",
        text,
    ))
}

/// Reads and checks a logout request's parameters.
async fn check(state: &AppState, params: &Params) -> Result<Logout, Box<Response>> {
    let get = |name: &str| {
        params
            .get(name)
            .map_err(|_| bad(state, "A parameter is repeated."))
    };
    let issuer = &state.settings().issuer;
    let hint = match get("id_token_hint")? {
        Some(token) => match id_tokens::verify_hint(&state.keys().ring(), issuer, token) {
            Some(claims) => Some(claims),
            None => {
                return Err(bad(
                    state,
                    "The application sent a sign-out request this service cannot verify.",
                ))
            }
        },
        None => None,
    };
    let client_id = match (get("client_id")?, &hint) {
        (Some(id), Some(h)) if id != h.aud => {
            return Err(bad(
                state,
                "The sign-out request names two different applications.",
            ))
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(h)) => Some(h.aud.clone()),
        (None, None) => None,
    };
    let (redirect, target) = match get("post_logout_redirect_uri")? {
        None => (None, None),
        Some(uri) => {
            let Some(client_id) = client_id.clone() else {
                return Err(bad(
                    state,
                    "The sign-out request does not say which application it is from.",
                ));
            };
            let client = state
                .store()
                .run(move |db| db.client(&client_id))
                .await
                .map_err(|e| Box::new(pages::failure(issuer, &Error::from(e))))?;
            let registered = client.is_some_and(|c| {
                c.post_logout_redirect_uris.iter().any(|r| r == uri)
                    || c.redirect_uris.iter().any(|r| r == uri)
            });
            if !registered {
                return Err(bad(state, "The address to return to after signing out is not registered for this application."));
            }
            let mut pairs = Vec::new();
            if let Some(s) = get("state")? {
                pairs.push(("state", s));
            }
            (Some(with_query(uri, &pairs)), Some(uri.to_owned()))
        }
    };
    Ok(Logout {
        hint,
        client_id,
        redirect,
        target,
    })
}

/// `GET /end_session`: an application's logout request.
#[utoipa::path(
    get,
    path = "/end_session",
    tag = "pages",
    operation_id = "end_session",
    params(EndSessionParams),
    responses(
        (status = 200, description = "The confirmation page, or a page saying the user is signed out", content_type = "text/html", body = String),
        (status = 303, description = "To `post_logout_redirect_uri` (with `state`) once signed out", headers(("Location" = String))),
        (status = 400, description = "An invalid `id_token_hint` or an unregistered `post_logout_redirect_uri`", content_type = "text/html", body = String),
    )
)]
async fn end_session_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    end_session(&state, &headers, &params, false).await
}

/// A POST is either an application's request as a form, or the user's
/// confirmation (`confirm`, with a CSRF token).
#[utoipa::path(
    post,
    path = "/end_session",
    tag = "pages",
    operation_id = "end_session_post",
    request_body(content = EndSessionParams, content_type = "application/x-www-form-urlencoded", description = "An application's request as a form, or the confirmation page's form (`confirm=yes` with the CSRF token)"),
    responses(
        (status = 200, description = "The confirmation page, or a page saying the user is signed out", content_type = "text/html", body = String),
        (status = 303, description = "To `post_logout_redirect_uri` (with `state`) once signed out", headers(("Location" = String))),
        (status = 400, description = "An invalid `id_token_hint` or an unregistered `post_logout_redirect_uri`", content_type = "text/html", body = String),
        (status = 403, description = "The form's CSRF token does not match its cookie, or is too old", content_type = "text/html", body = String),
    )
)]
async fn end_session_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::parse(&body);
    let confirmed = params.get("confirm").ok().flatten() == Some("yes");
    if confirmed {
        let token = params.get(cookies::CSRF_FIELD).ok().flatten();
        if !cookies::csrf_matches(&headers, pages::secure(&state), token) {
            return pages::message(
                &state.settings().issuer,
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was not sent from this site, or it is too old. Reload the page and try again.",
            );
        }
    }
    end_session(&state, &headers, &params, confirmed).await
}

async fn end_session(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    confirmed: bool,
) -> Response {
    let logout = match check(state, params).await {
        Ok(logout) => logout,
        Err(response) => return *response,
    };
    let issuer = state.settings().issuer.clone();
    let secure = issuer.starts_with("https://");
    let now = unix_now();
    let cookie = cookies::session(headers, secure);
    let current = match &cookie {
        Some(c) => match browser_sessions::find(state, c, now).await {
            Ok(found) => found,
            Err(e) => return pages::failure(&issuer, &e),
        },
        None => None,
    };
    // A hint names the browser's own sign-in when it names its session, or
    // another session of the same user (signed in again since).
    let own_hint = match (&logout.hint, &current) {
        (Some(hint), Some(session)) => hint.sid == session.id || hint.sub == session.user_id,
        _ => false,
    };
    let ask = match &logout.hint {
        None => current.is_some(),
        Some(_) => !own_hint,
    };
    if ask && !confirmed {
        let (csrf, set) = cookies::csrf_token(headers, secure);
        let params = CARRIED
            .iter()
            .filter_map(|&name| {
                params
                    .get(name)
                    .ok()
                    .flatten()
                    .map(|v| (name, v.to_owned()))
            })
            .collect();
        let page = EndSessionPage {
            service: pages::service_name(&issuer),
            client: logout.client_id.clone(),
            stay: logout.redirect.clone(),
            params,
            csrf,
        };
        let targets: Vec<String> = logout.target.iter().filter_map(|t| csp_source(t)).collect();
        let mut response = pages::page(StatusCode::OK, &page, &targets);
        if let Some(set) = set {
            response.headers_mut().append(header::SET_COOKIE, set);
        }
        return response;
    }
    // Here the user confirmed, or the hint is the browser's own: the
    // browser's session ends, and so does the hinted one.
    let mut ending = Vec::new();
    if let Some(session) = &current {
        if confirmed || own_hint {
            ending.push(session.id.clone());
        }
    }
    if let Some(hint) = &logout.hint {
        if !ending.contains(&hint.sid) {
            ending.push(hint.sid.clone());
        }
    }
    for id in &ending {
        if let Err(e) = browser_sessions::end(state, id, now).await {
            return pages::failure(&issuer, &e);
        }
    }
    let mut response = match &logout.redirect {
        Some(location) => pages::see_other(location),
        None => pages::message(
            &issuer,
            StatusCode::OK,
            "You are signed out",
            "You have been signed out of this service on this browser. You can close this window.",
        ),
    };
    if ending
        .iter()
        .any(|id| current.as_ref().is_some_and(|s| &s.id == id))
    {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookies::clear_session(secure));
    }
    response
}
