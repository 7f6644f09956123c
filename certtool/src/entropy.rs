//! Whether the kernel's random pool is ready.
//!
//! ring takes its key material from getrandom(2), which blocks until the kernel's pool is
//! initialised. A router without a hardware RNG can wait a long time after boot; callers
//! probe first so they can say they are waiting instead of hanging silently.

use rustix::io::Errno;
use rustix::rand::{getrandom, GetRandomFlags};

/// `true` if getrandom(2) would return at once, `false` if it would block now.
///
/// GRND_NONBLOCK makes the call fail with EAGAIN instead of blocking while the pool is not
/// initialised. Any other outcome (a byte, EINTR, ENOSYS on an old kernel) counts as ready:
/// only EAGAIN proves that ring's blocking call would wait.
pub fn random_pool_ready() -> bool {
    let mut byte = [0u8; 1];
    !matches!(
        getrandom(&mut byte, GetRandomFlags::NONBLOCK),
        Err(Errno::AGAIN)
    )
}
