//! The global allocator of rstash and rstore: mimalloc, called the way its fast paths expect.
//!
//! The `mimalloc` crate hands every request to `mi_malloc_aligned`. In mimalloc 3 that call is
//! fast only while the thread's free list for the size has a block; otherwise, unless the size
//! rounds to a power of two, it over-allocates (`size + align - 1`, one size class up) and takes
//! a slow generic path. Events are allocated by an input thread and freed by a worker, so that
//! list is empty for nearly every event: a 448-byte field array cost ~170 instructions to
//! allocate. Every mimalloc block is word-aligned (block sizes are multiples of the word, pages
//! start aligned), so requests asking no more than that go to plain `mi_malloc`.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every mimalloc block has.
const WORD: usize = std::mem::size_of::<usize>();

pub struct MiMalloc;

// SAFETY: each call forwards to mimalloc with the layout's size, and asks for the layout's
// alignment unless every block already has it; `dealloc` and `realloc` receive only pointers this
// allocator returned, which `mi_free` and `mi_realloc(_aligned)` accept whichever call made them.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        unsafe {
            if l.align() <= WORD {
                mi::mi_malloc(l.size()).cast()
            } else {
                mi::mi_malloc_aligned(l.size(), l.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        unsafe {
            if l.align() <= WORD {
                mi::mi_zalloc(l.size()).cast()
            } else {
                mi::mi_zalloc_aligned(l.size(), l.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, _l: Layout) {
        unsafe { mi::mi_free(p.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        unsafe {
            if l.align() <= WORD {
                mi::mi_realloc(p.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(p.cast::<c_void>(), new_size, l.align()).cast()
            }
        }
    }
}

/// mimalloc 3's `mi_option_allow_thp` (its `mimalloc.h` enum; the Rust bindings name only the
/// options mimalloc 2 shares).
const MI_OPTION_ALLOW_THP: mi::mi_option_t = 43;

/// Turns transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` says
/// otherwise. mimalloc asks for them on its arenas, so each first touch of a 2 MiB region has the
/// kernel zero all of it; a process whose memory turns over fast (rstore: indexing buffers freed
/// and taken anew every refresh) spent ~10% of its cycles there on this machine's VM, and 4 KiB
/// pages zero only what is used. Called first thing in `main`: the option governs arenas mapped
/// later, the `prctl` the ones already mapped.
pub fn without_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: sets an integer option mimalloc reads when it maps memory.
    unsafe { mi::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes a flag and no pointers; a failure leaves THP as it was.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size class up to a few pages, every alignment up to a page: the block is aligned,
    /// writable over its whole size, and keeps its bytes when it grows or shrinks.
    #[test]
    fn blocks_are_aligned_and_keep_their_bytes() {
        let a = MiMalloc;
        let mut live = Vec::new();
        for size in (1..=4096).step_by(7).chain([8192, 65536, 1 << 20]) {
            for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
                let l = Layout::from_size_align(size, align).unwrap();
                for zeroed in [false, true] {
                    let p = unsafe {
                        if zeroed {
                            a.alloc_zeroed(l)
                        } else {
                            a.alloc(l)
                        }
                    };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    let s = unsafe { std::slice::from_raw_parts_mut(p, size) };
                    if zeroed {
                        assert!(s.iter().all(|&b| b == 0));
                    }
                    s.fill(size as u8);
                    live.push((p, l));
                }
            }
            // Frees half of them in between: later requests reuse freed blocks.
            if size % 2 == 0 {
                for (p, l) in live.drain(..) {
                    unsafe { a.dealloc(p, l) };
                }
            }
        }
        for (p, l) in live.drain(..) {
            let grown = unsafe { a.realloc(p, l, l.size() * 3 + 5) };
            assert_eq!(grown as usize % l.align(), 0);
            let s = unsafe { std::slice::from_raw_parts(grown, l.size()) };
            assert!(s.iter().all(|&b| b == l.size() as u8));
            let nl = Layout::from_size_align(l.size() * 3 + 5, l.align()).unwrap();
            let shrunk = unsafe { a.realloc(grown, nl, l.size().div_ceil(2)) };
            assert_eq!(shrunk as usize % l.align(), 0);
            let s = unsafe { std::slice::from_raw_parts(shrunk, l.size().div_ceil(2)) };
            assert!(s.iter().all(|&b| b == l.size() as u8));
            unsafe {
                a.dealloc(
                    shrunk,
                    Layout::from_size_align(l.size().div_ceil(2), l.align()).unwrap(),
                )
            };
        }
    }

    /// The option number is mimalloc 3's `allow_thp` (on by default, off once asked), and the
    /// kernel sees the process's huge pages off.
    #[test]
    fn huge_pages_are_turned_off() {
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
            return;
        }
        assert_eq!(unsafe { mi::mi_option_get(MI_OPTION_ALLOW_THP) }, 1);
        without_huge_pages();
        assert_eq!(unsafe { mi::mi_option_get(MI_OPTION_ALLOW_THP) }, 0);
        #[cfg(target_os = "linux")]
        assert_eq!(
            unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) },
            1
        );
    }

    /// Blocks made on one thread and freed on another (the input → worker hand-off) stay sound.
    #[test]
    fn blocks_freed_on_another_thread() {
        let l = Layout::from_size_align(448, 8).unwrap();
        for _ in 0..4 {
            let ptrs: Vec<usize> = (0..10_000)
                .map(|_| unsafe { MiMalloc.alloc(l) } as usize)
                .collect();
            assert!(ptrs.iter().all(|&p| p != 0 && p % 8 == 0));
            std::thread::spawn(move || {
                for p in ptrs {
                    unsafe { MiMalloc.dealloc(p as *mut u8, l) };
                }
            })
            .join()
            .unwrap();
        }
    }
}
