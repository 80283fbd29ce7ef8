//! The seal of a compiled file: a BLAKE3 hash of every byte of the file but
//! the seal itself, and optionally a minisign signature of that hash.
//!
//! The seal is the `.lucet_seal` section, of a fixed size:
//!
//! ```text
//! magic "LUCETSL\x01" (8) | hash (32) | signature length (u32 LE) | signature text, zero-padded to SIGNATURE_CAPACITY
//! ```
//!
//! The hash covers the ELF headers, the section header table, the code, the
//! metadata, the trap table, the memory image and the symbols: a change to any
//! byte outside the seal changes the hash, and a change inside it breaks the
//! magic, the hash, the length, the zero padding or the signature. The
//! section header table is hashed, so where the seal lies is itself covered.
//!
//! The signature is minisign's (Ed25519 over the BLAKE2b-512 prehash) of the
//! 32 hash bytes: the trust a signature gives reaches every byte through the
//! hash.

use std::ops::Range;
use std::path::Path;

use crate::Error;

/// ELF section holding the seal.
pub const SEAL_SECTION: &str = ".lucet_seal";
/// First bytes of the seal.
pub const SEAL_MAGIC: &[u8; 8] = b"LUCETSL\x01";
/// Room for the signature text (a minisign signature with Lucet's comments
/// takes about 330 bytes).
pub const SIGNATURE_CAPACITY: usize = 1024;
/// The seal section's size.
pub const SEAL_SIZE: usize = 8 + 32 + 4 + SIGNATURE_CAPACITY;

/// A content hash: BLAKE3, 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Display for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "blake3:{}", self.to_hex())
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A seal, read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The hash recorded by the compiler.
    pub hash: ContentHash,
    /// The minisign signature text, if the file is signed.
    pub signature: Option<String>,
}

fn damaged(msg: &str) -> Error {
    Error::Damaged(msg.to_string())
}

/// The seal section of an unsealed file: the magic and zeros.
pub fn blank_seal() -> Vec<u8> {
    let mut s = vec![0u8; SEAL_SIZE];
    s[..8].copy_from_slice(SEAL_MAGIC);
    s
}

/// Reads a seal section's bytes.
pub fn read_seal(bytes: &[u8]) -> Result<Seal, Error> {
    if bytes.len() != SEAL_SIZE {
        return Err(damaged("the seal has the wrong size"));
    }
    if &bytes[..8] != SEAL_MAGIC {
        return Err(damaged("the seal has no Lucet header"));
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[8..40]);
    let len = u32::from_le_bytes(bytes[40..44].try_into().expect("4 bytes")) as usize;
    let area = &bytes[44..];
    if len > area.len() {
        return Err(damaged("the seal's signature length is out of range"));
    }
    if area[len..].iter().any(|&b| b != 0) {
        return Err(damaged("the seal's padding is not zero"));
    }
    // Signature text never holds NUL: a length reaching into the padding is
    // caught here, one cutting into the text by the padding check above.
    if area[..len].contains(&0) {
        return Err(damaged("the seal's signature length is wrong"));
    }
    let signature = match len {
        0 => None,
        _ => Some(
            std::str::from_utf8(&area[..len])
                .map_err(|_| damaged("the seal's signature is not text"))?
                .to_string(),
        ),
    };
    Ok(Seal {
        hash: ContentHash(hash),
        signature,
    })
}

/// The hash of `file` without the bytes at `seal` (the seal section): the
/// BLAKE3 hash of `file[..seal.start]` followed by `file[seal.end..]`.
///
/// A large file is hashed by several threads, each taking subtrees of
/// BLAKE3's tree (the result is the same as hashing it on one thread).
pub fn content_hash(file: &[u8], seal: Range<usize>) -> ContentHash {
    let input = Pieces(&file[..seal.start], &file[seal.end..]);
    let total = input.len();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if total < PARALLEL_MIN || threads < 2 {
        let mut h = blake3::Hasher::new();
        input.feed(&mut h, 0, total);
        return ContentHash(*h.finalize().as_bytes());
    }
    // Enough levels of splitting to give every thread a share.
    let depth = (usize::BITS - (threads - 1).leading_zeros()) as usize + 1;
    let left = blake3::hazmat::left_subtree_len(total);
    let (l, r) = std::thread::scope(|s| {
        let right = s.spawn(|| subtree(&input, left, total - left, depth - 1));
        let l = subtree(&input, 0, left, depth - 1);
        (l, right.join().expect("hashing does not panic"))
    });
    ContentHash(*blake3::hazmat::merge_subtrees_root(&l, &r, blake3::hazmat::Mode::Hash).as_bytes())
}

/// Below this, one thread hashes the whole file.
const PARALLEL_MIN: u64 = 2 << 20;

/// The hashed input: two slices, one after the other.
struct Pieces<'a>(&'a [u8], &'a [u8]);

impl Pieces<'_> {
    fn len(&self) -> u64 {
        (self.0.len() + self.1.len()) as u64
    }

    /// Feeds bytes `start..start + len` of the input to `h`.
    fn feed(&self, h: &mut blake3::Hasher, start: u64, len: u64) {
        let (start, end) = (start as usize, (start + len) as usize);
        let a = self.0.len();
        if start < a {
            h.update(&self.0[start..end.min(a)]);
        }
        if end > a {
            h.update(&self.1[start.max(a) - a..end - a]);
        }
    }
}

/// The chaining value of the subtree of `len` bytes at `start` (a subtree
/// boundary of the whole input's tree), split over threads `depth` more
/// times while its parts are large.
fn subtree(
    input: &Pieces<'_>,
    start: u64,
    len: u64,
    depth: usize,
) -> blake3::hazmat::ChainingValue {
    use blake3::hazmat::HasherExt;
    if depth == 0 || len < PARALLEL_MIN {
        let mut h = blake3::Hasher::new();
        h.set_input_offset(start);
        input.feed(&mut h, start, len);
        return h.finalize_non_root();
    }
    let left = blake3::hazmat::left_subtree_len(len);
    let (l, r) = std::thread::scope(|s| {
        let right = s.spawn(|| subtree(input, start + left, len - left, depth - 1));
        let l = subtree(input, start, left, depth - 1);
        (l, right.join().expect("hashing does not panic"))
    });
    blake3::hazmat::merge_subtrees_non_root(&l, &r, blake3::hazmat::Mode::Hash)
}

/// Signs a content hash: returns the minisign signature text, or why not.
pub type Signer<'a> = &'a dyn Fn(&ContentHash) -> Result<String, String>;

/// Writes the hash of `file` (and `signature`, when given) into its seal
/// section at `seal`, which must hold a blank seal.
pub fn write_seal(
    file: &mut [u8],
    seal: Range<usize>,
    sign: Option<Signer<'_>>,
) -> Result<ContentHash, Error> {
    if seal.len() != SEAL_SIZE || file.get(seal.clone()) != Some(&blank_seal()[..]) {
        return Err(Error::Serialize("the seal section is not blank".into()));
    }
    let hash = content_hash(file, seal.clone());
    let signature = match sign {
        Some(sign) => sign(&hash).map_err(Error::Serialize)?,
        None => String::new(),
    };
    if signature.len() > SIGNATURE_CAPACITY {
        return Err(Error::Serialize(format!(
            "a signature of {} bytes does not fit the seal ({SIGNATURE_CAPACITY})",
            signature.len()
        )));
    }
    let s = &mut file[seal];
    s[8..40].copy_from_slice(&hash.0);
    s[40..44].copy_from_slice(&(signature.len() as u32).to_le_bytes());
    s[44..44 + signature.len()].copy_from_slice(signature.as_bytes());
    Ok(hash)
}

/// A minisign public key, which module signatures are checked against.
#[derive(Clone, Debug)]
pub struct PublicKey(minisign_verify::PublicKey);

impl PublicKey {
    /// A key from the text of a minisign `.pub` file (its comment line and
    /// its base64 line), or from the base64 line alone.
    pub fn decode(text: &str) -> Result<PublicKey, Error> {
        let text = text.trim();
        let key = if text.lines().count() >= 2 {
            minisign_verify::PublicKey::decode(text)
        } else {
            minisign_verify::PublicKey::from_base64(text)
        };
        key.map(PublicKey)
            .map_err(|e| Error::BadKey(format!("not a minisign public key: {e}")))
    }

    /// A key from a minisign `.pub` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<PublicKey, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::BadKey(format!("cannot read {}: {e}", path.display())))?;
        PublicKey::decode(&text).map_err(|e| match e {
            Error::BadKey(msg) => Error::BadKey(format!("{}: {msg}", path.display())),
            other => other,
        })
    }
}

/// Checks that `seal` carries a signature of its hash by `key`.
pub fn verify_seal(seal: &Seal, key: &PublicKey) -> Result<(), Error> {
    let text = seal.signature.as_deref().ok_or(Error::Unsigned)?;
    let signature = minisign_verify::Signature::decode(text)
        .map_err(|_| Error::BadSignature("the signature is malformed".into()))?;
    key.0
        .verify(&seal.hash.0, &signature, false)
        .map_err(|e| match e {
            minisign_verify::Error::UnexpectedKeyId => {
                Error::BadSignature("it was signed by another key".into())
            }
            _ => Error::BadSignature("the signature does not match".into()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_file() -> (Vec<u8>, Range<usize>) {
        let mut f = b"header".to_vec();
        let start = f.len();
        f.extend_from_slice(&blank_seal());
        let seal = start..f.len();
        f.extend_from_slice(b"trailer");
        (f, seal)
    }

    #[test]
    fn hash_round_trips_and_covers_everything_outside_the_seal() {
        let (mut f, seal) = sealed_file();
        let hash = write_seal(&mut f, seal.clone(), None).unwrap();
        let read = read_seal(&f[seal.clone()]).unwrap();
        assert_eq!(read.hash, hash);
        assert_eq!(read.signature, None);
        assert_eq!(content_hash(&f, seal.clone()), hash);
        for i in (0..seal.start).chain(seal.end..f.len()) {
            let mut g = f.clone();
            g[i] ^= 1;
            assert_ne!(content_hash(&g, seal.clone()), hash, "byte {i}");
        }
    }

    #[test]
    fn the_parallel_hash_is_blake3_of_the_file_without_its_seal() {
        // Sizes around the thresholds and the chunk and subtree boundaries.
        for len in [
            0,
            1,
            1024,
            1025,
            (2 << 20) - 1,
            2 << 20,
            (5 << 20) + 77,
            (9 << 20) + 4096,
        ] {
            let file: Vec<u8> = (0..len).map(|i| (i * 7 + i / 1000) as u8).collect();
            for seal in [
                0..0,
                len / 3..len / 3 + SEAL_SIZE.min(len - len / 3),
                len..len,
            ] {
                let mut joined = file[..seal.start].to_vec();
                joined.extend_from_slice(&file[seal.end..]);
                assert_eq!(
                    content_hash(&file, seal.clone()).0,
                    *blake3::hash(&joined).as_bytes(),
                    "len {len}, seal {seal:?}"
                );
            }
        }
    }

    #[test]
    fn damaged_seals_are_refused() {
        let (mut f, seal) = sealed_file();
        write_seal(&mut f, seal.clone(), Some(&|_| Ok("sig".into()))).unwrap();
        let s = &f[seal];
        let mut bad = s.to_vec();
        bad[0] ^= 1;
        assert!(read_seal(&bad).is_err());
        let mut bad = s.to_vec();
        bad[40] = 0xff;
        assert!(read_seal(&bad).is_err());
        let mut bad = s.to_vec();
        bad[44 + 3] = 1; // padding just after the signature
        assert!(read_seal(&bad).is_err());
        assert!(read_seal(&s[1..]).is_err());
        assert_eq!(read_seal(s).unwrap().signature.as_deref(), Some("sig"));
    }

    #[test]
    fn write_needs_a_blank_seal() {
        let (mut f, seal) = sealed_file();
        write_seal(&mut f, seal.clone(), None).unwrap();
        assert!(write_seal(&mut f, seal, None).is_err());
    }
}
