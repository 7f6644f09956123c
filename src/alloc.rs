//! The allocator of the static musl builds: dlmalloc, behind our own lock and on our own
//! mmap calls, so that the daemon can ask it to give free memory back ([`release_free`]),
//! which neither dlmalloc's ready-made global allocator nor its `trim` does for free memory
//! below the heap's top.
//!
//! Why dlmalloc: musl's own malloc (mallocng) keeps ~75% more memory per client for this
//! daemon's allocation pattern (measured: 32.7 kB vs 18.5 kB per idle TLS client at 2,000
//! clients, tools/bench). glibc builds keep glibc's malloc (and its malloc_trim).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// dlmalloc behind a lock. std's Mutex on Linux is a futex: it never allocates.
pub struct Dlmalloc {
    lock: Mutex<()>,
    heap: UnsafeCell<dlmalloc::Dlmalloc<Mmap>>,
}

// SAFETY: `heap` is only touched with `lock` held.
unsafe impl Sync for Dlmalloc {}

#[global_allocator]
static ALLOC: Dlmalloc = Dlmalloc {
    lock: Mutex::new(()),
    heap: UnsafeCell::new(dlmalloc::Dlmalloc::new_with_allocator(Mmap)),
};

/// How many times dlmalloc took new memory from the system: [`release_free`] stops when its
/// own allocation needed new memory, i.e. no free block is left.
static SYSTEM_ALLOCS: AtomicUsize = AtomicUsize::new(0);

impl Dlmalloc {
    /// The heap, for as long as the guard lives. dlmalloc does not panic, so a poisoned lock
    /// cannot mean a half-changed heap: it is taken as it is.
    fn heap(&self) -> (MutexGuard<'_, ()>, *mut dlmalloc::Dlmalloc<Mmap>) {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        (guard, self.heap.get())
    }
}

unsafe impl GlobalAlloc for Dlmalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (_guard, heap) = self.heap();
        (*heap).malloc(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let (_guard, heap) = self.heap();
        (*heap).free(ptr, layout.size(), layout.align())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (_guard, heap) = self.heap();
        (*heap).calloc(layout.size(), layout.align())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (_guard, heap) = self.heap();
        (*heap).realloc(ptr, layout.size(), layout.align(), new_size)
    }
}

/// The sizes of the free blocks [`release_free`] takes, largest first: a large block gives
/// back nearly all its pages, the smaller ones catch the free pieces between live
/// allocations. Free pieces under the smallest stay resident.
const BLOCKS: [usize; 3] = [1024 * 1024, 64 * 1024, 16 * 1024];

/// A taken block starts with this: the block taken before it, and its own size.
#[repr(C)]
struct Link {
    next: *mut Link,
    size: usize,
}

/// Give the pages of free memory back to the system, as glibc's malloc_trim(0) does: for
/// each size of [`BLOCKS`], allocate every free block of that size there is (until dlmalloc
/// has to ask the system for more), tell the kernel their whole pages are not needed
/// ([`forget_pages`]); then free them all again and trim the heap's top. Returns the bytes
/// given back.
pub fn release_free() -> usize {
    let (_guard, heap) = ALLOC.heap();
    let page = page_size();
    let mut released = 0;
    let mut taken: *mut Link = ptr::null_mut();
    // SAFETY: the lock is held for the whole walk; every block is ours until freed below.
    unsafe {
        for size in BLOCKS {
            loop {
                let before = SYSTEM_ALLOCS.load(Ordering::Relaxed);
                let block = (*heap).malloc(size, LINK_ALIGN);
                if block.is_null() {
                    break;
                }
                if SYSTEM_ALLOCS.load(Ordering::Relaxed) != before {
                    // New, untouched memory: no free block of this size is left.
                    (*heap).free(block, size, LINK_ALIGN);
                    break;
                }
                let link = block.cast::<Link>();
                link.write(Link { next: taken, size });
                taken = link;
                released += forget_pages(block, size, page);
            }
        }
        while !taken.is_null() {
            let Link { next, size } = taken.read();
            (*heap).free(taken.cast(), size, LINK_ALIGN);
            taken = next;
        }
        (*heap).trim(0);
    }
    released
}

/// Taken blocks hold a [`Link`] at their start.
const LINK_ALIGN: usize = std::mem::align_of::<Link>();

/// MADV_DONTNEED on the whole pages of `block` (`size` bytes) past its [`Link`]; returns
/// the bytes given back.
///
/// # Safety
/// `block` is an allocation of `size` bytes that nothing else uses.
unsafe fn forget_pages(block: *mut u8, size: usize, page: usize) -> usize {
    let base = block as usize;
    let start = (base + std::mem::size_of::<Link>()).div_ceil(page) * page;
    let end = (base + size) / page * page;
    if end <= start {
        return 0;
    }
    // The pages read back as zeros when the memory is used again; dlmalloc's own
    // bookkeeping lies outside them (chunk headers before `block`, the link at its start).
    let len = end - start;
    if libc::madvise(block.add(start - base).cast(), len, libc::MADV_DONTNEED) == 0 {
        len
    } else {
        0
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096)
}

/// dlmalloc's memory from the system: anonymous mappings, as dlmalloc's own Linux backend,
/// counted in [`SYSTEM_ALLOCS`].
pub struct Mmap;

unsafe impl dlmalloc::Allocator for Mmap {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        SYSTEM_ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: a fresh anonymous mapping, no other memory touched.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                size,
                libc::PROT_WRITE | libc::PROT_READ,
                libc::MAP_ANON | libc::MAP_PRIVATE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            (ptr::null_mut(), 0, 0)
        } else {
            (addr.cast(), size, 0)
        }
    }

    fn remap(&self, ptr: *mut u8, oldsize: usize, newsize: usize, can_move: bool) -> *mut u8 {
        let flags = if can_move { libc::MREMAP_MAYMOVE } else { 0 };
        // SAFETY: dlmalloc passes one of its own mappings.
        let ptr = unsafe { libc::mremap(ptr.cast(), oldsize, newsize, flags) };
        if ptr == libc::MAP_FAILED {
            ptr::null_mut()
        } else {
            ptr.cast()
        }
    }

    fn free_part(&self, ptr: *mut u8, oldsize: usize, newsize: usize) -> bool {
        // SAFETY: dlmalloc passes one of its own mappings and gives up its tail.
        unsafe {
            let rc = libc::mremap(ptr.cast(), oldsize, newsize, 0);
            if rc != libc::MAP_FAILED {
                return true;
            }
            libc::munmap(ptr.wrapping_add(newsize).cast(), oldsize - newsize) == 0
        }
    }

    fn free(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: dlmalloc passes one of its own mappings, no longer used.
        unsafe { libc::munmap(ptr.cast(), size) == 0 }
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        true
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_memory_is_given_back_and_the_heap_still_works() {
        // Small allocations that stay, between large ones that go: the freed memory is
        // below live allocations, where trimming the heap's top cannot reach it.
        let mut kept = Vec::new();
        let mut freed = Vec::new();
        for i in 0..2000u32 {
            freed.push(vec![i as u8; 4096]);
            kept.push(vec![i; 8]);
        }
        drop(freed);
        let released = release_free();
        assert!(
            released >= 4 * 1024 * 1024,
            "only {released} bytes given back"
        );
        // Memory given back is usable again, and what stayed is intact.
        let again: Vec<Vec<u8>> = (0..2000).map(|i| vec![i as u8; 4096]).collect();
        for (i, v) in again.iter().enumerate() {
            assert!(v.iter().all(|b| *b == i as u8));
        }
        for (i, v) in kept.iter().enumerate() {
            assert!(v.iter().all(|x| *x == i as u32));
        }
    }
}

/// C's allocator is the same dlmalloc heap: musl's own C code (opendir, getaddrinfo, realpath,
/// ...) and std's calls into libc allocate here. Without these the static builds also carry
/// zig's libc allocator (its SmpAllocator with a second heap, ~8 KB on mipsel). musl allows
/// replacing malloc in a static binary; these are the entry points it and zig's libc have, and
/// strdup, which zig's libc implements on its own allocator rather than on malloc (its copy
/// would otherwise reach our free).
/// Alignment beyond malloc's natural one (two words) goes through dlmalloc's memalign.
mod c_abi {
    use super::ALLOC;
    use std::ffi::{c_char, c_int, c_void};

    const NATURAL_ALIGN: usize = 2 * std::mem::size_of::<usize>();

    #[no_mangle]
    pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
        let (_guard, heap) = ALLOC.heap();
        (*heap).c_malloc(size).cast()
    }

    #[no_mangle]
    pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
        let Some(total) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        let (_guard, heap) = ALLOC.heap();
        (*heap).calloc(total, NATURAL_ALIGN).cast()
    }

    #[no_mangle]
    pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        let (_guard, heap) = ALLOC.heap();
        (*heap).c_realloc(ptr.cast(), size).cast()
    }

    #[no_mangle]
    pub unsafe extern "C" fn free(ptr: *mut c_void) {
        let (_guard, heap) = ALLOC.heap();
        (*heap).c_free(ptr.cast())
    }

    #[no_mangle]
    pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
        if !align.is_power_of_two() {
            return std::ptr::null_mut();
        }
        let (_guard, heap) = ALLOC.heap();
        (*heap).c_memalign(align, size).cast()
    }

    #[no_mangle]
    pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
        aligned_alloc(align, size)
    }

    #[no_mangle]
    pub unsafe extern "C" fn posix_memalign(
        out: *mut *mut c_void,
        align: usize,
        size: usize,
    ) -> c_int {
        if !align.is_power_of_two() || align % std::mem::size_of::<usize>() != 0 {
            return libc::EINVAL;
        }
        let ptr = aligned_alloc(align, size);
        if ptr.is_null() {
            return libc::ENOMEM;
        }
        *out = ptr;
        0
    }

    #[no_mangle]
    pub unsafe extern "C" fn strdup(text: *const c_char) -> *mut c_char {
        let len = libc::strlen(text) + 1;
        let copy = malloc(len).cast::<c_char>();
        if !copy.is_null() {
            std::ptr::copy_nonoverlapping(text, copy, len);
        }
        copy
    }
}
