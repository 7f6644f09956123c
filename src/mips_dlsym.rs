//! `dlsym` for the static MIPS builds (mips and mipsel musl): always "not found".
//!
//! rustix's libc backend (the one these targets use, see .cargo/config.toml) looks up newer
//! libc functions with `dlsym(RTLD_DEFAULT, name)` before falling back to the raw system call,
//! e.g. `getrandom` for certtool's entropy check. musl's MIPS `dlsym` is hand-written assembly
//! (src/ldso/mips/dlsym.s) that computes `$gp` from `$t9`, i.e. it expects the PIC calling
//! convention; our code is non-PIC (relocation-model=static) and calls it with a plain `jal`,
//! and its object is not marked PIC, so the linker adds no stub that would set `$t9`. Its
//! `$gp` is then garbage and the first GOT load dies with SIGBUS (measured under qemu: `qnetd
//! cert init` crashed before making a key). In a static binary musl's `dlsym` can only fail
//! anyway ("Dynamic loading not supported"), so this definition, which the linker takes
//! instead of libc.a's, gives the same answer without the call: rustix then makes the system
//! call itself.

use std::ffi::{c_char, c_void};

/// Never finds a symbol: a static binary has no dynamic symbols to look up.
///
/// # Safety
/// None needed: the arguments are not read.
#[no_mangle]
pub unsafe extern "C" fn dlsym(_handle: *mut c_void, _symbol: *const c_char) -> *mut c_void {
    std::ptr::null_mut()
}
