//! The allocator of the static musl build: dlmalloc behind a spin lock.
//!
//! musl's own malloc hands freed memory back to the kernel at once, so a
//! `berth run` made ~100 mmap/munmap calls and spent ~0.4 ms of CPU in it.
//! dlmalloc keeps freed chunks for reuse. Its own `GlobalDlmalloc` takes a
//! pthread mutex on every call, which under musl is a function call and
//! two atomic operations each way (~2% of a run); berth allocates from one
//! thread, so an uncontended atomic flag is all the locking it needs.
//! Nothing holds the lock across a fork: berth clones its children while it
//! has no other threads, and an allocation never forks.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

use dlmalloc::Dlmalloc;

pub struct SpinDlmalloc {
    locked: AtomicBool,
    heap: UnsafeCell<Dlmalloc>,
}

// SAFETY: every access to `heap` happens between `lock` and `unlock`.
unsafe impl Sync for SpinDlmalloc {}

impl SpinDlmalloc {
    pub const fn new() -> Self {
        Self {
            locked: AtomicBool::new(false),
            heap: UnsafeCell::new(Dlmalloc::new()),
        }
    }

    /// Runs `f` on the heap with the lock held.
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Dlmalloc) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the flag above gives this thread the only access to the
        // heap until it is cleared below.
        let r = f(unsafe { &mut *self.heap.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

// SAFETY: dlmalloc implements malloc/free/realloc with the layout's size and
// alignment; the lock serialises all calls.
unsafe impl GlobalAlloc for SpinDlmalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        self.with(|h| unsafe { h.malloc(layout.size(), layout.align()) })
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        self.with(|h| unsafe { h.calloc(layout.size(), layout.align()) })
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from this allocator with this layout.
        self.with(|h| unsafe { h.free(ptr, layout.size(), layout.align()) })
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: ptr came from this allocator with this layout.
        self.with(|h| unsafe { h.realloc(ptr, layout.size(), layout.align(), new_size) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HEAP: SpinDlmalloc = SpinDlmalloc::new();

    #[test]
    fn allocates_reuses_and_grows() {
        let layout = Layout::from_size_align(100, 16).expect("layout");
        // SAFETY: non-zero size; every pointer is freed with its layout.
        unsafe {
            let a = HEAP.alloc(layout);
            assert!(!a.is_null() && (a as usize).is_multiple_of(16));
            a.write_bytes(0xab, 100);
            let b = HEAP.realloc(a, layout, 100_000);
            assert!(!b.is_null());
            assert_eq!(*b.add(99), 0xab, "realloc keeps the contents");
            HEAP.dealloc(b, Layout::from_size_align(100_000, 16).expect("layout"));
            let z = HEAP.alloc_zeroed(layout);
            assert!((0..100).all(|i| *z.add(i) == 0));
            HEAP.dealloc(z, layout);
        }
    }

    #[test]
    fn threads_share_it() {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    let layout = Layout::from_size_align(64 + t, 8).expect("layout");
                    for _ in 0..10_000 {
                        // SAFETY: freed with the same layout.
                        unsafe {
                            let p = HEAP.alloc(layout);
                            assert!(!p.is_null());
                            p.write(t as u8);
                            assert_eq!(*p, t as u8);
                            HEAP.dealloc(p, layout);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
    }
}
