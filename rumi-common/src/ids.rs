//! Validated identifiers. Past the edge of the system no code handles a raw pack id string.

use std::fmt;

/// Permission ids served by rumi-capd itself. They skip the handler trust check (they are
/// part of Rumi) and no capability handler may claim them.
pub const BUILTIN_PERMISSIONS: &[&str] = &[
    "secrets.get",
    "store.get",
    "store.set",
    "store.delete",
    "store.list",
    "store.batch_get",
    "store.cas",
    "pack.inbox.send",
    "pack.update.propose_patch",
];

/// Longest pack id accepted (the original's `^[a-zA-Z0-9_-]{1,64}$`).
pub const MAX_PACK_ID_LEN: usize = 64;

/// A pack id: 1–64 characters of `[A-Za-z0-9_-]`, without `__` (which separates the levels
/// of a capability principal such as `pack__worker`).
///
/// # Security
/// The charset keeps a pack id safe to use as a file name (`{id}.json`, `{id}.sock`) and in
/// audit lines: no separators, no dots, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PackId(String);

/// Why a string is not a valid [`PackId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackIdError {
    #[error("pack id is empty")]
    Empty,
    #[error("pack id is longer than {MAX_PACK_ID_LEN} characters")]
    TooLong,
    #[error("pack id may only contain letters, digits, '_' and '-'")]
    BadCharacter,
    #[error("pack id may not contain \"__\" (it separates levels of a capability principal)")]
    DoubleUnderscore,
}

impl PackId {
    /// Validates `s` as a pack id.
    ///
    /// # Errors
    /// [`PackIdError`] when `s` is empty, too long or has a character outside `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, PackIdError> {
        if s.is_empty() {
            return Err(PackIdError::Empty);
        }
        if s.len() > MAX_PACK_ID_LEN {
            return Err(PackIdError::TooLong);
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(PackIdError::BadCharacter);
        }
        if s.contains("__") {
            return Err(PackIdError::DoubleUnderscore);
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PackId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_ids_are_validated() {
        for ok in ["a", "hello", "my-pack_2", &"x".repeat(64)] {
            assert!(PackId::parse(ok).is_ok(), "{ok}");
        }
        let bad: [(&str, PackIdError); 10] = [
            ("a__b", PackIdError::DoubleUnderscore),
            ("", PackIdError::Empty),
            (&"x".repeat(65), PackIdError::TooLong),
            ("..", PackIdError::BadCharacter),
            ("a/b", PackIdError::BadCharacter),
            ("a.b", PackIdError::BadCharacter),
            ("a b", PackIdError::BadCharacter),
            ("a\nb", PackIdError::BadCharacter),
            ("é", PackIdError::BadCharacter),
            ("a\0", PackIdError::BadCharacter),
        ];
        for (s, want) in bad {
            assert_eq!(PackId::parse(s), Err(want), "{s:?}");
        }
    }
}
