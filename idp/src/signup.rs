//! Creating an account: one path for `POST /user` and the sign-up page,
//! so both apply the same rules (a valid email, a name of 1 to 200
//! characters, bcrypt's password rules) and the account exists, durably,
//! before either answers.

use zeroize::Zeroizing;

use crate::credentials::MAX_EMAIL;
use crate::error::Error;
use crate::passwords::validate_password;
use crate::state::AppState;
use crate::store::{StoreError, UserRow};
use crate::{metrics, unix_now};

/// Longest accepted display name, in characters.
pub const MAX_NAME: usize = 200;

/// Creates an account; [`Error::EmailTaken`] if the email is in use,
/// `invalid_request` naming the field that is wrong.
pub async fn create_account(
    state: &AppState,
    email: &str,
    name: &str,
    password: Zeroizing<String>,
) -> Result<UserRow, Error> {
    let email = email.trim().to_owned();
    if email.len() > MAX_EMAIL || !email_address::EmailAddress::is_valid(&email) {
        return Err(Error::invalid_request("email is not a valid address"));
    }
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid_request(
            "name must be 1 to 200 characters, without control characters",
        ));
    }
    validate_password(&password).map_err(Error::invalid_request)?;
    let password_hash = state.passwords().hash(password).await?;
    let user = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        name,
        password_hash,
        scope: String::new(),
        created_at: unix_now(),
    };
    let row = user.clone();
    match state.store().run(move |db| db.insert_user(&row)).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(Error::EmailTaken),
        Err(e) => return Err(e.into()),
    }
    metrics::inc(&state.metrics().signups);
    tracing::info!(user = %user.id, "user signed up");
    Ok(user)
}
