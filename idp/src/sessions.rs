//! Login sessions: an access token plus a refresh-token family, and the
//! refresh flow that keeps one going.
//!
//! A refresh token names its family and generation and carries a 256-bit
//! random part and a MAC (`refresh_token.rs`); only the random part's
//! SHA-256 digest is stored, so a copy of the database cannot be replayed.
//! Each use rotates the token within the session's one row; presenting any
//! earlier one again revokes the whole session (the rules are
//! `store::refresh_policy`).
//!
//! A session opened or refreshed with a DPoP proof and no client
//! credentials (a public client) is bound to the proof's key, and its
//! refresh tokens are then accepted only with proofs by that key (see
//! `dpop.rs`). A refresh may name an API (`resource=`, see `apis.rs`); a
//! code grant's session requested for an API stays for that API.

use crate::accounts::policy::may_sign_in;
use crate::apis;
use crate::clients::LOGIN_CLIENT_ID;
use crate::dpop::refresh_binding;
use crate::error::Error;
use crate::metrics;
use crate::refresh_token::{self, Successor};
use crate::scope::granted_scope;
use crate::secret::Secret;
use crate::state::AppState;
use crate::store::{ApiRow, PresentedRefresh, RefreshOutcome, RefreshRow, SessionGuard, UserRow};
use crate::tokens::{AuthMethods, Subject, TokenOptions, TokenResponse};

/// What a refresh request asks beyond the token and scope.
#[derive(Debug, Clone, Default)]
pub struct RefreshRequest {
    /// The thumbprint of the key of the request's DPoP proof, if it had one.
    pub dpop_jkt: Option<String>,
    /// The API the new access token is for (`resource=`).
    pub api: Option<ApiRow>,
}

/// The scopes a user's tokens carry: `profile` plus what they were granted.
pub fn user_scope(user: &UserRow) -> String {
    let mut scopes = vec!["profile"];
    for s in user.scope.split_ascii_whitespace() {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    scopes.join(" ")
}

/// Opens a session for `user`, who proved who they are with `auth`: a new
/// refresh-token family and its first access token.
pub async fn open(
    state: &AppState,
    user: &UserRow,
    auth: AuthMethods,
    now: u64,
) -> Result<TokenResponse, Error> {
    open_bound(state, user, auth, now, None).await
}

/// [`open`], bound to the DPoP key with thumbprint `dpop_jkt` when given:
/// the session's refresh tokens and access tokens alike.
pub async fn open_bound(
    state: &AppState,
    user: &UserRow,
    auth: AuthMethods,
    now: u64,
    dpop_jkt: Option<String>,
) -> Result<TokenResponse, Error> {
    let family_id = uuid::Uuid::new_v4().to_string();
    let scope = user_scope(user);
    let first = FirstRefresh {
        family_id: &family_id,
        user_id: &user.id,
        client_id: LOGIN_CLIENT_ID,
        scope: &scope,
        auth,
    };
    let guard = SessionGuard::of(user);
    let refresh = first_refresh_token(state, &first, now, dpop_jkt.clone(), &guard)
        .await?
        .ok_or_else(changed_while_signing_in)?;
    let options = TokenOptions {
        audience: None,
        dpop_jkt,
    };
    let issued = state.tokens().issue_with(
        subject(user, family_id.clone(), LOGIN_CLIENT_ID, &scope, auth),
        LOGIN_CLIENT_ID,
        &scope,
        now,
        &options,
    )?;
    // A cut-off committed since the session was stored ended it, and may
    // have raised the token's `iat` past itself: such a token is not
    // handed out.
    if !still_holds(state, &user.id, &guard).await? {
        return Err(changed_while_signing_in());
    }
    Ok(TokenResponse::new(
        issued,
        state.tokens().ttl(),
        Some(refresh),
    ))
}

/// The first refresh token of a family, before it is stored.
#[derive(Debug)]
pub struct FirstRefresh<'a> {
    /// The family: the session's id (a code grant's id).
    pub family_id: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// The client the session belongs to.
    pub client_id: &'a str,
    /// The session's whole scope.
    pub scope: &'a str,
    /// How the user signed in.
    pub auth: AuthMethods,
}

/// The answer when the account changed (password, disabled, signed out
/// everywhere) while a sign-in was checking it: signing in again gives the
/// account's answer as it is now.
pub fn changed_while_signing_in() -> Error {
    Error::Unavailable("the account changed while signing in; sign in again".into())
}

/// Whether `guard` still holds for the user `user_id`.
pub async fn still_holds(
    state: &AppState,
    user_id: &str,
    guard: &SessionGuard,
) -> Result<bool, Error> {
    let id = user_id.to_owned();
    let user = state.store().run(move |db| db.user_by_id(&id)).await?;
    Ok(user.is_some_and(|u| guard.holds_for(&u)))
}

/// The first refresh token of `first` (a `/login` session, or an
/// authorization code's grant with `offline_access`), valid
/// `--refresh-ttl` from `now`, stored with the row in one transaction and
/// bound to the DPoP key `binding` if given; `None` when `guard` no longer
/// holds (the account changed since the sign-in checked it, or a replayed
/// code revoked the grant).
pub async fn first_refresh_token(
    state: &AppState,
    first: &FirstRefresh<'_>,
    now: u64,
    binding: Option<String>,
    guard: &SessionGuard,
) -> Result<Option<Secret>, Error> {
    let key = crate::accounts::limits::secret(state).await?;
    let first_token = Successor::new();
    let row = RefreshRow {
        family_id: first.family_id.to_owned(),
        user_id: first.user_id.to_owned(),
        client_id: first.client_id.to_owned(),
        scope: first.scope.to_owned(),
        expires_at: now.saturating_add(state.settings().refresh_ttl),
        amr: first.auth.as_stored().to_owned(),
        generation: 0,
    };
    let refresh = first_token.token(key, &row.family_id, row.generation);
    let hash = first_token.hash();
    let guard = guard.clone();
    let stored = state
        .store()
        .run(move |db| {
            if !db.insert_refresh_guarded(&hash, &row, now, &guard)? {
                return Ok(false);
            }
            if let Some(jkt) = &binding {
                db.bind_session(&row.family_id, jkt, now)?;
            }
            Ok(true)
        })
        .await?;
    Ok(stored.then_some(refresh))
}

/// The live session a refresh token belongs to, without using the token.
pub async fn find(
    state: &AppState,
    refresh_token: &str,
    now: u64,
) -> Result<Option<RefreshRow>, Error> {
    let key = crate::accounts::limits::secret(state).await?;
    let Some(presented) = refresh_token::parse(key, refresh_token) else {
        return Ok(None);
    };
    let hash = presented.hash().to_vec();
    let live = state
        .store()
        .run(move |db| db.refresh_family(&hash, now))
        .await?;
    // The digest names the token; the family it claims must be its own.
    Ok(live.filter(|row| {
        presented
            .claimed()
            .is_none_or(|claimed| claimed.family_id == row.family_id)
    }))
}

/// Uses the refresh token `presented` on behalf of `client_id` (`None`:
/// the IdP's own login sessions, presented without client credentials),
/// narrowing the scope to `requested` if given, at `now`.
///
/// A requested scope is checked before the token is used, so asking for
/// too much does not cost the client its session. A replayed token ends
/// the session and publishes that before answering.
pub async fn refresh(
    state: &AppState,
    client_id: Option<&str>,
    presented: &str,
    requested: Option<&str>,
    now: u64,
) -> Result<TokenResponse, Error> {
    refresh_with(
        state,
        client_id,
        presented,
        requested,
        now,
        RefreshRequest::default(),
    )
    .await
}

/// [`refresh`], with a DPoP proof's key and an API as `request` says. The
/// session's DPoP binding is checked before the token is used, so a thief
/// without the key cannot burn it.
pub async fn refresh_with(
    state: &AppState,
    client_id: Option<&str>,
    presented: &str,
    requested: Option<&str>,
    now: u64,
    request: RefreshRequest,
) -> Result<TokenResponse, Error> {
    let key = crate::accounts::limits::secret(state).await?;
    // A token whose MAC does not check out never reaches the store, so it
    // cannot revoke anything.
    let Some(parsed) = refresh_token::parse(key, presented) else {
        return Err(invalid_refresh());
    };
    let hash = parsed.hash().to_vec();
    let (live, bound, granted_resource) = state
        .store()
        .run(move |db| {
            let live = db.refresh_family(&hash, now)?;
            let (bound, resource) = match &live {
                Some(live) => (
                    db.session_binding(&live.family_id)?,
                    db.grant_resource(&live.family_id)?,
                ),
                None => (None, None),
            };
            Ok((live, bound, resource))
        })
        .await?;
    if let Some(live) = &live {
        granted_scope(requested, &live.scope)?;
    }
    let dpop_jkt = refresh_binding(bound.as_deref(), request.dpop_jkt.as_deref())?;
    // A grant requested for an API refreshes for that API alone; the
    // request may name it again, not another (checked before the token is
    // used, so a mistake does not spend it).
    let api = apis::for_grant(state.store(), granted_resource.as_deref(), request.api).await?;
    let successor = Successor::new();
    let use_it = PresentedRefresh {
        token_hash: parsed.hash().to_vec(),
        claimed: parsed.claimed().cloned(),
        client_id: client_id.unwrap_or(LOGIN_CLIENT_ID).to_owned(),
        successor_hash: successor.hash(),
        now,
        successor_expires_at: now.saturating_add(state.settings().refresh_ttl),
    };
    let outcome = state.store().run(move |db| db.use_refresh(&use_it)).await?;
    let session = match outcome {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Reused { family_id } => {
            metrics::inc(&state.metrics().refresh_reuse);
            tracing::warn!(session = %family_id, "refresh token reused: session revoked");
            // The store ended the session; publish it before answering.
            state.revocations().catch_up().await?;
            return Err(Error::invalid_grant(
                "refresh token was already used; the session has been revoked",
            ));
        }
        RefreshOutcome::Invalid => return Err(invalid_refresh()),
        RefreshOutcome::WrongClient => {
            return Err(match client_id {
                None => Error::InvalidClient {
                    basic_realm: Some(state.settings().issuer.clone()),
                },
                Some(_) => Error::invalid_grant("refresh token was issued to another client"),
            })
        }
    };
    // A public session refreshed with a proof is bound from now on.
    if let (None, None, Some(jkt)) = (client_id, &bound, &dpop_jkt) {
        let (family, jkt) = (session.family_id.clone(), jkt.clone());
        state
            .store()
            .run(move |db| db.bind_session(&family, &jkt, now))
            .await?;
    }
    // A narrower scope may be asked for; never a wider one. The session
    // keeps its full scope for later refreshes.
    let mut scope = granted_scope(requested, &session.scope)?;
    if let Some(api) = &api {
        scope = apis::narrow_scope(api, &scope, requested.is_some())?;
    }
    let user_id = session.user_id.clone();
    let Some(user) = state.store().run(move |db| db.user_by_id(&user_id)).await? else {
        return Err(Error::invalid_grant("the account no longer exists"));
    };
    // A disabled account's sessions were ended; this keeps it so even for
    // one that slipped through (a refresh racing the disabling).
    if may_sign_in(&user, state.settings().sign_in).is_err() {
        return Err(Error::invalid_grant("the account may not sign in"));
    }
    let options = TokenOptions {
        audience: api.map(|api| api.resource),
        dpop_jkt,
    };
    let issued = state.tokens().issue_with(
        subject(
            &user,
            session.family_id.clone(),
            &session.client_id,
            &scope,
            AuthMethods::from_stored(&session.amr),
        ),
        &session.client_id,
        &scope,
        now,
        &options,
    )?;
    // A cut-off committed since the rotation ended the session, and may
    // have raised the token's `iat` past itself: such a token is not
    // handed out.
    let (successor_hash, family) = (successor.hash(), session.family_id.clone());
    let live = state
        .store()
        .run(move |db| db.refresh_family(&successor_hash, now))
        .await?;
    if live.is_none_or(|row| row.family_id != family) {
        return Err(invalid_refresh());
    }
    metrics::inc(&state.metrics().refreshed_tokens);
    let successor = successor.token(key, &session.family_id, session.generation);
    Ok(TokenResponse::new(
        issued,
        state.tokens().ttl(),
        Some(successor),
    ))
}

fn invalid_refresh() -> Error {
    Error::invalid_grant("refresh token is invalid, expired or revoked")
}

/// The token subject for a user in a session opened with `auth`, with the
/// claims `scope` discloses to `client_id`.
pub fn subject(
    user: &UserRow,
    session: String,
    client_id: &str,
    scope: &str,
    auth: AuthMethods,
) -> Subject {
    let disclosed = crate::disclosure::disclose(user, scope, client_id);
    Subject::User {
        id: user.id.clone(),
        email: disclosed.email,
        name: disclosed.name,
        session,
        auth,
        not_before: user.tokens_not_before,
    }
}
