//! Fixed-size byte strings: hashes, keys, signatures and community ids.
//!
//! They encode as raw fixed-length tuples in postcard (the canonical form, no length
//! prefix) and as lowercase hex strings in JSON, so exported logs and API answers stay
//! readable while hashes and signatures cover only the compact binary form.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! byte_array {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;
            pub const ZERO: Self = Self([0; $len]);

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            pub fn from_hex(text: &str) -> Result<Self, String> {
                let bytes = hex::decode(text).map_err(|error| format!("not hex: {error}"))?;
                let array: [u8; $len] = bytes.try_into().map_err(|bytes: Vec<u8>| {
                    format!("expected {} bytes, got {}", $len, bytes.len())
                })?;
                Ok(Self(array))
            }

            /// The first bytes in hex, for people reading logs.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..6])
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::ZERO
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&self.to_hex())
                } else {
                    use serde::ser::SerializeTuple;
                    let mut tuple = serializer.serialize_tuple($len)?;
                    for byte in &self.0 {
                        tuple.serialize_element(byte)?;
                    }
                    tuple.end()
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    Self::from_hex(&text).map_err(D::Error::custom)
                } else {
                    struct ArrayVisitor;
                    impl<'de> Visitor<'de> for ArrayVisitor {
                        type Value = [u8; $len];
                        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                            write!(f, "{} bytes", $len)
                        }
                        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                            let mut array = [0u8; $len];
                            for (index, slot) in array.iter_mut().enumerate() {
                                *slot = seq
                                    .next_element()?
                                    .ok_or_else(|| A::Error::invalid_length(index, &self))?;
                            }
                            Ok(array)
                        }
                    }
                    deserializer.deserialize_tuple($len, ArrayVisitor).map($name)
                }
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "description": concat!(stringify!($len), " bytes, lowercase hex"),
                    "pattern": concat!("^[0-9a-f]{", stringify!($len), "}$").replace(stringify!($len), &($len * 2).to_string()),
                })
            }
        }
    };
}

byte_array!(
    /// A blake3 digest.
    Hash,
    32
);
byte_array!(
    /// An ed25519 public key (compressed Edwards point).
    PublicKey,
    32
);
byte_array!(
    /// An ed25519 signature.
    Signature,
    64
);
byte_array!(
    /// A community's identifier: derived from its name and founding sequencer key.
    CommunityId,
    16
);

impl Hash {
    /// blake3 of `domain || 0x00 || parts...`: every hash in ostrom is domain-separated so that a
    /// digest of one kind can never be presented as a digest of another.
    pub fn tagged(domain: &str, parts: &[&[u8]]) -> Hash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(domain.as_bytes());
        hasher.update(&[0]);
        for part in parts {
            hasher.update(part);
        }
        Hash(*hasher.finalize().as_bytes())
    }
}
