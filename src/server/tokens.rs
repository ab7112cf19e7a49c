//! Bearer tokens: each bound to one member of one community, stored hashed, revocable.
//!
//! A token reads `ost_<id>_<secret>`: the id (8 random bytes, hex) finds the record, the
//! secret (32 random bytes, hex) proves possession. Only blake3 of the secret (under a
//! domain tag) is stored, in `DATA/tokens.json`, written atomically (temporary file,
//! fsync, rename), so a stolen file does not give anyone a token, and a crash never leaves
//! half a file. Comparison is constant-time. Tokens live beside the log, not in it: they
//! are how the server authenticates a member, while the log records what the server then
//! signed on that member's behalf.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use ostrom_schemas::CommunityId;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// Domain tag of a stored token hash.
pub const TOKEN_HASH_DOMAIN: &str = "ostrom/token/v1";
/// Tokens one data directory holds at most (revoked ones included).
pub const TOKENS_MAX: usize = 1_000_000;
/// A token's text is at most this long; anything longer is not a token.
pub const TOKEN_BYTES_MAX: usize = 128;

const TOKEN_PREFIX: &str = "ost_";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub community: CommunityId,
    pub member: String,
    /// hex of blake3(TOKEN_HASH_DOMAIN || secret)
    pub secret_hash: String,
    pub label: String,
    pub issued_at_ms: u64,
    pub revoked: bool,
}

/// Why a token does not authenticate; each has a stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the bearer token is malformed or unknown")]
    Invalid,
    #[error("the bearer token has been revoked")]
    Revoked,
    #[error("the bearer token belongs to another community")]
    WrongCommunity,
    #[error("no token {0}")]
    UnknownId(String),
    #[error("too many tokens in this data directory")]
    Full,
    #[error("token file {0}: {1}")]
    Io(PathBuf, String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Invalid => "invalid_token",
            TokenError::Revoked => "revoked_token",
            TokenError::WrongCommunity => "wrong_community",
            TokenError::UnknownId(_) => "unknown_token",
            TokenError::Full => "limit",
            TokenError::Io(..) => "io_error",
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: BTreeMap<String, TokenRecord>,
}

/// The data directory's tokens, in memory and on disk.
pub struct TokenStore {
    path: PathBuf,
    tokens: RwLock<BTreeMap<String, TokenRecord>>,
}

fn secret_hash(secret: &str) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(TOKEN_HASH_DOMAIN.as_bytes());
    hasher.update(secret.as_bytes());
    hasher.finalize()
}

/// Split `ost_<id>_<secret>`.
fn parse(token: &str) -> Option<(&str, &str)> {
    if token.len() > TOKEN_BYTES_MAX {
        return None;
    }
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |text: &str, bytes: usize| {
        text.len() == bytes * 2 && text.bytes().all(|b| b.is_ascii_hexdigit())
    };
    (hex(id, 8) && hex(secret, 32)).then_some((id, secret))
}

impl TokenStore {
    pub fn path(data: &Path) -> PathBuf {
        data.join("tokens.json")
    }

    /// Load the data directory's tokens (none yet is fine).
    pub fn open(data: &Path) -> Result<TokenStore, TokenError> {
        let path = TokenStore::path(data);
        let tokens = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<TokenFile>(&bytes)
                    .map_err(|error| TokenError::Io(path.clone(), error.to_string()))?
                    .tokens
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => return Err(TokenError::Io(path, error.to_string())),
        };
        Ok(TokenStore {
            path,
            tokens: RwLock::new(tokens),
        })
    }

    /// Issue a token for `member` of `community`; returns the token text, which is shown
    /// once and never stored.
    pub fn issue(
        &self,
        community: CommunityId,
        member: &str,
        label: &str,
        issued_at_ms: u64,
    ) -> Result<(String, TokenRecord), TokenError> {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let (id, secret) = (hex::encode(id), hex::encode(secret));
        let record = TokenRecord {
            id: id.clone(),
            community,
            member: member.to_owned(),
            secret_hash: secret_hash(&secret).to_hex().to_string(),
            label: label.to_owned(),
            issued_at_ms,
            revoked: false,
        };
        let mut tokens = self.tokens.write().expect("token lock");
        if tokens.len() >= TOKENS_MAX {
            return Err(TokenError::Full);
        }
        let mut next = tokens.clone();
        next.insert(id.clone(), record.clone());
        self.save(&next)?;
        *tokens = next;
        Ok((format!("{TOKEN_PREFIX}{id}_{secret}"), record))
    }

    /// Revoke a token by id; it stops working at once.
    pub fn revoke(&self, id: &str) -> Result<TokenRecord, TokenError> {
        let mut tokens = self.tokens.write().expect("token lock");
        let mut next = tokens.clone();
        let record = next
            .get_mut(id)
            .ok_or_else(|| TokenError::UnknownId(id.to_owned()))?;
        record.revoked = true;
        let record = record.clone();
        self.save(&next)?;
        *tokens = next;
        Ok(record)
    }

    pub fn get(&self, id: &str) -> Option<TokenRecord> {
        self.tokens.read().expect("token lock").get(id).cloned()
    }

    /// Tokens of one community, ordered by id.
    pub fn list(&self, community: CommunityId) -> Vec<TokenRecord> {
        self.tokens
            .read()
            .expect("token lock")
            .values()
            .filter(|record| record.community == community)
            .cloned()
            .collect()
    }

    /// Who a token speaks for in `community`.
    pub fn authenticate(&self, community: CommunityId, token: &str) -> Result<String, TokenError> {
        let (id, secret) = parse(token).ok_or(TokenError::Invalid)?;
        let tokens = self.tokens.read().expect("token lock");
        let record = tokens.get(id).ok_or(TokenError::Invalid)?;
        // Compare hex with hex: no decoding, and constant-time either way.
        let presented = secret_hash(secret).to_hex();
        if !bool::from(presented.as_bytes().ct_eq(record.secret_hash.as_bytes())) {
            return Err(TokenError::Invalid);
        }
        if record.revoked {
            return Err(TokenError::Revoked);
        }
        if record.community != community {
            return Err(TokenError::WrongCommunity);
        }
        Ok(record.member.clone())
    }

    fn save(&self, tokens: &BTreeMap<String, TokenRecord>) -> Result<(), TokenError> {
        let io = |error: std::io::Error| TokenError::Io(self.path.clone(), error.to_string());
        let bytes = serde_json::to_vec_pretty(&TokenFile {
            tokens: tokens.clone(),
        })
        .expect("tokens always encode");
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let temporary = self.path.with_extension("json.tmp");
        {
            let mut file = open_private(&temporary).map_err(io)?;
            file.write_all(&bytes).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&temporary, &self.path).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io)
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn community(byte: u8) -> CommunityId {
        CommunityId([byte; 16])
    }

    #[test]
    fn a_token_authenticates_its_member_only_in_its_community_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (token, record) = store.issue(community(1), "alice", "test", 5).unwrap();
        assert_eq!(store.authenticate(community(1), &token).unwrap(), "alice");
        assert_eq!(
            store.authenticate(community(2), &token),
            Err(TokenError::WrongCommunity)
        );
        let mut forged = token.clone();
        forged.replace_range(
            forged.len() - 1..,
            if token.ends_with('0') { "1" } else { "0" },
        );
        assert_eq!(
            store.authenticate(community(1), &forged),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            store.authenticate(community(1), "Bearer nonsense"),
            Err(TokenError::Invalid)
        );

        // Reopened from disk, the token still works; the file holds no secret.
        let reopened = TokenStore::open(dir.path()).unwrap();
        assert_eq!(
            reopened.authenticate(community(1), &token).unwrap(),
            "alice"
        );
        let file = std::fs::read_to_string(TokenStore::path(dir.path())).unwrap();
        assert!(!file.contains(token.rsplit('_').next().unwrap()));

        reopened.revoke(&record.id).unwrap();
        assert_eq!(
            reopened.authenticate(community(1), &token),
            Err(TokenError::Revoked)
        );
    }
}
