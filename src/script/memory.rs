//! Memory budgets per script instance. Rhai's size limits cap single
//! values, not what an instance holds in total (a map of thousands of 1 MB
//! strings, closures capturing closures), and an allocation failure aborts
//! the whole process. So the process allocator counts: every block records
//! the account that was current on its thread when it was allocated (the
//! instance whose job was running), and freeing it, on any thread, counts
//! it back. The engine's progress hook compares the running instance's
//! total with its budget and stops it when it is over.
//!
//! The record is a 4-byte footer after the caller's part of each block
//! (written unaligned, so the block keeps the caller's alignment and the
//! allocator's size class usually does not change); blocks allocated
//! outside any instance belong to account 0, which is not counted. A footer
//! rather than a header: a header in front of a block must keep the block's
//! alignment, so every block grew by 16 bytes and an over-aligned one (a
//! tokio task is aligned to 128) by its whole alignment.
//!
//! The current account is a thread-local because allocator hooks get no
//! context at all: `GlobalAlloc::alloc` knows only the layout.
//!
//! Underneath is jemalloc, not the C library's malloc: a feedback document
//! is allocated on the connection task's thread and freed on a script
//! thread, and glibc's malloc makes every such free take the other
//! thread's arena lock (a quarter of the host's CPU in a feedback burst).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: a background thread returns
/// freed pages to the system within about a second (an idle host otherwise
/// keeps what its connect storm freed), without a pause in the threads
/// that allocate.
#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_CONF: &u8 =
    &b"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];

/// Accounts at most; instances beyond this many at once are not counted.
const SLOTS: usize = 1 << 16;
/// Bytes after the caller's part: the account's slot.
const FOOTER: usize = size_of::<u32>();

static USED: [AtomicI64; SLOTS] = [const { AtomicI64::new(0) }; SLOTS];
static NEXT: AtomicU32 = AtomicU32::new(1);
static FREE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

thread_local! {
    /// The account allocations on this thread go to, and its budget.
    static CURRENT: Cell<(u32, u64)> = const { Cell::new((0, 0)) };
}

/// The process allocator: jemalloc, plus the per-account counts.
pub struct Accounting;

#[global_allocator]
static ALLOCATOR: Accounting = Accounting;

/// The block actually requested from jemalloc for `layout`: the caller's
/// part, then the footer.
fn outer(layout: Layout) -> Option<Layout> {
    let size = layout.size().checked_add(FOOTER)?;
    Layout::from_size_align(size, layout.align()).ok()
}

fn current_slot() -> u32 {
    CURRENT.try_with(|c| c.get().0).unwrap_or(0)
}

fn count(slot: u32, delta: i64) {
    if slot != 0 {
        USED[slot as usize].fetch_add(delta, Ordering::Relaxed);
    }
}

/// # Safety
/// `p` is a block of at least `size + FOOTER` bytes.
unsafe fn write_slot(p: *mut u8, size: usize, slot: u32) {
    // SAFETY: the footer lies inside the block (see above).
    unsafe { (p.add(size) as *mut u32).write_unaligned(slot) }
}

/// # Safety
/// `p` is a block from [`Accounting`] whose caller's part is `size` bytes.
unsafe fn read_slot(p: *const u8, size: usize) -> u32 {
    // SAFETY: the footer was written when the block was allocated or resized.
    unsafe { (p.add(size) as *const u32).read_unaligned() }
}

impl Accounting {
    /// # Safety
    /// `p` is null or a block from jemalloc for `outer(layout)`.
    unsafe fn finish(p: *mut u8, layout: Layout) -> *mut u8 {
        if p.is_null() {
            return p;
        }
        let slot = current_slot();
        // SAFETY: the block is `FOOTER` bytes longer than the caller's part.
        unsafe { write_slot(p, layout.size(), slot) };
        count(slot, layout.size() as i64);
        p
    }
}

// SAFETY: every block handed out comes from `Jemalloc` with a layout derived
// only from the caller's layout (`outer`), and is returned to it with the
// same derived layout; the footer lives inside the block.
unsafe impl GlobalAlloc for Accounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(outer) = outer(layout) else {
            return std::ptr::null_mut();
        };
        unsafe { Self::finish(Jemalloc.alloc(outer), layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let Some(outer) = outer(layout) else {
            return std::ptr::null_mut();
        };
        unsafe { Self::finish(Jemalloc.alloc_zeroed(outer), layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // `outer` succeeded when this block was allocated.
        let Some(outer) = outer(layout) else {
            return;
        };
        unsafe {
            count(read_slot(ptr, layout.size()), -(layout.size() as i64));
            Jemalloc.dealloc(ptr, outer);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(outer) = outer(layout) else {
            return std::ptr::null_mut();
        };
        let Some(new_outer) = new_size.checked_add(FOOTER) else {
            return std::ptr::null_mut();
        };
        if Layout::from_size_align(new_outer, outer.align()).is_err() {
            return std::ptr::null_mut();
        }
        unsafe {
            let slot = read_slot(ptr, layout.size());
            let p = Jemalloc.realloc(ptr, outer, new_outer);
            if p.is_null() {
                return p;
            }
            // The account stays the one that allocated the block; its
            // footer moves to the new end.
            write_slot(p, new_size, slot);
            count(slot, new_size as i64 - layout.size() as i64);
            p
        }
    }
}

/// One instance's account; its slot is reused once it is dropped.
pub struct Account {
    slot: u32,
}

impl Account {
    /// A fresh account at zero (an uncounted one when all are in use).
    pub fn new() -> Account {
        let reused = FREE.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let slot = reused.unwrap_or_else(|| {
            NEXT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                ((n as usize) < SLOTS).then_some(n + 1)
            })
            .unwrap_or(0)
        });
        if slot != 0 {
            USED[slot as usize].store(0, Ordering::Relaxed);
        }
        Account { slot }
    }

    /// Bytes allocated by this account and not yet freed.
    pub fn used(&self) -> u64 {
        used(self.slot)
    }

    /// Runs `f` with allocations on this thread going to this account, and
    /// `budget` as the limit the progress hook checks.
    pub fn enter<T>(&self, budget: u64, f: impl FnOnce() -> T) -> T {
        struct Restore((u32, u64));
        impl Drop for Restore {
            fn drop(&mut self) {
                let _ = CURRENT.try_with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.replace((self.slot, budget))));
        f()
    }
}

impl Default for Account {
    fn default() -> Self {
        Account::new()
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        if self.slot != 0 {
            FREE.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(self.slot);
        }
    }
}

fn used(slot: u32) -> u64 {
    if slot == 0 {
        return 0;
    }
    USED[slot as usize].load(Ordering::Relaxed).max(0) as u64
}

/// The budget of the account running on this thread, when it is over it.
pub fn over_budget() -> Option<u64> {
    let (slot, budget) = CURRENT.try_with(|c| c.get()).unwrap_or((0, 0));
    (slot != 0 && budget != 0 && used(slot) > budget).then_some(budget)
}

/// What the account running on this thread may still allocate, with its
/// budget: `None` outside an instance (nothing is counted there). A native
/// function that builds a big result asks this before allocating, since
/// the progress hook only looks between operations.
pub fn headroom() -> Option<(u64, u64)> {
    let (slot, budget) = CURRENT.try_with(|c| c.get()).unwrap_or((0, 0));
    (slot != 0 && budget != 0).then(|| (budget.saturating_sub(used(slot)), budget))
}

/// The message that stops an instance over its budget.
pub fn exceeded_message(budget: u64) -> String {
    format!("{EXCEEDED} of {} MB", budget >> 20)
}

/// Whether `e` is the error that stops an instance over its budget.
pub fn is_exceeded(e: &rhai::EvalAltResult) -> bool {
    matches!(e, rhai::EvalAltResult::ErrorTerminated(v, _)
        if v.clone().into_string().is_ok_and(|s| s.starts_with(EXCEEDED)))
}

const EXCEEDED: &str = "the script used more than its memory budget";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_count_to_the_account_that_made_them_wherever_freed() {
        let a = Account::new();
        let before = a.used();
        let big: Vec<u8> = a.enter(1 << 30, || vec![7u8; 3 << 20]);
        assert!(a.used() >= before + (3 << 20), "{}", a.used());
        // Growing it elsewhere still counts to the account that made it.
        let mut big = std::thread::spawn(move || {
            let mut big = big;
            big.reserve(1 << 20);
            big
        })
        .join()
        .unwrap();
        assert!(a.used() >= before + (4 << 20), "{}", a.used());
        big.shrink_to_fit();
        drop(big);
        assert!(a.used() < before + (1 << 20), "{}", a.used());
        // Over-aligned blocks round-trip too.
        let layout = Layout::from_size_align(100, 4096).unwrap();
        a.enter(1 << 30, || unsafe {
            let p = std::alloc::alloc(layout);
            assert_eq!(p as usize % 4096, 0);
            std::alloc::dealloc(p, layout);
        });
    }

    #[test]
    fn the_budget_is_seen_only_while_the_account_is_entered() {
        let a = Account::new();
        assert_eq!(over_budget(), None);
        assert_eq!(headroom(), None);
        a.enter(1 << 20, || {
            let (left, budget) = headroom().unwrap();
            assert!(left <= 1 << 20 && budget == 1 << 20, "{left}");
            let v = vec![1u8; 2 << 20];
            assert_eq!(over_budget(), Some(1 << 20));
            assert_eq!(headroom(), Some((0, 1 << 20)));
            drop(v);
            assert_eq!(over_budget(), None);
        });
        assert_eq!(over_budget(), None);
        assert_eq!(headroom(), None);
    }
}
