use lucet_runtime::{Error, Linker, Module, PublicKey};

use crate::common::*;

struct Keys {
    sk: minisign::SecretKey,
    public: PublicKey,
}

fn keys() -> Keys {
    let minisign::KeyPair { pk, sk } = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let public = PublicKey::decode(&pk.to_box().unwrap().to_string()).unwrap();
    Keys { sk, public }
}

fn signer(
    sk: &minisign::SecretKey,
) -> impl Fn(&lucet_module::ContentHash) -> Result<String, String> + '_ {
    move |hash| {
        minisign::sign(None, sk, std::io::Cursor::new(hash.0), None, None)
            .map(|b| b.into_string())
            .map_err(|e| e.to_string())
    }
}

fn signed_by(keys: &Keys) -> Vec<u8> {
    let text = std::fs::read(wat_path("memory")).unwrap();
    lucet_compiler::Compiler::new(Default::default())
        .unwrap()
        .compile(&text)
        .unwrap()
        .to_signed_elf(&signer(&keys.sk))
        .unwrap()
}

fn verified(elf: &[u8], key: &PublicKey) -> Result<std::sync::Arc<Module>, Error> {
    Module::from_bytes_verified(elf, "signed", key, &Linker::new())
}

#[test]
fn a_signed_file_loads_with_its_key_and_runs() {
    let k = keys();
    let elf = signed_by(&k);
    let module = verified(&elf, &k.public).unwrap();
    let mut inst = region().new_instance(module).unwrap();
    assert_eq!(i32(&mut inst, "size", &[]), 1);
    // Without a key it loads as any sealed file does.
    assert!(Module::from_bytes(&elf, "signed", &Linker::new()).is_ok());
}

#[test]
fn another_key_is_refused() {
    let (a, b) = (keys(), keys());
    let err = verified(&signed_by(&a), &b.public).unwrap_err();
    assert_eq!(
        err.to_string(),
        "module signature is not valid for this key: it was signed by another key"
    );
}

#[test]
fn an_unsigned_file_is_refused() {
    let k = keys();
    let err = verified(&compile("memory"), &k.public).unwrap_err();
    assert_eq!(err.to_string(), "module file is not signed");
}

#[test]
fn a_file_resigned_by_another_key_is_refused() {
    let (a, b) = (keys(), keys());
    let mut elf = signed_by(&a);
    let at = lucet_module::find_seal(&elf).unwrap();
    elf[at.clone()].copy_from_slice(&lucet_module::blank_seal());
    lucet_module::write_seal(&mut elf, at, Some(&signer(&b.sk))).unwrap();
    assert!(verified(&elf, &b.public).is_ok());
    assert!(verified(&elf, &a.public).is_err());
}

#[test]
fn a_changed_signature_or_file_is_refused() {
    let k = keys();
    let elf = signed_by(&k);
    let seal = lucet_module::find_seal(&elf).unwrap();
    let text = lucet_module::read_seal(&elf[seal.clone()])
        .unwrap()
        .signature
        .unwrap();
    // Each byte of the signature text after its first line (the untrusted
    // comment, which minisign signs nothing of), changed to another base64
    // digit or comment character: refused, never accepted.
    let first_line = text.find('\n').unwrap() + 1;
    for i in first_line..text.len() {
        let mut bad = elf.clone();
        let b = &mut bad[seal.start + 44 + i];
        *b = match *b {
            b'\n' => continue,
            b'A' => b'B',
            _ => b'A',
        };
        assert!(verified(&bad, &k.public).is_err(), "signature byte {i}");
    }
    // A change outside the seal is the hash's to catch, signed or not.
    let mut bad = elf.clone();
    bad[seal.start - 1] ^= 1;
    let err = verified(&bad, &k.public).unwrap_err();
    assert_eq!(err.to_string(), "module file is damaged: hash mismatch");
}

#[test]
fn public_keys_are_read_from_minisign_text() {
    let minisign::KeyPair { pk, .. } = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    assert!(PublicKey::decode(&pk.to_base64()).is_ok());
    assert!(PublicKey::decode(&pk.to_box().unwrap().to_string()).is_ok());
    let err = PublicKey::decode("RWQ not a key").unwrap_err();
    assert!(
        err.to_string().starts_with("not a minisign public key"),
        "{err}"
    );
    let err = PublicKey::from_file("/nonexistent.pub").unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read /nonexistent.pub"),
        "{err}"
    );
}
