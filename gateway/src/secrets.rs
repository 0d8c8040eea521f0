//! The gateway's secrets: tenant API keys (stored as SHA-256, shown once), provider keys (sealed
//! with AES-256-GCM under the master key, shown masked) and the master key itself; and how a
//! request presents a credential.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// The token of `Authorization: Bearer <token>` (the scheme in any case), if there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The credential a request presents: a bearer token, or else `X-Api-Key` (as Anthropic's SDKs
/// send keys). A blank one is none.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    bearer(headers).or_else(|| {
        let key = headers.get("x-api-key")?.to_str().ok()?.trim();
        (!key.is_empty()).then_some(key)
    })
}

/// A value that must never be printed or logged: `Debug` and `Serialize` show it masked.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("********")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// Why a secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "the master key must be 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`"
    )]
    BadMasterKey,
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error(
        "a provider key cannot be decrypted with this master key: it was sealed under another one \
         (restore the old master key, or delete and re-add the provider's keys; if \
         `agentwatch admin rotate-master-key` was interrupted, the new key is in \
         <data_dir>/master.key.new)"
    )]
    WrongMasterKey,
}

/// The 256-bit key that seals provider keys at rest.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(********)")
    }
}

impl MasterKey {
    /// Parses a key given as 64 hex characters.
    pub fn from_hex(hex_key: &str) -> Result<MasterKey, SecretError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| SecretError::BadMasterKey)?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretError::BadMasterKey)?;
        Ok(MasterKey(cipher))
    }

    /// The key in `path`, made on first use: 32 random bytes, hex, in a file only its owner can
    /// read.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, SecretError> {
        MasterKey::from_hex(&load_or_create_key(path)?)
    }

    /// Seals `plaintext`: a fresh random nonce, then the ciphertext with its tag.
    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>();
        let mut sealed = nonce.to_vec();
        let ciphertext = self
            .0
            .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, SecretError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretError::WrongMasterKey);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::WrongMasterKey)?;
        let plaintext = self
            .0
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| SecretError::WrongMasterKey)?;
        String::from_utf8(plaintext).map_err(|_| SecretError::WrongMasterKey)
    }
}

/// How a tenant key is stored and looked up: SHA-256, hex. Tenant keys are 256 random bits, so a
/// fast unsalted hash is as strong as a slow one and keeps authentication off the latency budget.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new tenant API key: `aw-` and 43 URL-safe characters (256 random bits).
pub fn new_api_key() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = random_bytes::<43>();
    let body: String = bytes.iter().map(|b| ALPHABET[usize::from(b & 63)] as char).collect();
    format!("aw-{body}")
}

/// The first and last four characters of a secret, the rest hidden: `sk-a…wxyz`. Secrets of 12
/// characters or fewer are hidden entirely.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 12 {
        return "********".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The first characters of a tenant key, stored beside its hash so people can tell keys apart.
pub fn key_prefix(key: &str) -> String {
    key.chars().take(7).collect()
}

/// The key in `path` (its text, trimmed), made on first use: 32 random bytes as hex, in a file
/// only its owner can read.
pub(crate) fn load_or_create_key(path: &Path) -> Result<String, SecretError> {
    let io = |source| SecretError::KeyFile { path: path.display().to_string(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = hex::encode(random_bytes::<32>());
            write_private(path, &key).map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes
}

/// Replaces the key file at `path` with `key`, in a way that leaves a complete key file either
/// way: first written beside it as `<path>.new` (returned, for [`commit_key_file`]).
pub(crate) fn stage_key_file(path: &Path, key: &str) -> Result<std::path::PathBuf, SecretError> {
    let staged = path.with_extension("key.new");
    let io = |source| SecretError::KeyFile { path: staged.display().to_string(), source };
    match std::fs::remove_file(&staged) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        _ => {}
    }
    write_private(&staged, key).map_err(io)?;
    Ok(staged)
}

/// Moves a staged key file over the key file.
pub(crate) fn commit_key_file(staged: &Path, path: &Path) -> Result<(), SecretError> {
    std::fs::rename(staged, path)
        .map_err(|source| SecretError::KeyFile { path: path.display().to_string(), source })
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Compares without an early exit, so response timing says nothing about a secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_read_from_a_bearer_token_or_else_x_api_key() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        let both = headers(&[("authorization", "Bearer  tok-1 "), ("x-api-key", "key-2")]);
        assert_eq!(presented(&both), Some("tok-1"));
        assert_eq!(presented(&headers(&[("authorization", "BEARER tok-1")])), Some("tok-1"));
        assert_eq!(presented(&headers(&[("x-api-key", " key-2 ")])), Some("key-2"));
        // Another scheme, or a blank token, is no bearer token.
        let basic = headers(&[("authorization", "Basic dXNlcjpwdw=="), ("x-api-key", "key-2")]);
        assert_eq!(bearer(&basic), None);
        assert_eq!(presented(&basic), Some("key-2"));
        assert_eq!(presented(&headers(&[("authorization", "Bearer   ")])), None);
        assert_eq!(presented(&headers(&[("x-api-key", "  ")])), None);
        assert_eq!(presented(&HeaderMap::new()), None);
    }

    #[test]
    fn a_sealed_key_opens_only_under_its_master_key() {
        let key = MasterKey::from_hex(&"11".repeat(32)).unwrap();
        let sealed = key.seal("sk-live-abcdefghijklmnop");
        assert!(!sealed.windows(8).any(|w| w == b"sk-live-"), "the plaintext leaks");
        assert_eq!(key.open(&sealed).unwrap(), "sk-live-abcdefghijklmnop");
        // Two seals of one key differ (fresh nonces).
        assert_ne!(key.seal("same"), key.seal("same"));

        let other = MasterKey::from_hex(&"22".repeat(32)).unwrap();
        assert!(matches!(other.open(&sealed), Err(SecretError::WrongMasterKey)));
    }

    #[test]
    fn a_master_key_is_created_once_owner_readable_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let sealed = first.seal("secret");
        let again = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_bad_master_key_says_what_a_good_one_looks_like() {
        let err = MasterKey::from_hex("not-hex").unwrap_err().to_string();
        assert!(err.contains("64 hex characters"), "{err}");
        assert!(MasterKey::from_hex(&"ab".repeat(16)).is_err(), "16 bytes is AES-128, refused");
    }

    #[test]
    fn masks_show_first_and_last_four_characters() {
        assert_eq!(mask("sk-proj-1234567890abcdef"), "sk-p…cdef");
        assert_eq!(mask("short-key"), "********");
    }

    #[test]
    fn new_api_keys_are_distinct_and_hash_stably() {
        let (a, b) = (new_api_key(), new_api_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), 46);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        assert_eq!(hash_api_key("abc").len(), 64);
    }
}
