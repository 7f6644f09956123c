//! A PKCS#12 file that NSS `pk12util -i -W ""` (and so `corosync-qdevice-net-certutil -m`)
//! imports as the node's client identity.
//!
//! The qdevice daemon looks its certificate up by the NSS nickname `Cluster Cert`, and pk12util
//! takes the nickname from the friendlyName of the certificate bag, so we set it ourselves
//! (p12-keystore 0.4.1 names chain certificates after their subject and cannot be told
//! otherwise). What NSS requires, measured with 3.87: a MAC, and an encrypted key bag.
//!
//! Layout (what NSS and OpenSSL write): an AuthenticatedSafe of two `data` contents,
//! - certificates: `QNet CA` (friendlyName) and the node certificate (friendlyName
//!   `Cluster Cert` + localKeyId); certificates are public, so this safe is not encrypted,
//! - the key: one pkcs8ShroudedKeyBag, PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), with the same
//!   friendlyName and localKeyId,
//!
//! then an HMAC-SHA256 MAC keyed by the PKCS#12 KDF. The password is empty (upstream's choice),
//! so the encryption is a formality NSS insists on: the iteration counts are OpenSSL's default
//! (2048), not NSS's 600000, which would take seconds on a router CPU for no gain.

use der::asn1::{Any, BmpString, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use pkcs12::cms::content_info::ContentInfo;
use pkcs12::pfx::{Pfx, Version};
use pkcs12::{CertBag, DigestInfo, MacData, SafeBag};
use ring::rand::{SecureRandom, SystemRandom};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;

use crate::error::StoreError;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ITERATIONS: u32 = 2048;

/// The node's identity for NSS: key, certificate and CA under the given nicknames.
pub struct Identity<'a> {
    pub key_pkcs8_der: &'a [u8],
    pub cert_der: &'a [u8],
    pub nickname: &'a str,
    pub ca_cert_der: &'a [u8],
    pub ca_nickname: &'a str,
}

#[derive(Sequence)]
struct EncryptedPrivateKeyInfo {
    encryption_algorithm: pkcs5::EncryptionScheme,
    encrypted_data: OctetString,
}

fn err(what: &str) -> impl Fn(der::Error) -> StoreError + '_ {
    move |e| StoreError::Crypto(format!("PKCS#12 {what}: {e}"))
}

/// Builds the file for `id`, protected by `password`.
pub fn build(id: &Identity<'_>, password: &str) -> Result<Vec<u8>, StoreError> {
    let rng = SystemRandom::new();
    // Same localKeyId on key and certificate bags pairs them; NSS uses the SHA-1 of the
    // public key, any unique value works: take the certificate's SHA-256.
    let local_key_id = ring::digest::digest(&ring::digest::SHA256, id.cert_der);
    let local_key_id = local_key_id.as_ref();

    let certs = vec![
        cert_bag(id.ca_cert_der, id.ca_nickname, None)?,
        cert_bag(id.cert_der, id.nickname, Some(local_key_id))?,
    ];
    let keys = vec![key_bag(
        id.key_pkcs8_der,
        id.nickname,
        local_key_id,
        password,
        &rng,
    )?];
    let auth_safe: Vec<ContentInfo> = vec![data_content(&certs)?, data_content(&keys)?];
    let auth_safe_der = auth_safe.to_der().map_err(err("auth safe"))?;

    let mac_data = mac(&auth_safe_der, password, &rng)?;
    let pfx = Pfx {
        version: Version::V3,
        auth_safe: ContentInfo {
            content_type: ID_DATA,
            content: Any::encode_from(&OctetString::new(auth_safe_der).map_err(err("auth safe"))?)
                .map_err(err("auth safe"))?,
        },
        mac_data: Some(mac_data),
    };
    pfx.to_der().map_err(err("PFX"))
}

fn random<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    rng.fill(&mut buf)
        .map_err(|_| StoreError::Crypto("the system random source failed".into()))?;
    Ok(buf)
}

fn attributes(
    nickname: &str,
    local_key_id: Option<&[u8]>,
) -> Result<x509_cert::attr::Attributes, StoreError> {
    let e = err("attributes");
    let name = BmpString::from_utf8(nickname).map_err(&e)?;
    let mut attrs = vec![Attribute {
        oid: FRIENDLY_NAME,
        values: SetOfVec::try_from(vec![Any::encode_from(&name).map_err(&e)?]).map_err(&e)?,
    }];
    if let Some(id) = local_key_id {
        let id = OctetString::new(id).map_err(&e)?;
        attrs.push(Attribute {
            oid: LOCAL_KEY_ID,
            values: SetOfVec::try_from(vec![Any::encode_from(&id).map_err(&e)?]).map_err(&e)?,
        });
    }
    SetOfVec::try_from(attrs).map_err(&e)
}

fn cert_bag(
    cert_der: &[u8],
    nickname: &str,
    local_key_id: Option<&[u8]>,
) -> Result<SafeBag, StoreError> {
    let e = err("certificate bag");
    let bag = CertBag {
        cert_id: pkcs12::PKCS_12_X509_CERT_OID,
        cert_value: OctetString::new(cert_der).map_err(&e)?,
    };
    Ok(SafeBag {
        bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
        bag_value: bag.to_der().map_err(&e)?,
        bag_attributes: Some(attributes(nickname, local_key_id)?),
    })
}

fn key_bag(
    key_der: &[u8],
    nickname: &str,
    local_key_id: &[u8],
    password: &str,
    rng: &SystemRandom,
) -> Result<SafeBag, StoreError> {
    let e = err("key bag");
    let salt = random::<16>(rng)?;
    let iv = random::<16>(rng)?;
    let params = pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(ITERATIONS, &salt, iv)
        .map_err(|x| StoreError::Crypto(format!("PKCS#12 key encryption: {x}")))?;
    let encrypted = pbes2_aes256cbc(password, &salt, &iv, key_der)?;
    let info = EncryptedPrivateKeyInfo {
        encryption_algorithm: params.into(),
        encrypted_data: OctetString::new(encrypted).map_err(&e)?,
    };
    Ok(SafeBag {
        bag_id: pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
        bag_value: info.to_der().map_err(&e)?,
        bag_attributes: Some(attributes(nickname, Some(local_key_id))?),
    })
}

/// PBES2 encryption as `params` describe it (PBKDF2-HMAC-SHA256 then AES-256-CBC, PKCS#7
/// padding), done here rather than by `pkcs5::pbes2::Parameters::encrypt`, whose dispatch over
/// every scheme it knows links scrypt and AES-GCM too: 77 KB more (x86_64 release, measured).
fn pbes2_aes256cbc(
    password: &str,
    salt: &[u8],
    iv: &[u8; 16],
    plain: &[u8],
) -> Result<Vec<u8>, StoreError> {
    use cbc::cipher::{block_padding::Pkcs7, BlockModeEncrypt, KeyIvInit};
    let mut key = [0u8; 32];
    let rounds = std::num::NonZeroU32::new(ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        password.as_bytes(),
        &mut key,
    );
    let enc = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, iv)
        .map_err(|_| StoreError::Crypto("PKCS#12 key encryption: bad key or IV length".into()))?;
    Ok(enc.encrypt_padded_vec::<Pkcs7>(plain))
}

/// A `data` ContentInfo holding DER SafeContents.
fn data_content(bags: &[SafeBag]) -> Result<ContentInfo, StoreError> {
    let e = err("safe contents");
    let contents = bags.to_vec().to_der().map_err(&e)?;
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(contents).map_err(&e)?).map_err(&e)?,
    })
}

/// The MAC key: RFC 7292 B.2's KDF with SHA-256 and ID 3, for a 32-byte key, i.e. one hash
/// output, so one pass of the KDF (no update of I). ring's SHA-256 rather than the pkcs12
/// crate's generic KDF, which would link RustCrypto's sha2 (~12 KB on mipsel) for this alone.
fn mac_key(password: &str, salt: &[u8], iterations: u32) -> Result<[u8; 32], StoreError> {
    use ring::digest::{digest, Context, SHA256};
    /// SHA-256's block size.
    const V: usize = 64;
    // The password as a BMPString (UTF-16BE, no surrogates) with a two-byte NUL terminator.
    let mut pass = Vec::with_capacity(2 * password.len() + 2);
    for c in password.chars() {
        let c = u16::try_from(u32::from(c)).map_err(|_| {
            StoreError::Crypto(format!(
                "PKCS#12 MAC: the password's {c:?} is outside the Basic Multilingual Plane"
            ))
        })?;
        pass.extend(c.to_be_bytes());
    }
    pass.extend([0, 0]);
    // I = salt, then password, each repeated to a whole number of V-byte blocks.
    let repeat = |src: &[u8]| -> Vec<u8> {
        let len = V * src.len().div_ceil(V);
        src.iter().copied().cycle().take(len).collect()
    };
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[3u8; V]);
    ctx.update(&repeat(salt));
    ctx.update(&repeat(&pass));
    let mut a = ctx.finish();
    for _ in 1..iterations {
        a = digest(&SHA256, a.as_ref());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(a.as_ref());
    Ok(key)
}

/// HMAC-SHA256 over the AuthenticatedSafe, keyed with the PKCS#12 KDF (RFC 7292 B.2; the
/// password as a NUL-terminated BMPString, which is what NSS and OpenSSL verify against).
fn mac(data: &[u8], password: &str, rng: &SystemRandom) -> Result<MacData, StoreError> {
    let e = err("MAC");
    let salt = random::<16>(rng)?;
    let key = mac_key(password, &salt, ITERATIONS)?;
    let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key), data);
    Ok(MacData {
        mac: DigestInfo {
            algorithm: AlgorithmIdentifierOwned {
                oid: SHA256,
                parameters: Some(Any::from_der(&[0x05, 0x00]).map_err(&e)?),
            },
            digest: OctetString::new(tag.as_ref()).map_err(&e)?,
        },
        mac_salt: OctetString::new(salt.as_slice()).map_err(&e)?,
        iterations: ITERATIONS as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs12::kdf::{derive_key_utf8, Pkcs12KeyType};

    /// The same key as the pkcs12 crate's RFC 7292 KDF, for salts and passwords either side of
    /// the 64-byte block (empty, non-ASCII, long) and several iteration counts.
    #[test]
    fn mac_key_is_rfc_7292s_kdf() {
        let long = "x".repeat(70);
        for password in ["", "a", "qnetd", "pässwörd €", long.as_str()] {
            for salt in [&[0u8; 1][..], &[7; 16], &[9; 64], &[1; 65]] {
                for rounds in [1, 2, 2048] {
                    let want = derive_key_utf8::<sha2::Sha256>(
                        password,
                        salt,
                        Pkcs12KeyType::Mac,
                        rounds as i32,
                        32,
                    )
                    .unwrap();
                    let got = mac_key(password, salt, rounds).unwrap();
                    assert_eq!(got.as_slice(), want, "{password:?} {salt:?} {rounds}");
                }
            }
        }
    }

    #[test]
    fn a_password_outside_the_bmp_is_an_error() {
        assert!(mac_key("🔑", &[1; 16], 1).is_err());
    }
}
