//! PKCS#10 certificate requests as NSS `certutil -R` writes them (DER; PEM also accepted).

use rcgen::{CertificateSigningRequestParams, IsCa};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::error::StoreError;

/// A parsed request whose self-signature has been verified.
pub struct Request {
    /// The subject's common name, if it has one.
    pub common_name: Option<String>,
    pub(crate) params: CertificateSigningRequestParams,
}

/// Parses and verifies a request given as DER or PEM (`CERTIFICATE REQUEST` or the older
/// `NEW CERTIFICATE REQUEST` label).
pub fn parse(input: &[u8]) -> Result<Request, StoreError> {
    let der = to_der(input)?;
    let common_name = check_subject(&der)?;
    let mut params = CertificateSigningRequestParams::from_der(&der.as_slice().into())
        .map_err(|e| StoreError::BadRequest(describe(e)))?;
    // Issue exactly upstream's profile (subject + key): whatever the request asks for beyond
    // that, in particular CA:TRUE, is not granted.
    params.params.is_ca = IsCa::NoCa;
    params.params.key_usages.clear();
    params.params.extended_key_usages.clear();
    params.params.subject_alt_names.clear();
    Ok(Request {
        common_name,
        params,
    })
}

fn to_der(input: &[u8]) -> Result<Vec<u8>, StoreError> {
    let text_start = input.iter().position(|b| !b.is_ascii_whitespace());
    let looks_pem = text_start.is_some_and(|i| input[i..].starts_with(b"-----BEGIN"));
    if !looks_pem {
        if input.is_empty() {
            return Err(StoreError::BadRequest("the file is empty".into()));
        }
        return Ok(input.to_vec());
    }
    let blocks = pem::parse_many(input)
        .map_err(|e| StoreError::BadRequest(format!("bad PEM encoding: {e}")))?;
    blocks
        .into_iter()
        .find(|b| matches!(b.tag(), "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"))
        .map(|b| b.into_contents())
        .ok_or_else(|| {
            StoreError::BadRequest("no CERTIFICATE REQUEST block in the PEM file".into())
        })
}

/// Checks the subject's shape before rcgen sees it (rcgen cannot represent an RDN with other
/// than one attribute) and returns its CN.
fn check_subject(der: &[u8]) -> Result<Option<String>, StoreError> {
    let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|e| {
        StoreError::BadRequest(format!("not a PKCS#10 certificate request (DER): {e}"))
    })?;
    if !rest.is_empty() {
        return Err(StoreError::BadRequest(format!(
            "{} bytes of garbage after the request",
            rest.len()
        )));
    }
    let subject = &csr.certification_request_info.subject;
    if subject.iter().any(|rdn| rdn.iter().count() != 1) {
        return Err(StoreError::BadRequest(
            "the subject has a multi-valued or empty name component".into(),
        ));
    }
    let cn = match subject.iter_common_name().next() {
        Some(attr) => Some(
            attr.as_str()
                .map_err(|_| StoreError::BadRequest("the subject CN is not a text string".into()))?
                .to_string(),
        ),
        None => None,
    };
    Ok(cn)
}

fn describe(e: rcgen::Error) -> String {
    match e {
        rcgen::Error::InvalidCertificationRequestSignature => {
            "its signature does not verify (corrupted or tampered file)".into()
        }
        rcgen::Error::CouldNotParseCertificationRequest => {
            "not a PKCS#10 certificate request".into()
        }
        rcgen::Error::UnsupportedSignatureAlgorithm => {
            "signed with an unsupported algorithm".into()
        }
        rcgen::Error::UnsupportedExtension => "it requests an extension we cannot handle".into(),
        other => other.to_string(),
    }
}
