//! Identities: member keys, pact ids, entry hashes, the handles derived from keys, and API ids.
//!
//! A member key is an ed25519 verifying key (64 hex on the API). Its handle `anon-<word>-<8 hex>`
//! takes the word from the fixed list below by the key's first byte and the hex from bytes 2..6.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::error::{Error, Result};

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
            /// Lowercase hex, 64 characters.
            pub fn to_hex(&self) -> String {
                hex32(&self.0)
            }
            /// Parses 64 lowercase hex characters.
            pub fn from_hex(s: &str) -> Option<Self> {
                parse_hex32(s).map(Self)
            }
            /// Takes exactly 32 bytes.
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                <[u8; 32]>::try_from(b).ok().map(Self)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.to_hex()[..12])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

hash_newtype!(
    /// A member's ed25519 public key. Authority is always checked by key, never by handle.
    MemberKey
);
hash_newtype!(
    /// The pact id: the hash of the pact's genesis entry.
    PactId
);
hash_newtype!(
    /// The BLAKE3 hash of an entry's header bytes: the ledger's own identity of an entry.
    EntryHash
);

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl MemberKey {
    /// The handle `anon-<word>-<8 hex>` derived from this key.
    pub fn handle(&self) -> String {
        let b = &self.0;
        format!(
            "anon-{}-{}",
            HANDLE_WORDS[b[0] as usize],
            hex::encode(&b[2..6])
        )
    }

    /// The first 8 hex characters, the author part of API ids.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// The ed25519 verifying key, if these bytes are a valid curve point.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }
}

/// The parts of a handle that must be unique per pact: the word index and the 8 hex.
pub fn handle_parts(key: &MemberKey) -> [u8; 5] {
    let b = key.0;
    [b[0], b[2], b[3], b[4], b[5]]
}

/// Lowercase hex of 32 bytes. Answers list ids and keys by the thousand; `hex::encode` builds
/// its string a char at a time, the table lookup into a buffer is several times faster.
pub fn hex32(b: &[u8; 32]) -> String {
    let mut buf = [0u8; 64];
    match hex::encode_to_slice(b, &mut buf).map(|()| std::str::from_utf8(&buf)) {
        Ok(Ok(s)) => s.to_owned(),
        // Unreachable: 32 bytes always take 64 ASCII characters.
        _ => hex::encode(b),
    }
}

/// Whether `s` has the shape of a handle: `^anon-[a-z]+-[0-9a-f]{8}$`.
pub fn is_handle(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("anon-") else {
        return false;
    };
    let Some((word, hex8)) = rest.rsplit_once('-') else {
        return false;
    };
    !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_lowercase())
        && hex8.len() == 8
        && hex8.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `s` has the shape of an API entry id: `^[0-9a-f]{8}-\d+$` (optionally with a fork
/// suffix `~<4 hex>`).
pub fn is_api_id(s: &str) -> bool {
    let s = match s.split_once('~') {
        Some((base, suffix)) => {
            if suffix.len() != 4
                || !suffix
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return false;
            }
            base
        }
        None => s,
    };
    let Some((short, seq)) = s.split_once('-') else {
        return false;
    };
    short.len() == 8
        && short
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && !seq.is_empty()
        && seq.len() <= 20
        && seq.bytes().all(|b| b.is_ascii_digit())
}

/// The API id of an author's entry at 0-based `seq`: `<8 hex>-<seq + 1>`.
pub fn api_id(author: &MemberKey, seq: u64) -> String {
    format!("{}-{}", author.short(), seq + 1)
}

/// A member's signing identity for one pact.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    public: MemberKey,
}

impl Signer {
    /// From the 32-byte ed25519 secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let public = MemberKey(key.verifying_key().to_bytes());
        Signer { key, public }
    }

    /// A new random identity from the operating system's generator.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
        Ok(Self::from_seed(seed))
    }

    /// The 32-byte secret seed, for the daemon to store (mode 0600).
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The member key.
    pub fn public(&self) -> MemberKey {
        self.public
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({:?})", self.public)
    }
}

/// The 256 words of handles, indexed by a key's first byte. A fixed constant of the ledger:
/// changing it changes every handle.
pub const HANDLE_WORDS: [&str; 256] = [
    "acorn",
    "adder",
    "alder",
    "algae",
    "amber",
    "anchor",
    "antler",
    "apple",
    "aspen",
    "aster",
    "badger",
    "balsam",
    "bamboo",
    "barley",
    "basil",
    "bay",
    "beacon",
    "bear",
    "beaver",
    "beech",
    "beetle",
    "birch",
    "bison",
    "bittern",
    "blossom",
    "boar",
    "bobcat",
    "bramble",
    "breeze",
    "briar",
    "brook",
    "buffalo",
    "bunting",
    "burrow",
    "buzzard",
    "cactus",
    "camel",
    "canary",
    "canyon",
    "cardinal",
    "caribou",
    "carp",
    "cedar",
    "cheetah",
    "cherry",
    "chestnut",
    "cicada",
    "clover",
    "cobra",
    "comet",
    "condor",
    "coral",
    "cougar",
    "coyote",
    "crane",
    "creek",
    "cricket",
    "crocus",
    "crow",
    "cypress",
    "daisy",
    "delta",
    "dingo",
    "dolphin",
    "dove",
    "dune",
    "eagle",
    "egret",
    "elk",
    "elm",
    "ember",
    "falcon",
    "fern",
    "ferret",
    "finch",
    "fir",
    "firefly",
    "fjord",
    "flint",
    "fox",
    "frog",
    "gazelle",
    "gecko",
    "geyser",
    "ginkgo",
    "glacier",
    "gopher",
    "grouse",
    "gull",
    "harbor",
    "hare",
    "hawk",
    "hazel",
    "heron",
    "hickory",
    "hornet",
    "husky",
    "ibis",
    "iguana",
    "iris",
    "ivy",
    "jackal",
    "jaguar",
    "jasmine",
    "jay",
    "juniper",
    "kelp",
    "kestrel",
    "kingfisher",
    "kiwi",
    "koala",
    "lagoon",
    "lark",
    "laurel",
    "lemur",
    "lichen",
    "lily",
    "linden",
    "lion",
    "lizard",
    "llama",
    "lotus",
    "lupine",
    "lynx",
    "magpie",
    "mallard",
    "mamba",
    "mango",
    "maple",
    "marmot",
    "marsh",
    "marten",
    "meadow",
    "merlin",
    "mesa",
    "mink",
    "minnow",
    "mole",
    "moose",
    "moss",
    "moth",
    "mule",
    "myrtle",
    "narwhal",
    "newt",
    "nettle",
    "nightjar",
    "oak",
    "oasis",
    "ocelot",
    "olive",
    "orca",
    "orchid",
    "oriole",
    "osprey",
    "otter",
    "owl",
    "panda",
    "panther",
    "parrot",
    "peach",
    "pebble",
    "pelican",
    "pepper",
    "petrel",
    "pika",
    "pine",
    "plover",
    "plum",
    "poppy",
    "prairie",
    "puffin",
    "puma",
    "quail",
    "quartz",
    "rabbit",
    "raven",
    "redwood",
    "reed",
    "reef",
    "ridge",
    "robin",
    "rowan",
    "sage",
    "salmon",
    "sandpiper",
    "sapling",
    "sequoia",
    "shark",
    "shrew",
    "sierra",
    "skylark",
    "sloth",
    "snipe",
    "sorrel",
    "sparrow",
    "spruce",
    "squid",
    "stork",
    "summit",
    "swallow",
    "swan",
    "swift",
    "sycamore",
    "tamarack",
    "tapir",
    "teal",
    "tern",
    "thistle",
    "thrush",
    "tiger",
    "toad",
    "tortoise",
    "toucan",
    "trout",
    "tulip",
    "tundra",
    "turtle",
    "valley",
    "viper",
    "vole",
    "walnut",
    "walrus",
    "warbler",
    "wasp",
    "weasel",
    "whale",
    "willow",
    "wolf",
    "wombat",
    "wren",
    "yak",
    "yarrow",
    "yew",
    "zebra",
    "zinnia",
    "aurora",
    "basin",
    "bluff",
    "cove",
    "glade",
    "grove",
    "heath",
    "knoll",
    "islet",
    "ledge",
    "moor",
    "peak",
    "rapids",
    "shoal",
    "spring",
    "steppe",
    "thicket",
    "vale",
    "atoll",
    "brine",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_words_are_unique_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for w in HANDLE_WORDS {
            assert!(w.bytes().all(|b| b.is_ascii_lowercase()), "{w}");
            assert!(seen.insert(w), "duplicate {w}");
        }
    }

    #[test]
    fn handle_is_derived_from_key_bytes() {
        let mut k = [0xbbu8; 32];
        k[0] = 0;
        k[2..6].copy_from_slice(&[0x7f, 0x2d, 0x99, 0x99]);
        let h = MemberKey(k).handle();
        assert_eq!(h, "anon-acorn-7f2d9999");
        assert!(is_handle(&h));
        assert_eq!(MemberKey(k).short(), "00bb7f2d");
    }

    #[test]
    fn shapes_are_checked() {
        assert!(is_handle("anon-cobra-3e910000"));
        assert!(!is_handle("anon-Cobra-3e910000"));
        assert!(!is_handle("anon-cobra-3e91000"));
        assert!(!is_handle("not-a-handle"));
        assert!(is_api_id("12347f2d-3"));
        assert!(is_api_id("12347f2d-3~ab12"));
        assert!(!is_api_id("zzzz-99"));
        assert!(!is_api_id("12347f2d-"));
        assert!(!is_api_id("12347f2d-3~xyz1"));
        assert_eq!(
            MemberKey::from_hex(&"ab".repeat(32)),
            Some(MemberKey([0xab; 32]))
        );
        assert_eq!(MemberKey::from_hex(&"AB".repeat(32)), None);
    }
}
