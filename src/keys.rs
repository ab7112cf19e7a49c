//! Key files: the sequencer key and member keys a data directory holds.
//!
//! Secrets are 32 bytes in hex, one file each, created with mode 0600 so that only the
//! operator can read them. Generating keys is the one place ostrom draws randomness
//! outside a policy's seeded stream, and it never touches the log's determinism: only
//! public keys enter entries.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ostrom_schemas::{CommunityId, PublicKey, SigningKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no key for {0} in {1}")]
    Missing(String, PathBuf),
    #[error("key file {0} is damaged: {1}")]
    Damaged(PathBuf, String),
    #[error("key file {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Where one community's keys live.
pub struct KeyDir {
    root: PathBuf,
}

pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

pub fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// A file name for a member: the name itself when it is plain, else its hex.
fn file_stem(member: &str) -> String {
    let plain = member
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !member.starts_with('.');
    if plain {
        member.to_owned()
    } else {
        format!("x-{}", hex::encode(member.as_bytes()))
    }
}

impl KeyDir {
    pub fn new(data: &Path, community: CommunityId) -> KeyDir {
        KeyDir {
            root: data.join("keys").join(community.to_hex()),
        }
    }

    fn sequencer_path(&self) -> PathBuf {
        self.root.join("sequencer.key")
    }

    fn member_path(&self, member: &str) -> PathBuf {
        self.root
            .join("members")
            .join(format!("{}.key", file_stem(member)))
    }

    pub fn save_sequencer(&self, key: &SigningKey) -> Result<(), KeyError> {
        write_secret(&self.sequencer_path(), key)
    }

    pub fn save_member(&self, member: &str, key: &SigningKey) -> Result<(), KeyError> {
        write_secret(&self.member_path(member), key)
    }

    pub fn sequencer(&self) -> Result<SigningKey, KeyError> {
        read_secret(&self.sequencer_path(), "the sequencer")
    }

    pub fn member(&self, member: &str) -> Result<SigningKey, KeyError> {
        read_secret(&self.member_path(member), member)
    }

    pub fn has_sequencer(&self) -> bool {
        self.sequencer_path().exists()
    }
}

fn write_secret(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let io = |error| KeyError::Io(path.to_owned(), error);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(parent, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
    }
    write_private(
        path,
        format!("{}\n", hex::encode(key.to_bytes())).as_bytes(),
    )
    .map_err(io)
}

/// Write a new secret file readable only by its owner (0600), durably; never overwrites.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn read_secret(path: &Path, whom: &str) -> Result<SigningKey, KeyError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing(
                whom.to_owned(),
                path.parent().unwrap_or(path).to_owned(),
            ))
        }
        Err(error) => return Err(KeyError::Io(path.to_owned(), error)),
    };
    let bytes = hex::decode(text.trim())
        .map_err(|error| KeyError::Damaged(path.to_owned(), error.to_string()))?;
    let secret: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::Damaged(path.to_owned(), "expected 32 bytes".into()))?;
    Ok(SigningKey::from_bytes(&secret))
}
