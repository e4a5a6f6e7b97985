//! What a token request asks for besides its grant: the API the token is
//! for (`resource`, RFC 8707; see `apis.rs`) and the key it is bound to (a
//! `DPoP` proof, RFC 9449; see `dpop.rs`). `/token`'s grants and `/login`
//! read both here, after the caller authenticated, so that neither a
//! resource lookup nor a proof verification is spent on strangers.

use axum::http::HeaderMap;

use super::extract::{dpop_proof, Form};
use crate::error::Error;
use crate::state::AppState;
use crate::store::ApiRow;
use crate::tokens::TokenOptions;
use crate::{apis, dpop};

/// The API and DPoP key of one token request.
#[derive(Debug, Default)]
pub(super) struct TokenTarget {
    /// The API named with `resource`, if any.
    pub(super) api: Option<ApiRow>,
    /// The thumbprint of the request's DPoP proof key, if it had a proof.
    pub(super) dpop_jkt: Option<String>,
}

impl TokenTarget {
    /// Reads `resource` (from `form`, if the endpoint takes one) and the
    /// DPoP proof of a `POST` to `endpoint`, at `now`.
    pub(super) async fn read(
        state: &AppState,
        headers: &HeaderMap,
        form: Option<&Form>,
        endpoint: &str,
        now: u64,
    ) -> Result<Self, Error> {
        let dpop_jkt = dpop::proof_key(
            state.dpop(),
            &state.settings().issuer,
            endpoint,
            dpop_proof(headers)?,
            now,
        )?;
        let resource = form.and_then(|form| form.get("resource"));
        let api = apis::target(state.store(), resource).await?;
        Ok(Self { api, dpop_jkt })
    }

    /// `granted`, narrowed to what the API offers (`requested`: whether the
    /// client named its scopes).
    pub(super) fn scope(&self, granted: String, requested: bool) -> Result<String, Error> {
        match &self.api {
            Some(api) => apis::narrow_scope(api, &granted, requested),
            None => Ok(granted),
        }
    }

    /// The token options: audience and DPoP binding.
    pub(super) fn options(&self) -> TokenOptions {
        TokenOptions {
            audience: self.api.as_ref().map(|api| api.resource.clone()),
            dpop_jkt: self.dpop_jkt.clone(),
        }
    }
}
