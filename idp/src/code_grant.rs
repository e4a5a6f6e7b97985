//! `POST /token grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636
//! §4.6, OpenID Connect Core §3.1.3): a code, its PKCE verifier and its
//! redirect URI become an access token, an ID token (scope `openid`) and a
//! refresh token (scope `offline_access`).
//!
//! The store redeems the code in one transaction under the rules of
//! `store::code_policy`. A code presented twice revokes its grant: the
//! access tokens issued from it carry the grant's id as `sid`, and its
//! refresh tokens belong to the family of that id, so the revocation feed
//! reaches every resource server before the answer goes out.
//!
//! The access token is for the API the authorization request named with
//! `resource` (RFC 8707), which the token request may repeat but not
//! change (`invalid_target`, and the code stays unused); an authorization
//! for no API lets the token request name any registered one. A `DPoP`
//! proof binds the access token, and a public client's refresh tokens, to
//! its key (RFC 9449 §5).

use crate::accounts::sign_in::may_sign_in;
use crate::apis;
use crate::disclosure::disclose;
use crate::error::Error;
use crate::id_tokens::{self, IdTokenFor};
use crate::metrics;
use crate::pkce;
use crate::secret::digest;
use crate::sessions::{first_refresh_token, subject, FirstRefresh};
use crate::state::AppState;
use crate::store::{ApiRow, ClientRow, CodeOutcome, PresentedCode, SessionGuard};
use crate::tokens::{AuthMethods, TokenOptions, TokenResponse};

/// What the client sent with the code.
#[derive(Debug)]
pub struct CodeRedemption<'a> {
    /// The code.
    pub code: &'a str,
    /// The `redirect_uri` parameter.
    pub redirect_uri: &'a str,
    /// The PKCE verifier.
    pub code_verifier: &'a str,
    /// The API the token request names (`resource`), checked and looked up.
    pub api: Option<ApiRow>,
    /// The thumbprint of the key of the request's DPoP proof, if it had one.
    pub dpop_jkt: Option<String>,
}

/// Why a code that was not redeemed is refused.
fn refusal(outcome: &CodeOutcome) -> &'static str {
    match outcome {
        CodeOutcome::WrongClient => "the code was issued to another client",
        CodeOutcome::RedirectMismatch => "redirect_uri differs from the authorization request's",
        CodeOutcome::VerifierMismatch => "code_verifier does not match the code_challenge",
        CodeOutcome::ResourceMismatch => apis::RESOURCE_MISMATCH,
        CodeOutcome::Replayed { .. } => {
            "the code was already used; every token issued from it has been revoked"
        }
        CodeOutcome::Invalid | CodeOutcome::Redeemed(_) => {
            "the code is invalid, expired or revoked"
        }
    }
}

/// Redeems a code for `client` at `now`.
pub async fn exchange(
    state: &AppState,
    client: &ClientRow,
    presented: CodeRedemption<'_>,
    now: u64,
) -> Result<TokenResponse, Error> {
    if !pkce::valid_verifier(presented.code_verifier) {
        return Err(Error::invalid_request(
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
        ));
    }
    let code = PresentedCode {
        code_hash: digest(presented.code),
        client_id: client.client_id.clone(),
        redirect_uri: presented.redirect_uri.to_owned(),
        challenge: pkce::challenge_of(presented.code_verifier),
        resource: presented.api.as_ref().map(|api| api.resource.clone()),
        now,
    };
    let outcome = state.store().run(move |db| db.redeem_code(&code)).await?;
    let grant = match outcome {
        CodeOutcome::Redeemed(grant) => grant,
        CodeOutcome::Replayed { family_id } => {
            metrics::inc(&state.metrics().code_replays);
            tracing::warn!(grant = %family_id, "authorization code replayed: its tokens are revoked");
            state.revocations().catch_up().await?;
            return Err(Error::invalid_grant(refusal(&CodeOutcome::Replayed {
                family_id,
            })));
        }
        CodeOutcome::ResourceMismatch => {
            return Err(Error::InvalidTarget(apis::RESOURCE_MISMATCH.into()))
        }
        refused => return Err(Error::invalid_grant(refusal(&refused))),
    };
    // The API the access token is for (the store refused a mismatch
    // without using the code).
    let api = apis::for_grant(state.store(), grant.resource.as_deref(), presented.api).await?;
    let user_id = grant.user_id.clone();
    let Some(user) = state.store().run(move |db| db.user_by_id(&user_id)).await? else {
        return Err(Error::invalid_grant("the account no longer exists"));
    };
    // Disabled (or no longer allowed) between sign-in and redemption.
    if may_sign_in(&user, state.settings().sign_in).is_err() {
        return Err(Error::invalid_grant("the account may not sign in"));
    }
    // How the browser signed in when the code was issued.
    let auth = AuthMethods::from_stored(&grant.amr);
    let scope = grant.scope.clone();
    // The access token carries what the API offers of the grant; the ID
    // token and the refresh session, the whole grant.
    let token_scope = match &api {
        Some(api) => apis::narrow_scope(api, &scope, false)?,
        None => scope.clone(),
    };
    let options = TokenOptions {
        audience: api.map(|api| api.resource),
        dpop_jkt: presented.dpop_jkt,
    };
    let issued = state.tokens().issue_with(
        subject(
            &user,
            grant.family_id.clone(),
            &client.client_id,
            &token_scope,
            auth,
        ),
        &client.client_id,
        &token_scope,
        now,
        &options,
    )?;
    let has = |s: &str| scope.split_ascii_whitespace().any(|t| t == s);
    let refresh_token = if has("offline_access") {
        Some(
            first_refresh_token(
                state,
                &FirstRefresh {
                    family_id: &grant.family_id,
                    user_id: &user.id,
                    client_id: &client.client_id,
                    scope: &scope,
                    auth,
                },
                now,
                // RFC 9449 §5: a public client's refresh tokens are bound
                // to the key; a confidential client's to its credentials.
                options.dpop_jkt.clone().filter(|_| client.public),
                // Stored only while the account is as just read and the
                // grant stands (the store checks it for every family): a
                // replay of the code racing this exchange revoked it, or
                // the account was cut off since.
                &SessionGuard::of(&user),
            )
            .await?
            .ok_or_else(|| {
                Error::invalid_grant(
                    "the code was used twice, or the account changed since sign-in",
                )
            })?,
        )
    } else {
        None
    };
    let id_token = if has("openid") {
        Some(id_tokens::sign(
            &state.keys().ring(),
            IdTokenFor {
                issuer: &state.settings().issuer,
                user_id: &user.id,
                client_id: &client.client_id,
                auth_time: grant.auth_time,
                nonce: grant.nonce.as_deref(),
                access_token: issued.token.expose(),
                session_id: &grant.session_id,
                auth,
                disclosed: disclose(&user, &scope, &client.client_id),
                ttl: state.tokens().ttl(),
            },
            now,
        )?)
    } else {
        None
    };
    metrics::inc(&state.metrics().authorization_code_tokens);
    let mut response = TokenResponse::new(issued, state.tokens().ttl(), refresh_token);
    response.id_token = id_token;
    Ok(response)
}
