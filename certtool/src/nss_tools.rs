//! NSS's own command-line tools (`certutil`, `pk12util` from libnss3-tools), run only by the
//! migration commands (`qnetd cert import-nss` / `export-nss`) on the host that holds an
//! upstream corosync-qnetd database. Nothing else in qnetd runs them: the router that serves
//! the migrated store never needs NSS.
//!
//! Every tool runs with stdin closed (a password prompt reads EOF and fails instead of
//! hanging) and with `sql:DIR`, the database format upstream creates.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::StoreError;

/// Upstream's nicknames (corosync-qnetd-certutil, `qdevices/qnet-config.h`).
pub const CA_NICKNAME: &str = "QNet CA";
pub const SERVER_NICKNAME: &str = "QNetd Cert";
/// Upstream's file names inside the database directory.
pub const PWD_FILE: &str = "pwdfile.txt";
pub const NOISE_FILE: &str = "noise.txt";
pub const CERT_DB: &str = "cert9.db";
pub const KEY_DB: &str = "key4.db";
pub const LEGACY_CERT_DB: &str = "cert8.db";
pub const MODULE_FILE: &str = "pkcs11.txt";

/// Why a migration cannot go on: a sentence saying what is wrong and what to do.
#[derive(Debug)]
pub struct MigrateError(pub String);

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MigrateError {}

impl From<StoreError> for MigrateError {
    fn from(e: StoreError) -> Self {
        MigrateError(e.to_string())
    }
}

pub fn fail<T>(msg: impl Into<String>) -> Result<T, MigrateError> {
    Err(MigrateError(msg.into()))
}

/// One line of `certutil -L`: nickname and trust flags (`CTu,u,u`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertLine {
    pub nickname: String,
    pub trust: String,
}

/// An NSS database directory as the tools see it.
pub struct Db {
    pub dir: PathBuf,
}

impl Db {
    pub fn new(dir: &Path) -> Db {
        Db {
            dir: dir.to_path_buf(),
        }
    }

    fn spec(&self) -> String {
        format!("sql:{}", self.dir.display())
    }

    /// `certutil -L`: every certificate with its trust flags.
    pub fn certificates(&self) -> Result<Vec<CertLine>, MigrateError> {
        let out = run("certutil", &["-L", "-d", &self.spec()])?;
        if !out.status.success() {
            return fail(format!(
                "certutil cannot list the certificates of {}: {}",
                self.dir.display(),
                stderr(&out)
            ));
        }
        Ok(parse_cert_list(&String::from_utf8_lossy(&out.stdout)))
    }

    /// `certutil -K`: the nicknames of the private keys (a wrong password fails here).
    pub fn key_nicknames(&self, pwdfile: &Path) -> Result<Vec<String>, MigrateError> {
        let pwd = pwdfile.to_string_lossy();
        let out = run("certutil", &["-K", "-d", &self.spec(), "-f", &pwd])?;
        let err = stderr(&out);
        if !out.status.success() {
            let all = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
            if all.contains("no keys found") {
                return Ok(Vec::new());
            }
            if is_bad_password(&err) {
                return fail(format!(
                    "the password in {} does not open the key database ({err}); put the \
                     database's password in that file (upstream's is empty)",
                    pwdfile.display()
                ));
            }
            return fail(format!(
                "certutil cannot list the keys of {}: {err}",
                self.dir.display()
            ));
        }
        Ok(parse_key_list(&String::from_utf8_lossy(&out.stdout)))
    }

    /// `certutil -L -n NICK -r`: one certificate, DER.
    pub fn certificate_der(&self, nickname: &str) -> Result<Vec<u8>, MigrateError> {
        let out = run(
            "certutil",
            &["-L", "-d", &self.spec(), "-n", nickname, "-r"],
        )?;
        if !out.status.success() || out.stdout.is_empty() {
            return fail(format!(
                "certutil cannot export certificate {nickname:?} from {}: {}",
                self.dir.display(),
                stderr(&out)
            ));
        }
        Ok(out.stdout)
    }

    /// `certutil -L -n NICK` (text) followed by `-a` (PEM): upstream's qnetd-cacert.crt.
    pub fn certificate_text_and_pem(&self, nickname: &str) -> Result<Vec<u8>, MigrateError> {
        let spec = self.spec();
        let mut all = Vec::new();
        for ascii in [false, true] {
            let mut args = vec!["-L", "-d", &spec, "-n", nickname];
            if ascii {
                args.push("-a");
            }
            let out = run("certutil", &args)?;
            if !out.status.success() {
                return fail(format!(
                    "certutil cannot print certificate {nickname:?}: {}",
                    stderr(&out)
                ));
            }
            all.extend_from_slice(&out.stdout);
        }
        Ok(all)
    }

    /// `pk12util -o`: key and certificate `nickname` into `out`, protected by `password`.
    pub fn export_p12(
        &self,
        pwdfile: &Path,
        nickname: &str,
        out: &Path,
        password: &str,
    ) -> Result<(), MigrateError> {
        let pwd = pwdfile.to_string_lossy();
        let file = out.to_string_lossy();
        let res = run(
            "pk12util",
            &[
                "-o",
                &file,
                "-n",
                nickname,
                "-d",
                &self.spec(),
                "-k",
                &pwd,
                "-W",
                password,
            ],
        )?;
        if !res.status.success() {
            let err = stderr(&res);
            if is_bad_password(&err) {
                return fail(format!(
                    "the password in {} does not open the key database ({err})",
                    pwdfile.display()
                ));
            }
            return fail(format!(
                "pk12util cannot export the key of {nickname:?} from {}: {err}",
                self.dir.display()
            ));
        }
        Ok(())
    }

    /// `certutil -N`: a new, empty database with the password in `pwdfile`.
    pub fn create(&self, pwdfile: &Path) -> Result<(), MigrateError> {
        let pwd = pwdfile.to_string_lossy();
        let out = run("certutil", &["-N", "-d", &self.spec(), "-f", &pwd])?;
        if !out.status.success() {
            return fail(format!(
                "certutil cannot create an NSS database in {}: {}",
                self.dir.display(),
                stderr(&out)
            ));
        }
        Ok(())
    }

    /// `pk12util -i`: imports a PKCS#12 file (key and certificates).
    pub fn import_p12(
        &self,
        pwdfile: &Path,
        p12: &Path,
        password: &str,
    ) -> Result<(), MigrateError> {
        let pwd = pwdfile.to_string_lossy();
        let file = p12.to_string_lossy();
        let out = run(
            "pk12util",
            &["-i", &file, "-d", &self.spec(), "-k", &pwd, "-W", password],
        )?;
        if !out.status.success() {
            return fail(format!(
                "pk12util cannot import {} into {}: {}",
                p12.display(),
                self.dir.display(),
                stderr(&out)
            ));
        }
        Ok(())
    }

    /// `certutil -M -t`: sets the trust flags of a certificate.
    pub fn set_trust(
        &self,
        pwdfile: &Path,
        nickname: &str,
        trust: &str,
    ) -> Result<(), MigrateError> {
        let pwd = pwdfile.to_string_lossy();
        let out = run(
            "certutil",
            &[
                "-M",
                "-d",
                &self.spec(),
                "-n",
                nickname,
                "-t",
                trust,
                "-f",
                &pwd,
            ],
        )?;
        if !out.status.success() {
            return fail(format!(
                "certutil cannot set the trust of {nickname:?} to {trust}: {}",
                stderr(&out)
            ));
        }
        Ok(())
    }
}

fn is_bad_password(err: &str) -> bool {
    err.contains("SEC_ERROR_BAD_PASSWORD")
        || err.contains("Incorrect password")
        || err.contains("could not authenticate")
        || err.contains("Failed to authenticate")
}

fn stderr(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let text = text.trim();
    if text.is_empty() {
        format!("exit status {}", out.status)
    } else {
        // One line: NSS repeats context on several.
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn run(program: &str, args: &[&str]) -> Result<Output, MigrateError> {
    Command::new(program)
        .args(args.iter().map(OsStr::new))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                MigrateError(format!(
                    "{program} not found: install NSS's tools (Debian: `apt-get install \
                     libnss3-tools`) on this host. Only import-nss and export-nss need them, \
                     on the host that holds the NSS database; the router serving the \
                     migrated store does not"
                ))
            } else {
                MigrateError(format!("cannot run {program}: {e}"))
            }
        })
}

/// Parses `certutil -L`: after the two header lines, `NICKNAME<spaces>TRUST`.
pub fn parse_cert_list(text: &str) -> Vec<CertLine> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with("Certificate Nickname") && !l.trim_start().starts_with("SSL,"))
        .filter_map(|l| {
            let l = l.trim_end();
            let (nick, trust) = l.rsplit_once(char::is_whitespace)?;
            let nick = nick.trim();
            (!nick.is_empty() && trust.contains(',')).then(|| CertLine {
                nickname: nick.to_string(),
                trust: trust.to_string(),
            })
        })
        .collect()
}

/// Parses `certutil -K`: `< 0> rsa      <key id>   NSS Certificate DB:NICKNAME` (or
/// `(orphan)` for a key without a certificate).
pub fn parse_key_list(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('<'))
        .filter_map(|l| {
            let rest = l.split_once('>')?.1.trim_start();
            // Key type, then the key id, then the name.
            let mut words = rest.splitn(3, char::is_whitespace);
            let _kind = words.next()?;
            let rest = words.next().and(words.next())?.trim_start();
            let rest = rest
                .split_once(char::is_whitespace)
                .map_or("", |x| x.1)
                .trim();
            let name = rest.strip_prefix("NSS Certificate DB:").unwrap_or(rest);
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_lists_are_parsed() {
        let text = "\nCertificate Nickname                                         Trust Attributes\n\
                    \x20                                                            SSL,S/MIME,JAR/XPI\n\n\
                    QNet CA                                                      CTu,u,u\n\
                    QNetd Cert                                                   u,u,u\n";
        assert_eq!(
            parse_cert_list(text),
            [
                CertLine {
                    nickname: "QNet CA".into(),
                    trust: "CTu,u,u".into()
                },
                CertLine {
                    nickname: "QNetd Cert".into(),
                    trust: "u,u,u".into()
                }
            ]
        );
    }

    #[test]
    fn key_lists_are_parsed() {
        let text = "certutil: Checking token \"NSS Certificate DB\" in slot \"NSS User Private Key and Certificate Services\"\n\
                    < 0> rsa      81cf33ff050136d018afec142e1fc96c74ddbdc4   NSS Certificate DB:QNet CA\n\
                    < 1> rsa      57ada86edb11d14f2526cbc83d897ed3f0fbd24a   NSS Certificate DB:QNetd Cert\n\
                    < 2> ec       1111111111111111111111111111111111111111   (orphan)\n";
        assert_eq!(parse_key_list(text), ["QNet CA", "QNetd Cert", "(orphan)"]);
    }
}
