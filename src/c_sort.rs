//! `qsort` for the static musl builds: an insertion sort.
//!
//! Its one caller in the binary is musl's getaddrinfo (`-l HOST`), which sorts at most 48
//! addresses by a key that is unique per address, so every correct sort gives the same order.
//! zig's libc's qsort costs ~6 KB on mipsel for that; this is a few hundred bytes. An insertion
//! sort is correct for any input, and quadratic only where no caller here goes.

use std::ffi::{c_int, c_void};

type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;

/// Sorts `count` elements of `size` bytes at `base` by `compare`, as libc's qsort.
///
/// # Safety
/// As for libc's qsort: `base` holds `count` elements of `size` bytes, `compare` is a
/// consistent order on them.
#[cfg_attr(target_env = "musl", no_mangle)]
pub unsafe extern "C" fn qsort(base: *mut c_void, count: usize, size: usize, compare: Compare) {
    let base = base.cast::<u8>();
    for i in 1..count {
        let mut j = i;
        while j > 0 {
            let before = base.add((j - 1) * size);
            let this = base.add(j * size);
            if compare(before.cast(), this.cast()) <= 0 {
                break;
            }
            std::ptr::swap_nonoverlapping(before, this, size);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn by_key(a: *const c_void, b: *const c_void) -> c_int {
        let (a, b) = (*a.cast::<[u32; 3]>(), *b.cast::<[u32; 3]>());
        a[0].cmp(&b[0]) as c_int
    }

    /// Every length up to 60 (getaddrinfo sorts at most 48), keys with and without repeats,
    /// multi-word elements: the result is sorted and a permutation of the input.
    #[test]
    fn sorts_like_std() {
        let mut seed = 0x2545_f491_u32;
        for len in 0..60 {
            for range in [3, 1000] {
                let mut items: Vec<[u32; 3]> = (0..len)
                    .map(|i| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        [seed % range, i, !i]
                    })
                    .collect();
                let mut want = items.clone();
                want.sort_by_key(|e| e[0]);
                // SAFETY: `items` holds `len` elements of the size given; by_key reads them.
                unsafe { qsort(items.as_mut_ptr().cast(), items.len(), 12, by_key) };
                let keys = |v: &[[u32; 3]]| v.iter().map(|e| e[0]).collect::<Vec<_>>();
                assert_eq!(keys(&items), keys(&want));
                let mut got = items.clone();
                got.sort();
                want.sort();
                assert_eq!(got, want);
            }
        }
    }
}
