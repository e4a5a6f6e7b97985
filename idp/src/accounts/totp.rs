//! RFC 6238 time-based one-time passwords, on RFC 4226 HOTP with
//! HMAC-SHA-1 (aws-lc-rs), as every authenticator app computes them: a
//! 160-bit secret shown in base32, 30-second steps, 6 digits. Time is a
//! parameter, so the RFC's Appendix B vectors and the step tolerance are
//! tested without a clock.

use aws_lc_rs::hmac;
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Seconds per time step (RFC 6238's default X).
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Secret length: 160 bits, RFC 4226's recommendation.
pub const SECRET_BYTES: usize = 20;
/// Steps accepted either side of the current one (clock drift, typing).
pub const TOLERANCE: u64 = 1;

/// The RFC 4226 HOTP value of `secret` at `counter`, `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    // Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte
    // picks four bytes, whose top bit is dropped.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The time step of Unix time `now`.
pub fn step_at(now: u64) -> u64 {
    now / STEP_SECONDS
}

/// The code for `step`, zero-padded to `digits`.
pub fn code_at(secret: &[u8], step: u64, digits: u32) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "{:0width$}",
        hotp(secret, step, digits),
        width = digits as usize
    ))
}

/// The step within [`TOLERANCE`] of `now` whose 6-digit code is `code`,
/// latest first; compared in constant time. Whether that step was already
/// used is the caller's to check.
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    (current.saturating_sub(TOLERANCE)..=current.saturating_add(TOLERANCE))
        .rev()
        .find(|&step| {
            bool::from(
                code_at(secret, step, DIGITS)
                    .as_bytes()
                    .ct_eq(code.as_bytes()),
            )
        })
}

/// A fresh random secret.
pub fn new_secret() -> Zeroizing<Vec<u8>> {
    let mut secret = Zeroizing::new(vec![0u8; SECRET_BYTES]);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// The secret as authenticator apps take it typed in: base32, no padding.
pub fn base32(secret: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(BASE32_NOPAD.encode(secret))
}

/// The `otpauth://totp/` URI (the Key URI Format authenticator apps read
/// from a QR code): labelled `issuer:account`, with the issuer repeated as a
/// parameter and the algorithm, digits and period spelled out.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> Zeroizing<String> {
    use percent_encoding::utf8_percent_encode;
    let issuer = utf8_percent_encode(issuer, super::URL_COMPONENT).to_string();
    let account = utf8_percent_encode(account, super::URL_COMPONENT).to_string();
    Zeroizing::new(format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        base32(secret).as_str()
    ))
}

/// The URI as a QR code, an SVG document rendered here (no script, no
/// external reference), for enrolment pages to show as it is.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows: seed "12345678901234567890",
    /// 30-second steps, 8 digits.
    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let seed = b"12345678901234567890";
        for (time, expected) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                code_at(seed, step_at(time), 8).as_str(),
                expected,
                "T={time}"
            );
        }
    }

    /// RFC 4226 Appendix D: HOTP values of the same seed, 6 digits.
    #[test]
    fn rfc4226_appendix_d_vectors() {
        let seed = b"12345678901234567890";
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, value) in expected.into_iter().enumerate() {
            assert_eq!(hotp(seed, counter as u64, 6), value, "counter {counter}");
        }
    }

    #[test]
    fn one_step_either_side_is_accepted_and_no_further() {
        let secret = b"12345678901234567890";
        let now = 1_700_000_015;
        let step = step_at(now);
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let at = step.checked_add_signed(offset).expect("step");
            let code = code_at(secret, at, DIGITS);
            let found = matching_step(secret, &code, now);
            assert_eq!(found.is_some(), accepted, "offset {offset}");
            if accepted {
                assert_eq!(found, Some(at));
            }
        }
        for bad in ["", "12345", "1234567", "12a456", " 123456"] {
            assert_eq!(matching_step(secret, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn uris_and_qr_codes() {
        let uri = otpauth_uri(
            "idp.test:8443",
            "ann+x@example.com",
            b"12345678901234567890",
        );
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/idp.test%3A8443:ann%2Bx%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=idp.test%3A8443&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).expect("renders");
        assert!(svg.contains("<svg") && !svg.contains("<script"), "{svg}");
        assert_eq!(new_secret().len(), SECRET_BYTES);
        assert_ne!(new_secret(), new_secret());
    }
}
