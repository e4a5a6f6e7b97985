//! The one error type of the IdP: every way a request can fail, each with
//! its HTTP status and its error code.
//!
//! Domain modules (sessions, clients, keys, passwords, the store) have
//! errors of their own and convert into [`Error`] through the `From` impls
//! here; `http/error.rs` turns an [`Error`] into the JSON answer
//! `{"error": CODE, "error_description": TEXT}` in one place. Descriptions
//! are written for the caller and never carry a password, token, secret or
//! key. Internal failures are logged with their cause when they are
//! converted, and answered with a generic description.

use std::borrow::Cow;

use http::StatusCode;

use crate::clients::{RegistryError, RotateSecretError};
use crate::mail::MailError;
use crate::passwords::PasswordError;
use crate::revocations::FeedError;
use crate::scope::ScopeError;
use crate::secret::Secret;
use crate::signing_keys::KeyManagerError;
use crate::store::StoreError;
use crate::tokens::SignError;

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// 400 `invalid_request`: a malformed, missing or repeated parameter.
    #[error("{0}")]
    InvalidRequest(Cow<'static, str>),
    /// 415 `invalid_request`: the body is not of the expected type.
    #[error("expected Content-Type: {0}")]
    UnsupportedMediaType(&'static str),
    /// 413 `invalid_request`: the body is larger than this many bytes.
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 401 `invalid_client` (RFC 6749 §5.2); with a `Basic` challenge in
    /// this realm when the client tried (or may try) HTTP Basic.
    #[error("client authentication failed")]
    InvalidClient {
        /// The realm of the `WWW-Authenticate: Basic` challenge, if any.
        basic_realm: Option<String>,
    },
    /// 400 `invalid_grant`: a refresh token (or other grant) that is not good.
    #[error("{0}")]
    InvalidGrant(Cow<'static, str>),
    /// 400 `unauthorized_client`: the client authenticated, but may not do
    /// this (revoke another client's token).
    #[error("{0}")]
    UnauthorizedClient(Cow<'static, str>),
    /// 400 `invalid_scope`.
    #[error("{0}")]
    InvalidScope(Cow<'static, str>),
    /// 400 `invalid_target` (RFC 8707 §2): `resource` is malformed or names
    /// no registered API.
    #[error("{0}")]
    InvalidTarget(Cow<'static, str>),
    /// 400 `invalid_dpop_proof` (RFC 9449 §5): the DPoP proof sent to the
    /// token endpoint is not valid, or the refresh token needs one.
    #[error("{0}")]
    InvalidDpopProof(Cow<'static, str>),
    /// 400 `unsupported_grant_type`.
    #[error("grant_type must be authorization_code, client_credentials or refresh_token")]
    UnsupportedGrantType,
    /// 401 `invalid_credentials`, alike for an unknown email and a wrong
    /// password, with a `Basic` challenge in this realm.
    #[error("email or password is incorrect")]
    InvalidCredentials {
        /// The realm of the challenge: the issuer.
        realm: String,
    },
    /// 429 `too_many_attempts`, with `Retry-After`.
    #[error("too many login attempts; retry in {retry_after} s")]
    TooManyAttempts {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 409 `email_taken`.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// 403 `account_disabled`: the right password of a disabled account.
    #[error("this account is disabled")]
    AccountDisabled,
    /// 403 `email_not_verified`: the right password of an account whose
    /// address is not confirmed yet, where `--require-email-verification`
    /// asks for it.
    #[error("confirm your email address first: follow the link mailed to you")]
    EmailNotVerified,
    /// 401 `mfa_required`: the password was right and the account has a
    /// second factor; the body carries the `mfa_token` to send with the
    /// code to `/login/mfa`.
    #[error("a second factor is required: send a code with this mfa_token to /login/mfa")]
    MfaRequired {
        /// Single-use, short-lived: proves the password step.
        mfa_token: Secret,
    },
    /// 401 `invalid_code`: a wrong, expired or already used one-time code.
    #[error("the code is wrong, expired or already used")]
    InvalidCode,
    /// 409 `totp_enrolled`: a second factor is enrolled already.
    #[error("a TOTP second factor is enrolled already; remove it first")]
    TotpEnrolled,

    /// 409 `client_exists`.
    #[error("a client with this id already exists")]
    ClientExists,
    /// 409 `rotation_refused`, saying why.
    #[error("{0}")]
    RotationRefused(String),
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(&'static str),
    /// 405 `method_not_allowed`.
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    /// 410 `cursor_expired`: the revocation feed cannot answer from this
    /// cursor any more (entries after it were purged, or it is from another
    /// database); fetch the full feed.
    #[error(
        "the cursor can no longer be answered incrementally; fetch /revocations without since"
    )]
    CursorExpired,
    /// 408 `request_timeout`.
    #[error("the request took too long")]
    RequestTimeout,
    /// 503 `temporarily_unavailable`, with `Retry-After: 1`.
    #[error("{0}")]
    Unavailable(Cow<'static, str>),
    /// 500 `server_error`; the cause was logged when the error was made.
    #[error("the server failed to handle the request")]
    Internal,
}

impl Error {
    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(description.into())
    }

    /// 400 `invalid_grant`.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidGrant(description.into())
    }

    /// 400 `invalid_scope`.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidScope(description.into())
    }

    /// 500, logging `cause` (which must hold no secret).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::Internal
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_)
            | Self::InvalidGrant(_)
            | Self::UnauthorizedClient(_)
            | Self::InvalidScope(_)
            | Self::InvalidTarget(_)
            | Self::InvalidDpopProof(_)
            | Self::UnsupportedGrantType => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidClient { .. } | Self::InvalidCredentials { .. } => {
                StatusCode::UNAUTHORIZED
            }
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::EmailTaken
            | Self::ClientExists
            | Self::RotationRefused(_)
            | Self::TotpEnrolled => StatusCode::CONFLICT,
            Self::AccountDisabled | Self::EmailNotVerified => StatusCode::FORBIDDEN,
            Self::MfaRequired { .. } | Self::InvalidCode => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::CursorExpired => StatusCode::GONE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::UnsupportedMediaType(_) | Self::PayloadTooLarge(_) => {
                "invalid_request"
            }
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidCredentials { .. } => "invalid_credentials",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::EmailTaken => "email_taken",
            Self::AccountDisabled => "account_disabled",
            Self::EmailNotVerified => "email_not_verified",
            Self::MfaRequired { .. } => "mfa_required",
            Self::InvalidCode => "invalid_code",
            Self::TotpEnrolled => "totp_enrolled",
            Self::ClientExists => "client_exists",
            Self::RotationRefused(_) => "rotation_refused",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::CursorExpired => "cursor_expired",
            Self::RequestTimeout => "request_timeout",
            Self::Unavailable(_) => "temporarily_unavailable",
            Self::Internal => "server_error",
        }
    }

    /// The `WWW-Authenticate` challenge, where the status asks for one.
    pub fn challenge(&self) -> Option<String> {
        match self {
            Self::InvalidClient {
                basic_realm: Some(realm),
            } => Some(format!("Basic realm=\"{realm}\"")),
            Self::InvalidCredentials { realm } => {
                Some(format!("Basic realm=\"{realm}\", charset=\"UTF-8\""))
            }
            _ => None,
        }
    }

    /// Seconds for `Retry-After`, where waiting helps.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyAttempts { retry_after } => Some(*retry_after),
            Self::Unavailable(_) => Some(1),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Self::Unavailable("the database is unavailable, retry shortly".into())
            }
            other => Self::internal(&other),
        }
    }
}

impl From<FeedError> for Error {
    fn from(e: FeedError) -> Self {
        match e {
            FeedError::Malformed => Self::invalid_request("since is not a cursor of this feed"),
            FeedError::CursorExpired => Self::CursorExpired,
            FeedError::Store(e) => e.into(),
            FeedError::Serialize(e) => Self::internal(&e),
        }
    }
}

impl From<PasswordError> for Error {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy => {
                Self::Unavailable("too many logins in progress, retry shortly".into())
            }
            other => Self::internal(&other),
        }
    }
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Taken => Self::ClientExists,
            RegistryError::Store(e) => e.into(),
            other => Self::invalid_request(other.to_string()),
        }
    }
}

impl From<RotateSecretError> for Error {
    fn from(e: RotateSecretError) -> Self {
        match e {
            RotateSecretError::NotFound => Self::NotFound("no such client"),
            RotateSecretError::Store(e) => e.into(),
            other => Self::invalid_request(other.to_string()),
        }
    }
}

impl From<KeyManagerError> for Error {
    fn from(e: KeyManagerError) -> Self {
        match e {
            KeyManagerError::Rotation(why) => Self::RotationRefused(why.to_string()),
            KeyManagerError::Store(e) => e.into(),
            other => Self::internal(&other),
        }
    }
}

impl From<MailError> for Error {
    fn from(e: MailError) -> Self {
        Self::internal(&e)
    }
}

impl From<ScopeError> for Error {
    fn from(e: ScopeError) -> Self {
        Self::invalid_scope(e.to_string())
    }
}

/// DPoP proof refusals at the token endpoint (RFC 9449 §5): 400
/// `invalid_dpop_proof` with the verifier's fixed description.
impl From<resource_server::AuthError> for Error {
    fn from(e: resource_server::AuthError) -> Self {
        Self::InvalidDpopProof(e.to_string().into())
    }
}

impl From<SignError> for Error {
    fn from(e: SignError) -> Self {
        Self::internal(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_status_and_code() {
        let cases = [
            (Error::invalid_request("x"), 400, "invalid_request"),
            (Error::UnsupportedMediaType("a/b"), 415, "invalid_request"),
            (Error::PayloadTooLarge(1), 413, "invalid_request"),
            (
                Error::InvalidClient { basic_realm: None },
                401,
                "invalid_client",
            ),
            (Error::invalid_grant("x"), 400, "invalid_grant"),
            (
                Error::UnauthorizedClient("x".into()),
                400,
                "unauthorized_client",
            ),
            (Error::invalid_scope("x"), 400, "invalid_scope"),
            (Error::InvalidTarget("x".into()), 400, "invalid_target"),
            (
                Error::InvalidDpopProof("x".into()),
                400,
                "invalid_dpop_proof",
            ),
            (Error::UnsupportedGrantType, 400, "unsupported_grant_type"),
            (
                Error::InvalidCredentials { realm: "r".into() },
                401,
                "invalid_credentials",
            ),
            (
                Error::TooManyAttempts { retry_after: 3 },
                429,
                "too_many_attempts",
            ),
            (Error::EmailTaken, 409, "email_taken"),
            (Error::AccountDisabled, 403, "account_disabled"),
            (Error::EmailNotVerified, 403, "email_not_verified"),
            (
                Error::MfaRequired {
                    mfa_token: Secret::new("t".into()),
                },
                401,
                "mfa_required",
            ),
            (Error::InvalidCode, 401, "invalid_code"),
            (Error::TotpEnrolled, 409, "totp_enrolled"),
            (Error::ClientExists, 409, "client_exists"),
            (Error::RotationRefused("x".into()), 409, "rotation_refused"),
            (Error::NotFound("x"), 404, "not_found"),
            (Error::MethodNotAllowed, 405, "method_not_allowed"),
            (Error::CursorExpired, 410, "cursor_expired"),
            (Error::RequestTimeout, 408, "request_timeout"),
            (
                Error::Unavailable("x".into()),
                503,
                "temporarily_unavailable",
            ),
            (Error::Internal, 500, "server_error"),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status().as_u16(), error.code()), (status, code));
        }
    }

    #[test]
    fn unavailable_databases_are_503_and_others_500_without_detail() {
        let busy: Error = StoreError::Unavailable("pool timed out".into()).into();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.retry_after(), Some(1));
        let broken: Error = StoreError::Backend("syntax error near users".into()).into();
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!broken.to_string().contains("users"));
    }
}
