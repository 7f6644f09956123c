//! Node enrolment without ssh from the nodes to the router: `qnetd cert bundle` makes the node
//! key and its cluster certificate here, packs them as `qdevice-net-node.p12` (what
//! `corosync-qdevice-net-certutil -m` imports on every node), and writes the CA and the exact
//! commands to run next to it, plus one self-contained script that does it all.

use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::fsutil;
use crate::p12::{self, Identity};
use crate::profile;
use crate::store::{cluster_cert_file, CertStore, Recorded, CA_CERT_FILE};

/// The NSS nickname the qdevice daemon looks its client certificate up by.
pub const NODE_NICKNAME: &str = "Cluster Cert";
/// Upstream's name for the node's PKCS#12 file.
pub const P12_FILE: &str = "qdevice-net-node.p12";
pub const COMMANDS_FILE: &str = "commands.txt";
pub const SCRIPT_FILE: &str = "enrol-node.sh";

pub struct Bundle {
    pub dir: PathBuf,
    /// The node certificate, recorded in the store's registry; its file is in the bundle only.
    pub issued: Recorded,
    /// The bundle's `cluster-NAME.crt`.
    pub cert_path: PathBuf,
    /// The commands to run on each node (also in commands.txt).
    pub commands: String,
}

/// Issues a node certificate for `cluster` and writes the bundle into `out`. The store's own
/// `cluster-NAME.crt` (signed from the cluster's request) stays as it is: see
/// [`CertStore::issue_cluster_cert`].
pub fn make(store: &CertStore, cluster: &str, out: &Path) -> Result<Bundle, StoreError> {
    crate::store::check_cluster_name(cluster)?;
    let key = profile::new_key()?;
    let key_der = key.serialize_der();
    let ca_der = store.ca_cert_der()?;
    // Its enrol-node.sh is run as root on every node: the directory must be ours alone,
    // checked (or made, 0700) before a serial is taken.
    let out_dir = fsutil::output_dir(out)?;
    // Everything that can fail before a serial is taken has been done.
    let issued = store.issue_cluster_cert(cluster, &key)?;
    let p12 = p12::build(
        &Identity {
            key_pkcs8_der: &key_der,
            cert_der: &issued.der,
            nickname: NODE_NICKNAME,
            ca_cert_der: &ca_der,
            ca_nickname: profile::CA_CN,
        },
        "",
    )?;
    let ca_export = fsutil::read(&store.path(CA_CERT_FILE))?;
    let commands = commands(cluster);
    let write = |name: &str, data: &[u8], mode: u32| out_dir.write(name, data, mode);
    write(
        &format!("cluster-{cluster}.key"),
        key.serialize_pem().as_bytes(),
        0o600,
    )?;
    let cert_file = cluster_cert_file(cluster);
    write(&cert_file, &issued.der, 0o644)?;
    write(P12_FILE, &p12, 0o600)?;
    write(CA_CERT_FILE, &ca_export, 0o644)?;
    write(COMMANDS_FILE, commands.as_bytes(), 0o644)?;
    write(
        SCRIPT_FILE,
        script(cluster, &ca_export, &p12).as_bytes(),
        0o700,
    )?;
    Ok(Bundle {
        dir: out.to_path_buf(),
        issued,
        cert_path: out.join(cert_file),
        commands,
    })
}

fn commands(cluster: &str) -> String {
    format!(
        "# Enrol the nodes of cluster {cluster:?} with qnetd, without ssh to the qnetd host.\n\
         # Copy {CA_CERT_FILE} and {P12_FILE} from this directory to every node (any way you\n\
         # like: they are all the node needs; or copy {SCRIPT_FILE} alone and run it), then on\n\
         # every node, in the directory holding the two files, as root:\n\
         corosync-qdevice-net-certutil -i -c {CA_CERT_FILE}\n\
         corosync-qdevice-net-certutil -m -c {P12_FILE}\n\
         # (-i says 'already exists' if the node has a qdevice database: remove\n\
         # /etc/corosync/qdevice/net/nssdb first to replace it.)\n\
         # Then add to the quorum section of corosync.conf (host = this qnetd host's address):\n\
         #   device {{\n\
         #     model: net\n\
         #     votes: 1\n\
         #     net {{\n\
         #       host: <qnetd address>\n\
         #       algorithm: ffsplit\n\
         #       tls: on\n\
         #     }}\n\
         #   }}\n\
         # and start it on every node: systemctl enable --now corosync-qdevice\n"
    )
}

/// A POSIX sh script carrying the CA and the PKCS#12 file (base64), for nodes that can only
/// receive one file. Every step is checked and the first failure stops it with what failed,
/// and a node whose qdevice database trusts another "QNet CA" (upstream's, or another qnetd's)
/// is left untouched: importing there would add our node certificate while the old CA stays
/// the trust anchor, a node enrolled by halves that cannot connect.
fn script(cluster: &str, ca_export: &[u8], p12: &[u8]) -> String {
    SCRIPT_TEMPLATE
        .replace("@CLUSTER@", &format!("{cluster:?}"))
        .replace("@NICKNAME@", NODE_NICKNAME)
        .replace("@CA_NICKNAME@", profile::CA_CN)
        .replace("@CA_FILE@", CA_CERT_FILE)
        .replace("@P12_FILE@", P12_FILE)
        .replace("@CA_BASE64@", &base64_lines(ca_export))
        .replace("@P12_BASE64@", &base64_lines(p12))
}

const SCRIPT_TEMPLATE: &str = r#"#!/bin/sh
# Enrols this node of cluster @CLUSTER@ with qnetd: imports the qnetd CA and the node's
# certificate and key ("@NICKNAME@") into the qdevice NSS database. Stops at the first step
# that fails, saying which.
set -eu
db=/etc/corosync/qdevice/net/nssdb
fail() {
  echo "enrol-node.sh: $*" >&2
  exit 1
}
command -v certutil >/dev/null 2>&1 || fail "NSS's certutil is not installed (libnss3-tools / nss-tools)"
command -v corosync-qdevice-net-certutil >/dev/null 2>&1 || fail "corosync-qdevice-net-certutil is not installed (corosync-qdevice)"
tmp=$(mktemp -d) || fail "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT
base64 -d > "$tmp/@CA_FILE@" <<'QNETD_CA' || fail "cannot decode the qnetd CA (base64 -d)"
@CA_BASE64@QNETD_CA
base64 -d > "$tmp/@P12_FILE@" <<'QNETD_P12' || fail "cannot decode the node certificate (base64 -d)"
@P12_BASE64@QNETD_P12
chmod 600 "$tmp/@P12_FILE@"
# The base64 body of the first PEM certificate on stdin, on one line.
pem_body() {
  sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' | grep -v -- '-----' | tr -d '\r\n'
}
if [ -e "$db/cert9.db" ] || [ -e "$db/cert8.db" ]; then
  ours=$(pem_body < "$tmp/@CA_FILE@")
  if ! theirs=$(certutil -L -d "$db" -n "@CA_NICKNAME@" -a 2>/dev/null | pem_body) || [ -z "$theirs" ]; then
    fail "the qdevice database $db holds no \"@CA_NICKNAME@\"; nothing was changed. Move it away and run this script again: mv $db $db.old"
  fi
  if [ "$theirs" != "$ours" ]; then
    fail "the qdevice database $db trusts another \"@CA_NICKNAME@\" (upstream corosync-qnetd's, or another qnetd's); nothing was changed. Move it away and run this script again: mv $db $db.old"
  fi
  echo "the qdevice database $db already trusts this qnetd's CA: importing the node certificate into it"
else
  corosync-qdevice-net-certutil -i -c "$tmp/@CA_FILE@" || fail "importing the qnetd CA failed (corosync-qdevice-net-certutil -i)"
fi
corosync-qdevice-net-certutil -m -c "$tmp/@P12_FILE@" || fail "importing the node certificate failed (corosync-qdevice-net-certutil -m)"
certutil -V -d "$db" -n "@NICKNAME@" -u C >/dev/null || fail "the imported \"@NICKNAME@\" does not verify against the trusted CA (certutil -V)"
echo "enrolled: now configure quorum.device in corosync.conf and start corosync-qdevice"
"#;

/// Base64 in 64-column lines (the PEM body, without its BEGIN/END lines).
fn base64_lines(data: &[u8]) -> String {
    let pem = pem::encode_config(
        &pem::Pem::new("X", data.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    );
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(|l| format!("{l}\n"))
        .collect()
}
