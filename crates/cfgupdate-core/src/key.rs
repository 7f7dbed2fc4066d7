//! The state key (`CFGUPDATE_STATE_KEY`, `docs/promotion.md#state-only-cfgupdate-can-write`): how
//! cfgupdate tells what it wrote itself (its commits' trailers, its state document) from what
//! anyone who can push to the config repository could have written.
//!
//! The core never reads the key from anywhere: the binary hands it over as plain data. Two
//! keys are derived from it, one for commit seals and one for state documents, so that a tag
//! made for one can never pass as the other.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The fewest bytes a state key may have: 128 bits.
pub const MIN_STATE_KEY_LEN: usize = 16;

/// The secret shared by the service's replicas and the CLI. Its `Debug` never shows it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StateKey {
    seal: [u8; 32],
    state: [u8; 32],
}

/// Why a state key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateKeyError {
    /// Too short to be a secret.
    #[error(
        "the state key is {len} bytes long; it needs at least {MIN_STATE_KEY_LEN} (for example the output of `openssl rand -hex 32`)"
    )]
    TooShort {
        /// Its length.
        len: usize,
    },
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateKey(<secret>)")
    }
}

fn mac_over(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for part in parts {
        // Each part is preceded by its length, so no two lists of parts share a tag.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

impl StateKey {
    /// The key from the secret's bytes (a trailing newline is the caller's to remove).
    pub fn new(secret: &[u8]) -> Result<Self, StateKeyError> {
        if secret.len() < MIN_STATE_KEY_LEN {
            return Err(StateKeyError::TooShort { len: secret.len() });
        }
        let derive = |label: &[u8]| -> [u8; 32] {
            mac_over(secret, &[label]).finalize().into_bytes().into()
        };
        Ok(Self {
            seal: derive(b"cfgupdate commit seal v1"),
            state: derive(b"cfgupdate state document v1"),
        })
    }

    /// The hex tag sealing a commit message.
    #[cfg_attr(not(feature = "render"), allow(dead_code))]
    pub(crate) fn seal_tag(&self, parts: &[&[u8]]) -> String {
        hex::encode(mac_over(&self.seal, parts).finalize().into_bytes())
    }

    /// Whether `tag` (hex) seals `parts`, compared in constant time.
    #[cfg_attr(not(feature = "render"), allow(dead_code))]
    pub(crate) fn seal_matches(&self, parts: &[&[u8]], tag: &str) -> bool {
        matches(&self.seal, parts, tag)
    }

    /// The hex tag authenticating a state document.
    // Used by the pipeline state, which is built with the `render` feature.
    #[cfg_attr(not(feature = "render"), allow(dead_code))]
    pub(crate) fn state_tag(&self, parts: &[&[u8]]) -> String {
        hex::encode(mac_over(&self.state, parts).finalize().into_bytes())
    }

    /// Whether `tag` (hex) authenticates `parts`, compared in constant time.
    // Used by the pipeline state, which is built with the `render` feature.
    #[cfg_attr(not(feature = "render"), allow(dead_code))]
    pub(crate) fn state_matches(&self, parts: &[&[u8]], tag: &str) -> bool {
        matches(&self.state, parts, tag)
    }
}

fn matches(key: &[u8], parts: &[&[u8]], tag: &str) -> bool {
    match hex::decode(tag) {
        Ok(bytes) => mac_over(key, parts).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_key_is_refused_and_a_key_never_shows_in_debug() {
        assert_eq!(
            StateKey::new(b"short"),
            Err(StateKeyError::TooShort { len: 5 })
        );
        let key = StateKey::new(b"0123456789abcdef-hunter2").unwrap();
        assert!(!format!("{key:?}").contains("hunter2"));
    }

    #[test]
    fn a_seal_tag_does_not_authenticate_a_state_document_or_other_parts() {
        let key = StateKey::new(b"0123456789abcdef").unwrap();
        let tag = key.seal_tag(&[b"a", b"bc"]);
        assert!(key.seal_matches(&[b"a", b"bc"], &tag));
        assert!(!key.seal_matches(&[b"ab", b"c"], &tag));
        assert!(!key.state_matches(&[b"a", b"bc"], &tag));
        assert!(!key.seal_matches(&[b"a", b"bc"], "not hex"));
        let other = StateKey::new(b"0123456789abcdeF").unwrap();
        assert!(!other.seal_matches(&[b"a", b"bc"], &tag));
    }
}
