//! `pthread_setname_np` for the static musl builds: the calling thread only, by prctl.
//!
//! std names the threads it spawns with a name (async-io's reactor thread, the blocking pool's
//! threads) by calling `pthread_setname_np(pthread_self(), name)` from the new thread. musl's
//! version also handles another thread by writing /proc/self/task/TID/comm, whose path it
//! formats with `snprintf`: that one call links musl's whole printf (printf_core, vfprintf and
//! the long double formatting, ~10 KB on mipsel), which nothing else in the binary uses. This
//! definition, which the linker takes instead of libc.a's, does what std needs: PR_SET_NAME for
//! the calling thread (as musl does for it), and ENOTSUP for any other thread.

use std::ffi::{c_char, c_int, CStr};

/// The kernel's thread name limit (TASK_COMM_LEN), with the terminating NUL.
const TASK_COMM_LEN: usize = 16;

/// Sets the calling thread's name; another thread's name is not supported.
///
/// # Safety
/// `name` must point to a NUL-terminated string, as for libc's function.
#[no_mangle]
pub unsafe extern "C" fn pthread_setname_np(thread: libc::pthread_t, name: *const c_char) -> c_int {
    if thread != libc::pthread_self() {
        return libc::ENOTSUP;
    }
    if CStr::from_ptr(name).to_bytes().len() >= TASK_COMM_LEN {
        return libc::ERANGE;
    }
    if libc::prctl(libc::PR_SET_NAME, name as libc::c_ulong, 0, 0, 0) != 0 {
        return std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL);
    }
    0
}
