//! What the IdP writes to people: plain text, one link per message at most,
//! on a line of its own. The link carries a single-use token, so an
//! [`Outgoing`] shows only its kind in `Debug`.

/// A message to send.
#[derive(Clone)]
pub struct Outgoing {
    kind: &'static str,
    subject: &'static str,
    body: String,
}

/// The kind only: the body holds a token.
impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Outgoing {
    /// A password-reset link, valid for `minutes`.
    pub fn password_reset(link: &str, minutes: u64) -> Self {
        Self {
            kind: "password_reset",
            subject: "Reset your password",
            body: format!(
                "Someone asked to reset the password of the account with this address.\n\
                 If it was you, open this link within {minutes} minutes to choose a new one:\n\
                 \n\
                 {link}\n\
                 \n\
                 The link works once. Resetting the password signs the account out everywhere.\n\
                 If it was not you, ignore this message: the password stays as it is.\n"
            ),
        }
    }

    /// An email-verification link.
    pub fn email_verification(link: &str) -> Self {
        Self {
            kind: "email_verification",
            subject: "Confirm your email address",
            body: format!(
                "Please confirm that this address is yours by opening this link:\n\
                 \n\
                 {link}\n\
                 \n\
                 The link works once. If you did not create an account, ignore this message.\n"
            ),
        }
    }

    /// Someone tried to sign up with an address that already has an
    /// account: its owner is told, the stranger is not.
    pub fn signup_with_existing_address() -> Self {
        Self {
            kind: "signup_existing",
            subject: "Someone tried to create an account with your address",
            body: "Someone tried to create a new account with this email address, which \
                   already has one.\n\
                   If it was you, sign in with your password instead, or ask for a password \
                   reset if you forgot it.\n\
                   If it was not you, nothing has changed and you can ignore this message.\n"
                .into(),
        }
    }

    /// The account's password was changed (`by_link`: with a mailed reset
    /// link; otherwise by someone signed in who knew the old one).
    pub fn password_changed(by_link: bool) -> Self {
        let how = if by_link {
            "with a password-reset link mailed to this address"
        } else {
            "by someone signed in to it who knew the previous password"
        };
        Self {
            kind: "password_changed",
            subject: "Your password was changed",
            body: format!(
                "The password of the account with this address was just changed, {how}.\n\
                 Every other sign-in of the account was ended.\n\
                 If it was you, there is nothing to do.\n\
                 If it was not you, someone else controls your account or your mailbox: ask \
                 for a password reset from the sign-in page (\"Forgot your password?\") \
                 right away, and secure your email account.\n"
            ),
        }
    }

    /// Two-step sign-in (a TOTP authenticator) was turned on or off.
    pub fn second_factor_changed(enabled: bool) -> Self {
        let (subject, what) = if enabled {
            (
                "Two-step sign-in is on",
                "Two-step sign-in was turned on for the account with this address: \
                 signing in now also asks for a code from an authenticator app.",
            )
        } else {
            (
                "Two-step sign-in is off",
                "Two-step sign-in was turned off for the account with this address: \
                 signing in now asks for the password alone.",
            )
        };
        Self {
            kind: if enabled {
                "second_factor_on"
            } else {
                "second_factor_off"
            },
            subject,
            body: format!(
                "{what}\n\
                 If it was you, there is nothing to do.\n\
                 If it was not you, someone else can sign in to your account: change your \
                 password, or ask for a reset from the sign-in page, right away.\n"
            ),
        }
    }

    /// A recovery code was used (to sign in, or to change two-step
    /// sign-in); `left` remain.
    pub fn recovery_code_used(left: u32) -> Self {
        let advice = match left {
            0 => "No recovery code is left: make new ones on your account page now, or you \
                  may lose access if you lose your authenticator app."
                .to_owned(),
            1..=3 => {
                format!("{left} recovery codes are left: make new ones on your account page soon.")
            }
            _ => format!("{left} recovery codes are left."),
        };
        Self {
            kind: "recovery_code_used",
            subject: "A recovery code was used",
            body: format!(
                "One of the recovery codes of the account with this address was just used \
                 instead of the authenticator app.\n\
                 {advice}\n\
                 If it was not you, someone has your password and a recovery code: change \
                 your password and make new recovery codes right away.\n"
            ),
        }
    }

    /// The account was deleted at its owner's request.
    pub fn account_deleted() -> Self {
        Self {
            kind: "account_deleted",
            subject: "Your account was deleted",
            body: "The account with this address was deleted, at the request of someone \
                   signed in to it who knew its password. Its personal data (email address, \
                   name, password, two-step sign-in) is gone, and every application signed in \
                   with it has been signed out.\n\
                   If it was not you, someone else had your password: it no longer opens \
                   anything here, but change it wherever else you use it.\n"
                .into(),
        }
    }

    /// What kind of message this is, for logs.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The subject line.
    pub fn subject(&self) -> &'static str {
        self.subject
    }

    /// The text.
    pub fn body(&self) -> String {
        self.body.clone()
    }
}
