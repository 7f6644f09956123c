//! `corosync-qnetd-certutil`: upstream's flags (`-i`, `-s -c FILE -n NAME`, `-G`, `-h`), file
//! names, messages and exit codes, which `pvecm qdevice setup`, crmsh and pcs rely on
//! (upstream `qdevices/corosync-qnetd-certutil.sh`). Differences, on purpose:
//! - `-s` with a bad request exits 1 and writes nothing (upstream prints success, exits 0 and
//!   leaves a 0-byte certificate);
//! - `-s` refuses a request whose CN is not the cluster name (the daemon would refuse the nodes);
//! - the store directory can be moved with the `QNETD_CERT_DIR` environment variable.

use std::path::PathBuf;
use std::process::ExitCode;

use certtool::{CertStore, InitOptions, InitOutcome};

/// Environment variable that replaces the store directory (upstream has no flag for it).
pub const DIR_ENV: &str = crate::settings::STORE_DIR_ENV;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub init: bool,
    pub sign: bool,
    pub csr: Option<String>,
    pub cluster: Option<String>,
    pub no_group_write: bool,
    pub help: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    Invalid(char),
    MissingArgument(char),
}

/// POSIX `getopts ":Ghisc:n:"` as bash runs it: options may be grouped (`-iG`), an option's
/// argument is the rest of the word or the next word, parsing stops at `--` or the first
/// non-option word, later `-i`/`-s` win, `-h` stops at once.
pub fn parse(args: &[String]) -> Result<Flags, ParseError> {
    let mut f = Flags::default();
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        if word == "--" || !word.starts_with('-') || word == "-" {
            break;
        }
        let chars: Vec<char> = word.chars().skip(1).collect();
        let mut j = 0;
        while j < chars.len() {
            let opt = chars[j];
            j += 1;
            match opt {
                'i' => f.init = true,
                's' => {
                    f.sign = true;
                    f.init = false;
                }
                'G' => f.no_group_write = true,
                'h' => {
                    f.help = true;
                    return Ok(f);
                }
                'c' | 'n' => {
                    let value = if j < chars.len() {
                        let rest: String = chars[j..].iter().collect();
                        j = chars.len();
                        rest
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(ParseError::MissingArgument(opt));
                    };
                    if opt == 'c' {
                        f.csr = Some(value);
                    } else {
                        f.cluster = Some(value);
                    }
                }
                other => return Err(ParseError::Invalid(other)),
            }
            if opt == 'i' {
                f.sign = false;
            }
        }
    }
    Ok(f)
}

fn program_name() -> String {
    std::env::args()
        .next()
        .unwrap_or_else(|| "corosync-qnetd-certutil".into())
}

fn usage() -> ExitCode {
    let me = program_name();
    outln!("{me}: [-i|-s] [-c certificate] [-G] [-n cluster_name]");
    outln!();
    outln!(" -i                  Initialize QNetd CA and generate server certificate");
    outln!(" -s                  Sign cluster certificate (needs cluster certificate)");
    outln!(" -c certificate      CRQ certificate file name");
    outln!(" -G                  Do not set group write bit for new files");
    outln!(" -n cluster_name     Name of cluster (for -s operation)");
    outln!();
    outln!(
        "The certificate store is {} unless the {DIR_ENV} environment variable names another \
         directory.",
        certtool::DEFAULT_DIR
    );
    ExitCode::SUCCESS
}

fn store_dir() -> PathBuf {
    crate::settings::default_store_dir()
}

#[inline(never)] // see cli::main
pub fn main(args: &[String]) -> ExitCode {
    let flags = match parse(args) {
        Ok(f) => f,
        Err(ParseError::Invalid(c)) => {
            errln!("Invalid option: -{c}");
            return ExitCode::from(1);
        }
        Err(ParseError::MissingArgument(c)) => {
            errln!("Option -{c} requires an argument.");
            return ExitCode::from(1);
        }
    };
    if flags.help {
        return usage();
    }
    let dir = store_dir();
    if flags.init {
        init(&dir, flags.no_group_write)
    } else if flags.sign {
        sign(&dir, &flags)
    } else {
        usage()
    }
}

fn init(dir: &std::path::Path, no_group_write: bool) -> ExitCode {
    if certtool::store_exists(dir) {
        errln!(
            "Certificate database ({}) already exists. Delete it to initialize new db",
            dir.display()
        );
        return ExitCode::from(1);
    }
    if !certtool::random_pool_ready() {
        outln!("Waiting for the kernel's random pool to be initialised…");
    }
    if let Err(e) = crate::cli::cert::share_new_store(dir) {
        errln!("{e}");
        return ExitCode::from(1);
    }
    let opts = InitOptions {
        no_group_write,
        force: false,
    };
    match CertStore::init(dir, opts) {
        Ok((store, InitOutcome::Created { dir_created, .. })) => {
            if let Err(e) = crate::cli::cert::finish_shared_store(dir) {
                errln!("{e}");
                return ExitCode::from(1);
            }
            if dir_created {
                outln!("Creating {}", dir.display());
            }
            outln!("Creating new CA");
            outln!(
                "QNetd CA certificate is exported as {}",
                store.path(certtool::CA_CERT_FILE).display()
            );
            ExitCode::SUCCESS
        }
        // Raced with another init: same answer as upstream's existence check.
        Ok((_, InitOutcome::Unchanged)) => {
            errln!(
                "Certificate database ({}) already exists. Delete it to initialize new db",
                dir.display()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            errln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn sign(dir: &std::path::Path, flags: &Flags) -> ExitCode {
    let csr = flags.csr.clone().unwrap_or_default();
    if csr.is_empty() || std::fs::metadata(&csr).is_err() {
        errln!("Can't open certificate file {csr}");
        return ExitCode::from(2);
    }
    let cluster = flags.cluster.clone().unwrap_or_default();
    if cluster.is_empty() {
        errln!("You have to specify cluster name");
        return ExitCode::from(2);
    }
    let store = match CertStore::open(dir) {
        Ok(s) => s,
        Err(certtool::StoreError::NotInitialised { .. }) => {
            errln!(
                "Certificate database doesn't exists. Use {} -i to create it",
                program_name()
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            errln!("{e}");
            return ExitCode::from(1);
        }
    };
    // Read the request before saying anything on stdout: a missing file or a directory fails
    // without a "Signing cluster certificate" that never happens.
    let request = match crate::cli::cert::read_request(std::path::Path::new(&csr)) {
        Ok(r) => r,
        Err(e) => {
            errln!("Can't open certificate file {csr}: {e}");
            return ExitCode::from(2);
        }
    };
    outln!("Signing cluster certificate");
    if !certtool::random_pool_ready() {
        outln!("Waiting for the kernel's random pool to be initialised…");
    }
    match store.sign_request(&request, &cluster) {
        Ok(issued) => {
            outln!("Certificate stored in {}", issued.path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!("{e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_like_getopts() {
        let f = parse(&args(&["-s", "-c", "/tmp/x.crq", "-n", "c1"])).unwrap();
        assert!(f.sign && !f.init);
        assert_eq!(f.csr.as_deref(), Some("/tmp/x.crq"));
        assert_eq!(f.cluster.as_deref(), Some("c1"));
        let f = parse(&args(&["-iG"])).unwrap();
        assert!(f.init && f.no_group_write);
        let f = parse(&args(&["-sc/tmp/a", "-nfoo"])).unwrap();
        assert_eq!(
            (f.csr.as_deref(), f.cluster.as_deref()),
            (Some("/tmp/a"), Some("foo"))
        );
        // Last operation wins.
        let f = parse(&args(&["-s", "-i"])).unwrap();
        assert!(f.init && !f.sign);
        // Parsing stops at the first non-option word.
        let f = parse(&args(&["x", "-i"])).unwrap();
        assert!(!f.init);
        assert_eq!(parse(&args(&["-x"])), Err(ParseError::Invalid('x')));
        assert_eq!(
            parse(&args(&["-s", "-c"])),
            Err(ParseError::MissingArgument('c'))
        );
        assert!(parse(&args(&["-h", "-x"])).unwrap().help);
    }
}
