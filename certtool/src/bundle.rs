//! Node enrolment without ssh from the nodes to the router: `qnetd cert bundle` makes the node
//! key and its cluster certificate here, packs them as `qdevice-net-node.p12` (what
//! `corosync-qdevice-net-certutil -m` imports on every node), and writes the CA and the exact
//! commands to run next to it, plus one self-contained script that does it all.

use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::fsutil;
use crate::p12::{self, Identity};
use crate::profile;
use crate::store::{cluster_cert_file, CertStore, Issued, CA_CERT_FILE};

/// The NSS nickname the qdevice daemon looks its client certificate up by.
pub const NODE_NICKNAME: &str = "Cluster Cert";
/// Upstream's name for the node's PKCS#12 file.
pub const P12_FILE: &str = "qdevice-net-node.p12";
pub const COMMANDS_FILE: &str = "commands.txt";
pub const SCRIPT_FILE: &str = "enrol-node.sh";

pub struct Bundle {
    pub dir: PathBuf,
    pub issued: Issued,
    /// The commands to run on each node (also in commands.txt).
    pub commands: String,
}

/// Issues a node certificate for `cluster` and writes the bundle into `out`.
pub fn make(store: &CertStore, cluster: &str, out: &Path) -> Result<Bundle, StoreError> {
    crate::store::check_cluster_name(cluster)?;
    let key = profile::new_key()?;
    let key_der = key.serialize_der();
    let ca_der = store.ca_cert_der()?;
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
    fsutil::create_dir(out, 0o700, None)?;
    let ca_export = fsutil::read(&store.path(CA_CERT_FILE))?;
    let commands = commands(cluster);
    let write = |name: &str, data: &[u8], mode: u32| {
        fsutil::write_atomic(&out.join(name), data, mode, None)
    };
    write(
        &format!("cluster-{cluster}.key"),
        key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write(&cluster_cert_file(cluster), &issued.der, 0o644)?;
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
/// receive one file.
fn script(cluster: &str, ca_export: &[u8], p12: &[u8]) -> String {
    format!(
        "#!/bin/sh\n\
         # Enrols this node of cluster {cluster:?} with qnetd: imports the qnetd CA and the\n\
         # node's certificate and key ({NODE_NICKNAME:?}) into the qdevice NSS database.\n\
         set -eu\n\
         tmp=$(mktemp -d)\n\
         trap 'rm -rf \"$tmp\"' EXIT\n\
         base64 -d > \"$tmp/{CA_CERT_FILE}\" <<'QNETD_CA'\n{}QNETD_CA\n\
         base64 -d > \"$tmp/{P12_FILE}\" <<'QNETD_P12'\n{}QNETD_P12\n\
         chmod 600 \"$tmp/{P12_FILE}\"\n\
         if [ -e /etc/corosync/qdevice/net/nssdb/cert9.db ] || [ -e /etc/corosync/qdevice/net/nssdb/cert8.db ]; then\n\
         \x20 echo \"qdevice NSS database exists: importing into it (remove it first to start clean)\"\n\
         else\n\
         \x20 corosync-qdevice-net-certutil -i -c \"$tmp/{CA_CERT_FILE}\"\n\
         fi\n\
         corosync-qdevice-net-certutil -m -c \"$tmp/{P12_FILE}\"\n\
         echo \"enrolled: now configure quorum.device in corosync.conf and start corosync-qdevice\"\n",
        base64_lines(ca_export),
        base64_lines(p12)
    )
}

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
