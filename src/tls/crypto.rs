//! The TLS crypto provider of the daemon and of the probe: rustls' ring primitives with the
//! AES-GCM cipher suites only.
//!
//! Why not `rustls::crypto::ring::default_provider()`: it lists the ChaCha20-Poly1305 suites,
//! and that reference alone links ring's ChaCha20/Poly1305 code (about 50 KiB of assembly on
//! x86_64, which this kernel maps resident with the rest of the binary). Every NSS that
//! corosync-qdevice has ever used offers AES-128-GCM (NSS's first TLS 1.3 choice) and
//! AES-256-GCM, so nothing a client can do needs ChaCha20. The provider is built field by
//! field, with no call into `default_provider()`, so that the linker can drop it.

use std::sync::Arc;

use rustls::crypto::ring::{cipher_suite, kx_group, sign};
use rustls::crypto::{
    CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use webpki::ring as alg;

/// The provider every rustls configuration of qnetd is built with.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            // TLS 1.2 for NSS builds without TLS 1.3; our server keys are ECDSA, the RSA
            // suites serve the probe against a server with an RSA key (upstream's NSS store).
            #[cfg(feature = "tls12")]
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            #[cfg(feature = "tls12")]
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            #[cfg(feature = "tls12")]
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            #[cfg(feature = "tls12")]
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &Ring,
        key_provider: &Ring,
    }
}

/// What peers may sign with: NSS client keys are RSA (PKCS#1 v1.5 or PSS), ours are ECDSA.
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P384_SHA384,
        alg::ED25519,
        alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        alg::RSA_PKCS1_2048_8192_SHA256,
        alg::RSA_PKCS1_2048_8192_SHA384,
        alg::RSA_PKCS1_2048_8192_SHA512,
        alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    // In TLS 1.2 the scheme does not fix the curve, hence two entries for the ECDSA schemes.
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        ),
        (SignatureScheme::ED25519, &[alg::ED25519]),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[alg::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[alg::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[alg::RSA_PKCS1_2048_8192_SHA256],
        ),
    ],
};

/// Randomness and key loading from ring, as rustls' own ring provider does them.
#[derive(Debug)]
struct Ring;

impl SecureRandom for Ring {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| GetRandomFailed)
    }
}

impl KeyProvider for Ring {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        sign::any_supported_type(&key_der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_no_chacha20_and_keeps_both_versions() {
        let p = provider();
        assert!(p.cipher_suites.iter().all(|s| {
            let name = format!("{:?}", s.suite());
            name.contains("AES_128_GCM") || name.contains("AES_256_GCM")
        }));
        assert!(p
            .cipher_suites
            .iter()
            .any(|s| s.version() == &rustls::version::TLS13));
        #[cfg(feature = "tls12")]
        assert!(p
            .cipher_suites
            .iter()
            .any(|s| s.version() == &rustls::version::TLS12));
    }

    #[test]
    fn every_mapped_scheme_verifies_with_a_listed_algorithm() {
        for (_, algs) in SIGNATURE_ALGORITHMS.mapping {
            for a in *algs {
                let listed = SIGNATURE_ALGORITHMS.all.iter().any(|b| {
                    std::ptr::eq(*a as *const _ as *const u8, *b as *const _ as *const u8)
                });
                assert!(listed, "{a:?} is mapped but not in `all`");
            }
        }
    }
}
