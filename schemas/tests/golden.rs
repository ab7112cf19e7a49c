//! Golden files: `schemas/v1/` must be exactly what the Rust types generate, and the
//! committed vectors must check out the way a verifier in another language would check them.
//!
//! Everything under `schemas/v1/` (a JSON Schema per type, the variant table, the vectors
//! and their keys) is regenerated in memory and compared byte for byte with the committed
//! files, so a change to a type cannot land without a visible change to the files. The
//! remaining tests read only the committed files and re-derive every hash and signature
//! with `blake3` and `ed25519-dalek` directly, following schemas/README.md rather than the
//! crate's helpers, so the README and the vectors are checked against each other too.
//!
//! `OSTROM_UPDATE_GOLDEN=1 cargo test -p ostrom-schemas --test golden` rewrites the files.

#[path = "golden/chain.rs"]
mod chain;
#[path = "golden/variants.rs"]
mod variants;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Once;

use ed25519_dalek::{Signature as DalekSignature, VerifyingKey};
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde_json::Value as Json;

use ostrom_schemas::action::{
    ActionId, ActionSpec, ConstitutionAction, Permissions, PlainAction, PlatformAction, PolicyId,
    PolicyKind, PolicySpec, RoleSpec, RollbackTarget,
};
use ostrom_schemas::bytes::{CommunityId, Hash, PublicKey, Signature};
use ostrom_schemas::entry::{self, Body, Entry};
use ostrom_schemas::record::{
    DataWrite, Effects, Evaluation, HttpExchange, Notification, Outcome, Phase, PolicyFault, Record,
};
use ostrom_schemas::statement::{
    Cosignature, DocumentSpec, Evidence, Founding, MemberSpec, Recovery, RecoveryMessage,
    RecoveryPlan, Signed, Statement, StatementBody, VoteValue,
};
use ostrom_schemas::value::Value;
use ostrom_schemas::verify;

use chain::TestKey;

const UPDATE_VARIABLE: &str = "OSTROM_UPDATE_GOLDEN";
const REGENERATE: &str = "OSTROM_UPDATE_GOLDEN=1 cargo test -p ostrom-schemas --test golden";

// ---------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------

/// `(type name, root schema)` for every type in the v1 schema. Each schema is standalone:
/// the types it refers to are repeated under its `$defs`.
macro_rules! schemas {
    ($($ty:ty),* $(,)?) => {
        vec![$((
            stringify!($ty),
            SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<$ty>(),
        )),*]
    };
}

fn type_schemas() -> Vec<(&'static str, schemars::Schema)> {
    schemas![
        // The envelope and what it carries.
        Entry,
        Body,
        Signed,
        Statement,
        StatementBody,
        Record,
        // Statement payloads.
        Founding,
        MemberSpec,
        DocumentSpec,
        VoteValue,
        Recovery,
        RecoveryPlan,
        Cosignature,
        Evidence,
        // Record payloads.
        Evaluation,
        Effects,
        Phase,
        Outcome,
        DataWrite,
        Notification,
        HttpExchange,
        PolicyFault,
        // Actions.
        ActionSpec,
        ActionId,
        ConstitutionAction,
        PlatformAction,
        PlainAction,
        PolicyId,
        PolicyKind,
        PolicySpec,
        RoleSpec,
        Permissions,
        RollbackTarget,
        // Plain data and fixed-size bytes.
        Value,
        Hash,
        PublicKey,
        Signature,
        CommunityId,
    ]
}

/// Pretty JSON with a final newline; the committed form of every file.
fn pretty(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("golden files serialize");
    text.push('\n');
    text
}

/// The same JSON with object keys in sorted order at every level. Schemas are built as
/// `serde_json` maps, whose order depends on whether some crate in the build enabled
/// serde_json's `preserve_order`; sorting keeps the files independent of that.
fn sort_keys(value: &Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Json::Object(
                keys.into_iter()
                    .map(|key| (key.clone(), sort_keys(&map[key])))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

#[derive(Serialize)]
struct KeyDoc {
    /// What the key does in this vector: `sequencer`, `author`, `cosigner`, `endorser`.
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    name: &'static str,
    /// The 32-byte ed25519 seed (`SigningKey::from_bytes`): every byte is the same.
    seed: String,
    public: String,
}

impl KeyDoc {
    fn new(role: Option<&'static str>, key: TestKey) -> Self {
        KeyDoc {
            role,
            name: key.name,
            seed: hex::encode([key.seed; 32]),
            public: key.public().to_hex(),
        }
    }
}

#[derive(Serialize)]
struct CommunityIdDoc {
    name: String,
    sequencer: String,
    /// `Hash::tagged("ostrom/community/v1", [sequencer, name])`, whose first 16 bytes are
    /// the id.
    digest: String,
    id: String,
}

#[derive(Serialize)]
struct StatementDoc {
    /// postcard of the `Statement` (without author and signature).
    canonical_hex: String,
    /// `Hash::tagged("ostrom/statement/v1", [canonical])`.
    signing_digest: String,
    author: String,
    sig: String,
}

#[derive(Serialize)]
struct CosignatureDoc {
    trustee: String,
    /// postcard of `RecoveryMessage { community, head_seq, head, plan }`.
    message_hex: String,
    /// `Hash::tagged("ostrom/recovery/v1", [message])`.
    digest: String,
    key: String,
    sig: String,
}

#[derive(Serialize)]
struct EndorsementDoc {
    /// The old sequencer key.
    message_hex: String,
    /// `Hash::tagged("ostrom/rotation/v1", [old key])`.
    digest: String,
    key: String,
    sig: String,
}

#[derive(Serialize)]
struct VectorFile<'a> {
    description: &'a str,
    keys: Vec<KeyDoc>,
    entry: &'a Entry,
    canonical_hex: String,
    hash: String,
    signing_digest: String,
    sig: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    community_id: Option<CommunityIdDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statement: Option<StatementDoc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cosignatures: Vec<CosignatureDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endorsement: Option<EndorsementDoc>,
}

fn vector_file(vector: &chain::Vector) -> String {
    let entry = &vector.entry;
    let mut keys = vec![KeyDoc::new(Some("sequencer"), vector.sequencer)];
    keys.extend(
        vector
            .author
            .map(|author| KeyDoc::new(Some("author"), author)),
    );
    keys.extend(
        vector
            .cosigners
            .iter()
            .map(|key| KeyDoc::new(Some("cosigner"), *key)),
    );
    keys.extend(
        vector
            .endorser
            .map(|key| KeyDoc::new(Some("endorser"), key)),
    );

    let signed = entry.statement();
    let community_id = signed.and_then(|signed| match &signed.statement.body {
        StatementBody::CommunityFounded(founding) => Some(CommunityIdDoc {
            name: founding.name.clone(),
            sequencer: founding.sequencer.to_hex(),
            digest: Hash::tagged(
                entry::COMMUNITY_ID_DOMAIN,
                &[founding.sequencer.as_bytes(), founding.name.as_bytes()],
            )
            .to_hex(),
            id: entry::community_id(&founding.name, &founding.sequencer).to_hex(),
        }),
        _ => None,
    });
    let statement = entry.body_signed().map(|signed| StatementDoc {
        canonical_hex: hex::encode(
            postcard::to_stdvec(&signed.statement).expect("statements encode"),
        ),
        signing_digest: entry::statement_signing_digest(&signed.statement).to_hex(),
        author: signed.author.to_hex(),
        sig: signed.sig.to_hex(),
    });
    let cosignatures = match signed.map(|signed| &signed.statement.body) {
        Some(StatementBody::RecoveryInvoked(recovery)) => {
            let message = RecoveryMessage {
                community: &entry.community,
                head_seq: recovery.head_seq,
                head: &recovery.head,
                plan: &recovery.plan,
            };
            recovery
                .cosignatures
                .iter()
                .map(|cosignature| CosignatureDoc {
                    trustee: cosignature.trustee.clone(),
                    message_hex: hex::encode(
                        postcard::to_stdvec(&message).expect("recoveries encode"),
                    ),
                    digest: verify::recovery_digest(&message).to_hex(),
                    key: cosignature.key.to_hex(),
                    sig: cosignature.sig.to_hex(),
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let endorsement = match entry.record() {
        Some(Record::SequencerRotated { new, endorsement }) => Some(EndorsementDoc {
            message_hex: entry.sequencer.to_hex(),
            digest: chain::rotation_digest(&entry.sequencer).to_hex(),
            key: new.to_hex(),
            sig: endorsement.to_hex(),
        }),
        _ => None,
    };
    pretty(&VectorFile {
        description: &vector.description,
        keys,
        entry,
        canonical_hex: hex::encode(&vector.bytes),
        hash: entry.hash().to_hex(),
        signing_digest: entry::entry_signing_digest(&vector.bytes).to_hex(),
        sig: entry.sig.to_hex(),
        community_id,
        statement,
        cosignatures,
        endorsement,
    })
}

/// Point a root schema's references to its own type, which it does not define under
/// `$defs`, at the root (`#`).
///
/// Works around `Value`'s hand-written `JsonSchema` impl (src/value.rs), which refers to
/// itself as `#/$defs/Value`: right inside another type's schema, dangling when `Value` is
/// the root. A no-op for every schema whose references all resolve.
fn resolve_self_references(name: &str, schema: &mut Json) {
    fn walk(node: &mut Json, dangling: &str) {
        match node {
            Json::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if key == "$ref" && item.as_str() == Some(dangling) {
                        *item = Json::from("#");
                    } else {
                        walk(item, dangling);
                    }
                }
            }
            Json::Array(items) => items.iter_mut().for_each(|item| walk(item, dangling)),
            _ => {}
        }
    }
    if schema
        .get("$defs")
        .and_then(|defs| defs.get(name))
        .is_none()
    {
        walk(schema, &format!("#/$defs/{name}"));
    }
}

/// Every file under `schemas/v1/`, by path relative to it, with its expected content.
fn generate() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for (name, schema) in type_schemas() {
        let mut schema = sort_keys(schema.as_value());
        resolve_self_references(name, &mut schema);
        files.push((format!("{name}.schema.json"), pretty(&schema)));
    }
    files.push(("variants.json".to_owned(), pretty(&variants::table())));
    let keys: Vec<KeyDoc> = chain::KEYS
        .into_iter()
        .map(|key| KeyDoc::new(None, key))
        .collect();
    files.push(("vectors/keys.json".to_owned(), pretty(&keys)));
    for vector in chain::build() {
        files.push((
            format!("vectors/{}.json", vector.name),
            vector_file(&vector),
        ));
    }
    files
}

// ---------------------------------------------------------------------------------------
// The committed files
// ---------------------------------------------------------------------------------------

fn v1_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("v1")
}

/// Committed files this test owns: `*.json` directly in `v1/` and in `v1/vectors/`.
fn committed_paths() -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for sub in ["", "vectors"] {
        let Ok(dir) = fs::read_dir(v1_dir().join(sub)) else {
            continue;
        };
        for item in dir {
            let item = item.expect("readable directory entry");
            let name = item.file_name().to_string_lossy().into_owned();
            if item.path().is_file() && name.ends_with(".json") {
                paths.insert(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    paths
}

/// With `OSTROM_UPDATE_GOLDEN=1`, rewrite the files once, before any test reads them (the
/// tests of this binary run in parallel; `Once` makes the others wait for the writer).
fn golden_dir() -> PathBuf {
    static UPDATE: Once = Once::new();
    UPDATE.call_once(|| {
        if std::env::var(UPDATE_VARIABLE).as_deref() != Ok("1") {
            return;
        }
        let files = generate();
        let expected: BTreeSet<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
        for stale in committed_paths() {
            if !expected.contains(stale.as_str()) {
                fs::remove_file(v1_dir().join(&stale)).expect("remove a stale golden file");
            }
        }
        for (path, text) in &files {
            let path = v1_dir().join(path);
            fs::create_dir_all(path.parent().expect("inside v1")).expect("create schemas/v1");
            fs::write(&path, text).expect("write a golden file");
        }
    });
    v1_dir()
}

fn read_json(path: &Path) -> Json {
    let text =
        fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{}: not JSON: {error}", path.display()))
}

/// The committed vectors in seq order, with their file names.
fn committed_vectors() -> Vec<(String, Json)> {
    let dir = golden_dir().join("vectors");
    let vectors: Vec<(String, Json)> = committed_paths()
        .into_iter()
        .filter_map(|path| path.strip_prefix("vectors/").map(str::to_owned))
        .filter(|name| name != "keys.json")
        .map(|name| {
            let json = read_json(&dir.join(&name));
            (name, json)
        })
        .collect();
    assert!(
        vectors.len() >= 20,
        "expected the golden chain in schemas/v1/vectors/, found {} files; run {REGENERATE}",
        vectors.len()
    );
    vectors
}

fn field<'a>(json: &'a Json, name: &str, key: &str) -> &'a str {
    json[key]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: `{key}` is missing or not a string"))
}

fn unhex(name: &str, text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_else(|error| panic!("{name}: {text:?} is not hex: {error}"))
}

// ---------------------------------------------------------------------------------------
// A second, minimal implementation of hashing and signature checks, as README.md states
// them, so the vectors are checked by something other than the code that made them.
// ---------------------------------------------------------------------------------------

/// blake3 over the domain tag's bytes, one zero byte, then the parts.
fn tagged(domain: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(domain.as_bytes());
    hasher.update(&[0]);
    for part in parts {
        hasher.update(part);
    }
    *hasher.finalize().as_bytes()
}

fn verifies(name: &str, what: &str, key: &[u8], digest: &[u8], sig: &[u8]) {
    let key: [u8; 32] = key
        .try_into()
        .unwrap_or_else(|_| panic!("{name}: {what}: key is not 32 bytes"));
    let sig: [u8; 64] = sig
        .try_into()
        .unwrap_or_else(|_| panic!("{name}: {what}: sig is not 64 bytes"));
    let key = VerifyingKey::from_bytes(&key)
        .unwrap_or_else(|error| panic!("{name}: {what}: bad key: {error}"));
    key.verify_strict(digest, &DalekSignature::from_bytes(&sig))
        .unwrap_or_else(|error| panic!("{name}: {what}: signature does not verify: {error}"));
}

/// The envelope's fields as README.md lays them out: read from the front up to the body
/// tag, and from the back for the fixed-size sequencer key and signature.
struct Envelope<'a> {
    version: u64,
    community: &'a [u8],
    seq: u64,
    prev: &'a [u8],
    at_ms: u64,
    body_tag: u64,
    /// The body's bytes after its tag.
    body: &'a [u8],
    sequencer: &'a [u8],
    sig: &'a [u8],
}

fn split_envelope(bytes: &[u8]) -> Envelope<'_> {
    let mut at = 0;
    let varint = |bytes: &[u8], at: &mut usize| {
        let (value, length) = variants::read_varint(&bytes[*at..]);
        *at += length;
        value
    };
    let version = varint(bytes, &mut at);
    let community = &bytes[at..at + 16];
    at += 16;
    let seq = varint(bytes, &mut at);
    let prev = &bytes[at..at + 32];
    at += 32;
    let at_ms = varint(bytes, &mut at);
    let body_tag = varint(bytes, &mut at);
    let end = bytes.len();
    Envelope {
        version,
        community,
        seq,
        prev,
        at_ms,
        body_tag,
        body: &bytes[at..end - 96],
        sequencer: &bytes[end - 96..end - 64],
        sig: &bytes[end - 64..],
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn committed_files_match_the_rust_types() {
    let dir = golden_dir();
    let files = generate();
    let mut problems = Vec::new();
    for (path, expected) in &files {
        match fs::read_to_string(dir.join(path)) {
            Ok(committed) if committed == *expected => {}
            Ok(committed) => {
                let line = committed
                    .lines()
                    .zip(expected.lines())
                    .position(|(left, right)| left != right)
                    .unwrap_or_else(|| committed.lines().count().min(expected.lines().count()));
                problems.push(format!(
                    "schemas/v1/{path} differs from what the types generate (from line {})",
                    line + 1
                ));
            }
            Err(_) => problems.push(format!("schemas/v1/{path} is missing")),
        }
    }
    let expected: BTreeSet<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
    for committed in committed_paths() {
        if !expected.contains(committed.as_str()) {
            problems.push(format!(
                "schemas/v1/{committed} is committed but no longer generated"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "schemas/v1 disagrees with the Rust types:\n  {}\n\nA committed meaning must never change: add a new variant or version instead \
         (schemas/README.md, \"Versioning\"). If the change is an addition, regenerate with\n  {REGENERATE}\nand review the diff.",
        problems.join("\n  ")
    );
}

#[test]
fn every_type_in_the_envelope_has_its_own_schema_file() {
    let schemas = type_schemas();
    let named: BTreeSet<&str> = schemas.iter().map(|(name, _)| *name).collect();
    let entry = &schemas
        .iter()
        .find(|(name, _)| *name == "Entry")
        .expect("Entry is listed")
        .1;
    let defs = entry.as_value()["$defs"]
        .as_object()
        .expect("Entry has $defs");
    let mut reachable: BTreeSet<&str> = defs.keys().map(String::as_str).collect();
    reachable.insert("Entry");
    let missing: Vec<&&str> = reachable.difference(&named).collect();
    let unreachable: Vec<&&str> = named.difference(&reachable).collect();
    assert!(
        missing.is_empty(),
        "types in Entry's schema without a file of their own: {missing:?}; add them to `type_schemas` in \
         tests/golden.rs and run {REGENERATE}"
    );
    assert!(
        unreachable.is_empty(),
        "schema files for types an entry never carries: {unreachable:?}"
    );
}

#[test]
fn json_and_canonical_forms_are_the_same_entry() {
    for (name, vector) in committed_vectors() {
        let bytes = unhex(&name, field(&vector, &name, "canonical_hex"));
        let decoded =
            Entry::decode(&bytes).unwrap_or_else(|error| panic!("{name}: canonical_hex: {error}"));
        let from_json: Entry = serde_json::from_value(vector["entry"].clone())
            .unwrap_or_else(|error| panic!("{name}: `entry` does not read as an Entry: {error}"));
        assert_eq!(
            from_json, decoded,
            "{name}: `entry` and `canonical_hex` are different entries"
        );
        assert_eq!(
            from_json.encode(),
            bytes,
            "{name}: `entry` does not encode to `canonical_hex`"
        );
        assert_eq!(
            serde_json::to_value(&decoded).expect("entries serialize"),
            vector["entry"],
            "{name}: the decoded entry does not serialize back to `entry`"
        );
        assert_eq!(
            decoded.hash().to_hex(),
            field(&vector, &name, "hash"),
            "{name}: Entry::hash"
        );
        assert_eq!(
            entry::entry_signing_digest(&bytes).to_hex(),
            field(&vector, &name, "signing_digest"),
            "{name}: entry_signing_digest"
        );
    }
}

#[test]
fn canonical_bytes_are_laid_out_as_the_readme_says() {
    for (name, vector) in committed_vectors() {
        let bytes = unhex(&name, field(&vector, &name, "canonical_hex"));
        let entry: Entry =
            serde_json::from_value(vector["entry"].clone()).expect("checked elsewhere");
        let envelope = split_envelope(&bytes);
        assert_eq!(
            envelope.version,
            u64::from(entry.version),
            "{name}: version"
        );
        assert_eq!(
            envelope.community,
            entry.community.as_bytes(),
            "{name}: community"
        );
        assert_eq!(envelope.seq, entry.seq, "{name}: seq");
        assert_eq!(envelope.prev, entry.prev.as_bytes(), "{name}: prev");
        assert_eq!(envelope.at_ms, entry.at_ms, "{name}: at_ms");
        assert_eq!(
            envelope.sequencer,
            entry.sequencer.as_bytes(),
            "{name}: sequencer"
        );
        assert_eq!(envelope.sig, entry.sig.as_bytes(), "{name}: sig");
        // Statement 0: its bytes, then the author's key and signature; record 1: its bytes;
        // vouched 2: the statement's bytes alone (the entry signature asserts it).
        let (tag, expected, layout) = match &entry.body {
            Body::Statement(signed) => {
                let statement = unhex(&name, field(&vector["statement"], &name, "canonical_hex"));
                let bytes = [
                    statement.as_slice(),
                    signed.author.as_bytes(),
                    signed.sig.as_bytes(),
                ]
                .concat();
                (0, bytes, "statement || author || sig")
            }
            Body::Record(record) => (
                1,
                postcard::to_stdvec(record).expect("records encode"),
                "the record's bytes",
            ),
            Body::Vouched(statement) => (
                2,
                postcard::to_stdvec(statement).expect("statements encode"),
                "the statement's bytes",
            ),
        };
        assert_eq!(envelope.body_tag, tag, "{name}: body tag");
        assert_eq!(
            envelope.body,
            expected.as_slice(),
            "{name}: body is not {layout}"
        );
    }
}

#[test]
fn hashes_and_signatures_check_independently() {
    let mut names_seen = BTreeSet::new();
    for (name, vector) in committed_vectors() {
        for key in vector["keys"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: `keys` is missing"))
        {
            let seed: [u8; 32] = unhex(&name, field(key, &name, "seed"))
                .try_into()
                .unwrap_or_else(|_| panic!("{name}: a seed is not 32 bytes"));
            let public = ed25519_dalek::SigningKey::from_bytes(&seed)
                .verifying_key()
                .to_bytes();
            assert_eq!(
                hex::encode(public),
                field(key, &name, "public"),
                "{name}: key from its seed"
            );
            names_seen.insert(field(key, &name, "name").to_owned());
        }

        let bytes = unhex(&name, field(&vector, &name, "canonical_hex"));
        assert_eq!(
            hex::encode(tagged("ostrom/entry/v1", &[&bytes])),
            field(&vector, &name, "hash"),
            "{name}: hash is not blake3(\"ostrom/entry/v1\" || 0 || canonical bytes)"
        );
        let unsigned = &bytes[..bytes.len() - 64];
        let digest = tagged("ostrom/entry-signature/v1", &[unsigned]);
        assert_eq!(
            hex::encode(digest),
            field(&vector, &name, "signing_digest"),
            "{name}: signing_digest"
        );
        let envelope = split_envelope(&bytes);
        assert_eq!(
            hex::encode(envelope.sig),
            field(&vector, &name, "sig"),
            "{name}: sig"
        );
        verifies(
            &name,
            "sequencer signature",
            envelope.sequencer,
            &digest,
            envelope.sig,
        );

        if let Some(statement) = vector.get("statement") {
            let canonical = unhex(&name, field(statement, &name, "canonical_hex"));
            let digest = tagged("ostrom/statement/v1", &[&canonical]);
            assert_eq!(
                hex::encode(digest),
                field(statement, &name, "signing_digest"),
                "{name}: statement digest"
            );
            let author = unhex(&name, field(statement, &name, "author"));
            let sig = unhex(&name, field(statement, &name, "sig"));
            verifies(&name, "statement signature", &author, &digest, &sig);
        }
        if let Some(derivation) = vector.get("community_id") {
            let sequencer = unhex(&name, field(derivation, &name, "sequencer"));
            let digest = tagged(
                "ostrom/community/v1",
                &[&sequencer, field(derivation, &name, "name").as_bytes()],
            );
            assert_eq!(
                hex::encode(digest),
                field(derivation, &name, "digest"),
                "{name}: community digest"
            );
            assert_eq!(
                hex::encode(&digest[..16]),
                field(derivation, &name, "id"),
                "{name}: community id"
            );
            assert_eq!(
                envelope.community,
                &digest[..16],
                "{name}: the genesis entry's community"
            );
        }
        for cosignature in vector
            .get("cosignatures")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let message = unhex(&name, field(cosignature, &name, "message_hex"));
            let digest = tagged("ostrom/recovery/v1", &[&message]);
            assert_eq!(
                hex::encode(digest),
                field(cosignature, &name, "digest"),
                "{name}: recovery digest"
            );
            // The message starts with the community id the entry carries, so a co-signature
            // cannot be moved to another community.
            assert_eq!(
                &message[..16],
                envelope.community,
                "{name}: recovery message community"
            );
            let key = unhex(&name, field(cosignature, &name, "key"));
            let sig = unhex(&name, field(cosignature, &name, "sig"));
            verifies(&name, "co-signature", &key, &digest, &sig);
        }
        if let Some(endorsement) = vector.get("endorsement") {
            let message = unhex(&name, field(endorsement, &name, "message_hex"));
            assert_eq!(
                message, envelope.sequencer,
                "{name}: the endorsement names the old sequencer key"
            );
            let digest = tagged("ostrom/rotation/v1", &[&message]);
            assert_eq!(
                hex::encode(digest),
                field(endorsement, &name, "digest"),
                "{name}: rotation digest"
            );
            let key = unhex(&name, field(endorsement, &name, "key"));
            let sig = unhex(&name, field(endorsement, &name, "sig"));
            verifies(&name, "endorsement", &key, &digest, &sig);
        }
    }
    let all: BTreeSet<String> = read_json(&golden_dir().join("vectors/keys.json"))
        .as_array()
        .expect("keys.json is a list")
        .iter()
        .map(|key| field(key, "keys.json", "name").to_owned())
        .collect();
    assert_eq!(
        names_seen, all,
        "vectors/keys.json lists exactly the keys the vectors use"
    );
}

#[test]
fn the_vectors_form_one_verified_chain() {
    let vectors = committed_vectors();
    let mut ledger = chain::TestLedger::new();
    let mut batch = Vec::new();
    let mut last_at_ms = 0;
    for (position, (name, vector)) in vectors.iter().enumerate() {
        assert!(
            name.starts_with(&format!("{position:02}-")),
            "{name}: vector files are named by seq and have no gaps (expected {position:02}-...)"
        );
        let bytes = unhex(name, field(vector, name, "canonical_hex"));
        let verified =
            verify::verify(&bytes, &ledger).unwrap_or_else(|error| panic!("{name}: {error}"));
        let entry = verified.entry();
        assert_eq!(entry.seq, position as u64, "{name}: seq");
        assert!(entry.at_ms >= last_at_ms, "{name}: time went backwards");
        last_at_ms = entry.at_ms;
        assert_eq!(
            verified.hash().to_hex(),
            field(vector, name, "hash"),
            "{name}: hash"
        );
        ledger.advance(entry, verified.hash());
        batch.push((entry.clone(), bytes));
    }
    // The batched path must agree with one-at-a-time verification.
    let batch = batch
        .iter()
        .map(|(entry, bytes)| (entry.clone(), bytes.as_slice()))
        .collect();
    let checked = verify::check_signatures(0, batch)
        .expect("the whole chain's signatures check in one batch");
    assert_eq!(checked.len(), vectors.len());

    // Each vector kind the README promises is there.
    let mut kinds = BTreeSet::new();
    for (_, vector) in &vectors {
        let entry: Entry =
            serde_json::from_value(vector["entry"].clone()).expect("checked elsewhere");
        kinds.insert(entry.body.name());
    }
    for kind in [
        "CommunityFounded",
        "MemberJoined",
        "MemberLeft",
        "KeyBound",
        "ActionProposed",
        "VoteCast",
        "VoteWithdrawn",
        "RecoveryInvoked",
        "Evaluated",
        "ActionExecuted",
        "ActionExecutionFailed",
        "PolicyProposed",
        "ActionReverted",
        "ExecutedByPermission",
        "Refused",
        "GovernanceRolledBack",
        "GovernanceRestarted",
        "Checkpoint",
        "SequencerRotated",
    ] {
        assert!(kinds.contains(kind), "no vector for {kind}");
    }
    assert!(
        vectors
            .iter()
            .any(|(_, vector)| vector["entry"]["body"].get("vouched").is_some()),
        "no vector for a vouched statement"
    );
}

#[test]
fn tampered_vectors_are_rejected() {
    // Guards against a check above that passes whatever it is given: one flipped bit in
    // each region of a statement entry must be caught.
    let (name, vector) = committed_vectors()
        .into_iter()
        .nth(3)
        .expect("a fourth vector");
    let bytes = unhex(&name, field(&vector, &name, "canonical_hex"));
    let mut ledger = chain::TestLedger::new();
    for (_, earlier) in committed_vectors().iter().take(3) {
        let earlier = unhex(&name, field(earlier, &name, "canonical_hex"));
        let verified = verify::verify(&earlier, &ledger).expect("earlier vectors verify");
        ledger.advance(verified.entry(), verified.hash());
    }
    assert!(
        verify::verify(&bytes, &ledger).is_ok(),
        "{name}: the untampered entry verifies"
    );
    let envelope = split_envelope(&bytes);
    let body_start = bytes.len() - 96 - envelope.body.len();
    for (what, index) in [
        ("prev", 20),
        ("statement", body_start + 1),
        ("statement signature", bytes.len() - 100),
        ("entry signature", bytes.len() - 1),
    ] {
        let mut tampered = bytes.clone();
        tampered[index] ^= 0x01;
        assert!(
            verify::verify(&tampered, &ledger).is_err(),
            "{name}: flipping a bit of the {what} (byte {index}) went unnoticed"
        );
    }
}

#[test]
fn vectors_validate_against_the_committed_schemas() {
    let dir = golden_dir();
    let validator = |type_name: &str| {
        let schema = read_json(&dir.join(format!("{type_name}.schema.json")));
        assert!(
            jsonschema::meta::is_valid(&schema),
            "{type_name}.schema.json is not a valid JSON Schema"
        );
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|error| panic!("{type_name}.schema.json does not compile: {error}"))
    };
    let entry_schema = validator("Entry");
    let statement_schema = validator("Statement");
    let record_schema = validator("Record");
    for (name, vector) in committed_vectors() {
        let entry = &vector["entry"];
        let errors: Vec<String> = entry_schema
            .iter_errors(entry)
            .map(|error| error.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{name}: `entry` fails Entry.schema.json: {errors:?}"
        );
        if let Some(statement) = entry["body"].get("statement") {
            assert!(
                statement_schema.is_valid(&statement["statement"]),
                "{name}: the statement fails Statement.schema.json"
            );
        }
        if let Some(record) = entry["body"].get("record") {
            assert!(
                record_schema.is_valid(record),
                "{name}: the record fails Record.schema.json"
            );
        }

        // The schema must also say no: guards against a schema that accepts anything.
        let mut wrong = entry.clone();
        wrong["prev"] = Json::from(field(entry, &name, "prev").to_uppercase().replace('0', "G"));
        assert!(
            !entry_schema.is_valid(&wrong),
            "{name}: a non-hex `prev` passes Entry.schema.json"
        );
        let mut wrong = entry.clone();
        wrong
            .as_object_mut()
            .expect("an object")
            .remove("sequencer");
        assert!(
            !entry_schema.is_valid(&wrong),
            "{name}: an entry without `sequencer` passes"
        );
        let mut wrong = entry.clone();
        wrong["body"] = serde_json::json!({ "announcement": {} });
        assert!(
            !entry_schema.is_valid(&wrong),
            "{name}: an unknown body variant passes"
        );
    }
}

#[test]
fn every_committed_schema_is_valid_and_self_contained() {
    // A schema with a `$ref` that points nowhere compiles to an error, so this also proves
    // each file stands alone.
    for (name, _) in type_schemas() {
        let path = golden_dir().join(format!("{name}.schema.json"));
        let schema = read_json(&path);
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}.schema.json: draft"
        );
        if let Err(error) = jsonschema::meta::validate(&schema) {
            panic!("{name}.schema.json is not a valid JSON Schema: {error}");
        }
        if let Err(error) = jsonschema::validator_for(&schema) {
            panic!("{name}.schema.json does not compile on its own: {error}");
        }
    }
}

#[test]
fn value_schema_matches_what_value_accepts() {
    let schema = read_json(&golden_dir().join("Value.schema.json"));
    let validator = jsonschema::validator_for(&schema).expect("Value.schema.json compiles");
    for text in [
        r#"null"#,
        r#"true"#,
        r#"-7"#,
        r#""text""#,
        r#"[1, [2, {"a": null}]]"#,
        r#"{"b": {"c": []}}"#,
    ] {
        let json: Json = serde_json::from_str(text).expect("test JSON");
        assert!(validator.is_valid(&json), "{text} fails Value.schema.json");
        serde_json::from_value::<Value>(json)
            .unwrap_or_else(|error| panic!("{text} does not read as a Value: {error}"));
    }
    // No floats in the ledger: the Rust type and the schema both refuse them.
    let fractional: Json = serde_json::from_str("1.5").expect("test JSON");
    assert!(
        !validator.is_valid(&fractional),
        "a fractional number passes Value.schema.json"
    );
    assert!(
        serde_json::from_value::<Value>(fractional).is_err(),
        "Value reads a fractional number"
    );
}

#[test]
fn readme_example_is_a_committed_vector() {
    // The annotated bytes in README.md are read, not trusted: each hex token (or
    // `prefix…suffix` of a 16-, 32- or 64-byte field) must continue the vector's bytes.
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("schemas/README.md");
    let (_, after) = readme
        .split_once("Example, `v1/vectors/")
        .expect("README.md has the annotated example");
    let (file, after) = after.split_once('`').expect("the example names its vector");
    let (header, after) = after.split_once("```\n").expect("a code block follows");
    let (block, _) = after.split_once("\n```").expect("the code block ends");
    let vector = read_json(&golden_dir().join("vectors").join(file));
    let canonical = field(&vector, file, "canonical_hex");
    assert!(
        header.contains(&format!("({} bytes)", canonical.len() / 2)),
        "README.md: the example's byte count ({header:?})"
    );
    let is_hex = |token: &str| {
        !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '…')
    };
    let mut cursor = 0;
    for line in block.lines() {
        for token in line.split_whitespace().take_while(|token| is_hex(token)) {
            let rest = &canonical[cursor..];
            let length = match token.split_once('…') {
                Some((prefix, suffix)) => [32, 64, 128]
                    .into_iter()
                    .find(|length| {
                        rest.len() >= *length
                            && rest.starts_with(prefix)
                            && rest[..*length].ends_with(suffix)
                    })
                    .unwrap_or_else(|| {
                        panic!("README.md: {token} is not the next field of {file} (line {line:?})")
                    }),
                None => {
                    assert!(
                        rest.starts_with(token),
                        "README.md: {token} is not the next bytes of {file} (line {line:?})"
                    );
                    token.len()
                }
            };
            cursor += length;
        }
    }
    assert_eq!(
        cursor,
        canonical.len(),
        "README.md: the example stops before the end of {file}"
    );
}
