//! Whether the kernel's random pool is ready.
//!
//! ring takes its key material from getrandom(2), which blocks until the kernel's pool is
//! initialised. A router without a hardware RNG can wait a long time after boot; callers
//! probe first so they can say they are waiting instead of hanging silently.

use std::io;

/// `true` if getrandom(2) would return at once, `false` if it would block now.
pub fn random_pool_ready() -> bool {
    let mut byte = [0u8; 1];
    // SAFETY: the buffer is valid for 1 byte; GRND_NONBLOCK makes the call return at once.
    let rc = unsafe { libc::getrandom(byte.as_mut_ptr().cast(), 1, libc::GRND_NONBLOCK) };
    !(rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN))
}
