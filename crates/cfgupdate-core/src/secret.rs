//! A credential that is never shown: the one type the adapters keep tokens, passphrases and
//! signing keys in.

use std::fmt;

/// A credential (a token, a passphrase, a signing key): its `Debug` and `Display` never show
/// it, and an empty value is no credential at all, so that an exported but empty variable
/// fails closed instead of standing for an empty token.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `value`; `None` when it is empty.
    pub fn new(value: impl Into<String>) -> Option<Self> {
        Self::from_bytes(value.into().into_bytes())
    }

    /// Wraps raw bytes (a decoded signing key); `None` when there are none.
    pub fn from_bytes(value: Vec<u8>) -> Option<Self> {
        (!value.is_empty()).then_some(Self(value))
    }

    /// The secret's bytes, to compare, sign or send with; never to show.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as text, to hand to a library that wants a string; `None` when its bytes
    /// are not UTF-8 (only [`Secret::from_bytes`] makes such a secret).
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_never_shown_and_an_empty_one_is_none() {
        let secret = Secret::new("hunter2").unwrap();
        assert_eq!(
            format!("{secret:?} {secret} {:?}", Some(&secret)),
            "Secret(***) *** Some(Secret(***))"
        );
        assert_eq!(secret.expose_bytes(), b"hunter2");
        assert_eq!(secret.expose_str(), Some("hunter2"));
        assert_eq!(Secret::new(""), None);
        assert_eq!(Secret::from_bytes(Vec::new()), None);
        assert_eq!(Secret::from_bytes(vec![0xff]).unwrap().expose_str(), None);
    }
}
