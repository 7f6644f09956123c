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
//!
//! Written with yasna's DER writer, which rcgen already links for certificates.

use ring::rand::{SecureRandom, SystemRandom};
use yasna::{DERWriter, Tag};

use crate::error::StoreError;

/// The OIDs we write, as whole DER elements (tag, length, contents).
mod oid {
    /// id-data, 1.2.840.113549.1.7.1 (PKCS#7).
    pub const DATA: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 7, 1];
    /// pkcs8ShroudedKeyBag, 1.2.840.113549.1.12.10.1.2 (RFC 7292).
    pub const SHROUDED_KEY_BAG: &[u8] =
        &[6, 11, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 12, 10, 1, 2];
    /// certBag, 1.2.840.113549.1.12.10.1.3.
    pub const CERT_BAG: &[u8] = &[6, 11, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 12, 10, 1, 3];
    /// x509Certificate, 1.2.840.113549.1.9.22.1.
    pub const X509_CERTIFICATE: &[u8] = &[6, 10, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 9, 22, 1];
    /// friendlyName, 1.2.840.113549.1.9.20 (PKCS#9).
    pub const FRIENDLY_NAME: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 9, 20];
    /// localKeyId, 1.2.840.113549.1.9.21.
    pub const LOCAL_KEY_ID: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 9, 21];
    /// PBES2, 1.2.840.113549.1.5.13 (RFC 8018).
    pub const PBES2: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 5, 13];
    /// PBKDF2, 1.2.840.113549.1.5.12.
    pub const PBKDF2: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 5, 12];
    /// hmacWithSHA256, 1.2.840.113549.2.9.
    pub const HMAC_SHA256: &[u8] = &[6, 8, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 2, 9];
    /// aes256-CBC, 2.16.840.1.101.3.4.1.42 (NIST).
    pub const AES256_CBC: &[u8] = &[6, 9, 0x60, 0x86, 0x48, 1, 0x65, 3, 4, 1, 42];
    /// id-sha256, 2.16.840.1.101.3.4.2.1.
    pub const SHA256: &[u8] = &[6, 9, 0x60, 0x86, 0x48, 1, 0x65, 3, 4, 2, 1];
}

const ITERATIONS: u32 = 2048;

/// The node's identity for NSS: key, certificate and CA under the given nicknames.
pub struct Identity<'a> {
    pub key_pkcs8_der: &'a [u8],
    pub cert_der: &'a [u8],
    pub nickname: &'a str,
    pub ca_cert_der: &'a [u8],
    pub ca_nickname: &'a str,
}

/// The random inputs of one file: the key's PBKDF2 salt and AES IV, and the MAC's salt.
struct Salts {
    key_salt: [u8; 16],
    iv: [u8; 16],
    mac_salt: [u8; 16],
}

/// Builds the file for `id`, protected by `password`.
pub fn build(id: &Identity<'_>, password: &str) -> Result<Vec<u8>, StoreError> {
    let rng = SystemRandom::new();
    let salts = Salts {
        key_salt: random(&rng)?,
        iv: random(&rng)?,
        mac_salt: random(&rng)?,
    };
    build_salted(id, password, &salts)
}

fn build_salted(id: &Identity<'_>, password: &str, salts: &Salts) -> Result<Vec<u8>, StoreError> {
    for nickname in [id.nickname, id.ca_nickname] {
        check_nickname(nickname)?;
    }
    // Same localKeyId on key and certificate bags pairs them; NSS uses the SHA-1 of the
    // public key, any unique value works: take the certificate's SHA-256.
    let local_key_id = ring::digest::digest(&ring::digest::SHA256, id.cert_der);
    let local_key_id = local_key_id.as_ref();
    let encrypted_key = pbes2_aes256cbc(password, &salts.key_salt, &salts.iv, id.key_pkcs8_der)?;

    let certs = yasna::construct_der(|w| {
        w.write_sequence_of(|w| {
            cert_bag(w.next(), id.ca_cert_der, id.ca_nickname, None);
            cert_bag(w.next(), id.cert_der, id.nickname, Some(local_key_id));
        })
    });
    let keys = yasna::construct_der(|w| {
        w.write_sequence_of(|w| {
            w.next().write_sequence(|w| {
                w.next().write_der(oid::SHROUDED_KEY_BAG);
                w.next().write_tagged(Tag::context(0), |w| {
                    encrypted_private_key_info(w, salts, &encrypted_key)
                });
                attributes(w.next(), id.nickname, Some(local_key_id));
            })
        })
    });
    let auth_safe = yasna::construct_der(|w| {
        w.write_sequence_of(|w| {
            data_content(w.next(), &certs);
            data_content(w.next(), &keys);
        })
    });
    let key = mac_key(password, &salts.mac_salt, ITERATIONS)?;
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        &auth_safe,
    );
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(3); // version v3
            data_content(w.next(), &auth_safe);
            mac_data(w.next(), tag.as_ref(), &salts.mac_salt);
        })
    }))
}

/// A friendlyName is a BMPString: UTF-16 without surrogates.
fn check_nickname(nickname: &str) -> Result<(), StoreError> {
    match nickname.chars().find(|c| u32::from(*c) > 0xffff) {
        None => Ok(()),
        Some(c) => Err(StoreError::Crypto(format!(
            "PKCS#12 attributes: the nickname's {c:?} is outside the Basic Multilingual Plane"
        ))),
    }
}

fn random<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    rng.fill(&mut buf)
        .map_err(|_| StoreError::Crypto("the system random source failed".into()))?;
    Ok(buf)
}

/// A bag's attributes: SET OF { friendlyName, localKeyId }, each a SET of one value.
fn attributes(w: DERWriter<'_>, nickname: &str, local_key_id: Option<&[u8]>) {
    w.write_set_of(|set| {
        set.next().write_sequence(|w| {
            w.next().write_der(oid::FRIENDLY_NAME);
            w.next()
                .write_set_of(|v| v.next().write_bmp_string(nickname));
        });
        if let Some(id) = local_key_id {
            set.next().write_sequence(|w| {
                w.next().write_der(oid::LOCAL_KEY_ID);
                w.next().write_set_of(|v| v.next().write_bytes(id));
            });
        }
    })
}

/// SafeBag { certBag, [0] CertBag { x509Certificate, [0] OCTET STRING }, attributes }.
fn cert_bag(w: DERWriter<'_>, cert_der: &[u8], nickname: &str, local_key_id: Option<&[u8]>) {
    w.write_sequence(|w| {
        w.next().write_der(oid::CERT_BAG);
        w.next().write_tagged(Tag::context(0), |w| {
            w.write_sequence(|w| {
                w.next().write_der(oid::X509_CERTIFICATE);
                w.next()
                    .write_tagged(Tag::context(0), |w| w.write_bytes(cert_der));
            })
        });
        attributes(w.next(), nickname, local_key_id);
    })
}

/// EncryptedPrivateKeyInfo with PBES2 parameters: PBKDF2 (salt, iterations, PRF
/// hmacWithSHA256 with NULL parameters, no key length) and AES-256-CBC with its IV.
fn encrypted_private_key_info(w: DERWriter<'_>, salts: &Salts, encrypted: &[u8]) {
    w.write_sequence(|w| {
        w.next().write_sequence(|w| {
            w.next().write_der(oid::PBES2);
            w.next().write_sequence(|w| {
                w.next().write_sequence(|w| {
                    w.next().write_der(oid::PBKDF2);
                    w.next().write_sequence(|w| {
                        w.next().write_bytes(&salts.key_salt);
                        w.next().write_u32(ITERATIONS);
                        w.next().write_sequence(|w| {
                            w.next().write_der(oid::HMAC_SHA256);
                            w.next().write_null();
                        });
                    });
                });
                w.next().write_sequence(|w| {
                    w.next().write_der(oid::AES256_CBC);
                    w.next().write_bytes(&salts.iv);
                });
            });
        });
        w.next().write_bytes(encrypted);
    })
}

/// PBES2 encryption (PBKDF2-HMAC-SHA256 then AES-256-CBC, PKCS#7 padding): ring's PBKDF2,
/// RustCrypto's AES (ring has no CBC mode).
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

/// A `data` ContentInfo: { id-data, [0] EXPLICIT OCTET STRING }.
fn data_content(w: DERWriter<'_>, content: &[u8]) {
    w.write_sequence(|w| {
        w.next().write_der(oid::DATA);
        w.next()
            .write_tagged(Tag::context(0), |w| w.write_bytes(content));
    })
}

/// MacData { DigestInfo { sha256 with NULL parameters, the HMAC }, salt, iterations }.
fn mac_data(w: DERWriter<'_>, tag: &[u8], salt: &[u8]) {
    w.write_sequence(|w| {
        w.next().write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_der(oid::SHA256);
                w.next().write_null();
            });
            w.next().write_bytes(tag);
        });
        w.next().write_bytes(salt);
        w.next().write_u32(ITERATIONS);
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

    /// Byte for byte what the previous writer (RustCrypto's pkcs12, pkcs5 and der types) wrote
    /// for the same inputs and salts, kept in tests/data/p12-reference. The second file has a
    /// nickname long enough that DER's SET OF order puts localKeyId before friendlyName.
    #[test]
    fn writes_the_reference_files_byte_for_byte() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/p12-reference/");
        let read = |f: &str| std::fs::read(format!("{dir}{f}")).unwrap();
        let (key, cert, ca) = (read("node.key"), read("node.der"), read("ca.der"));
        let salts = Salts {
            key_salt: [1; 16],
            iv: [2; 16],
            mac_salt: [3; 16],
        };
        let long = "a much longer nickname than the usual one, for the set order";
        for (file, nickname, password) in
            [("a.p12", "Cluster Cert", ""), ("b.p12", long, "pässwort")]
        {
            let id = Identity {
                key_pkcs8_der: &key,
                cert_der: &cert,
                nickname,
                ca_cert_der: &ca,
                ca_nickname: "QNet CA",
            };
            let ours = build_salted(&id, password, &salts).unwrap();
            assert!(ours == read(file), "{file} differs");
        }
    }

    #[test]
    fn a_nickname_outside_the_bmp_is_an_error() {
        let id = Identity {
            key_pkcs8_der: &[],
            cert_der: &[],
            nickname: "🔑",
            ca_cert_der: &[],
            ca_nickname: "QNet CA",
        };
        assert!(build(&id, "").is_err());
    }

    #[test]
    fn a_password_outside_the_bmp_is_an_error() {
        assert!(mac_key("🔑", &[1; 16], 1).is_err());
    }
}
