//! Embeds the build time as `QNETD_BUILD_EPOCH` (Unix seconds) for `qnetd doctor`'s clock
//! check: a router without a real-time clock boots "in the past", and any time before this
//! binary was built is certainly wrong. `SOURCE_DATE_EPOCH` wins, for reproducible builds.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=QNETD_BUILD_EPOCH={epoch}");
    // Re-run only when asked: the value is a lower bound, it need not track every build.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
