//! Counts the hot path keeps per thread: an increment writes a word no other thread writes,
//! and [`publish`] adds the threads' words up.
//!
//! Each thread has a shard, a slice of counts indexed by tally, found through a thread-local
//! that needs no initialization check (an empty slice until the first count). A shard outlives
//! its thread: when the thread ends, the shard goes to the next thread that starts counting, so
//! its counts are never lost and shards never outnumber the threads alive at once. Each shard
//! is padded on both sides, so no other shard's word (nor any other allocation's) shares its
//! cache lines.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One thread's counts. Written by that thread alone (a load and a store, no read-modify-write),
/// read by [`publish`].
type Shard = &'static [AtomicU64];

thread_local! {
    static SHARD: Cell<Shard> = const { Cell::new(&[]) };
    /// Gives the thread's shard back when the thread ends; touched once, when it gets one.
    static GIVE_BACK: GiveBack = const { GiveBack };
}

/// Before a tally's first count: no index is in bounds of any shard.
const UNASSIGNED: u32 = u32::MAX;

/// Indices handed out at once when shards grow, so that a new tally rarely grows them.
const GROWTH: usize = 64;

/// A count kept per thread, handed to `publish` as the increase since it last ran.
#[derive(Debug)]
pub(crate) struct Tally {
    /// Its index in every shard (Release when assigned, Acquire when read: an index reused
    /// from a dropped tally comes with that tally's counts cleared).
    index: AtomicU32,
    name: &'static str,
    publish: Publish,
}

/// Hands the increase of a tally named `name` to the metrics facade.
pub(crate) type Publish = fn(name: &'static str, increase: u64);

struct Table {
    /// Every shard made: those of live threads and those waiting for a thread.
    shards: Vec<Shard>,
    free_shards: Vec<Shard>,
    /// What each index counts (`None`: free).
    entries: Vec<Option<Entry>>,
    free_indices: Vec<u32>,
}

struct Entry {
    name: &'static str,
    publish: Publish,
    /// Counted where no shard could be (a thread counting while it ends).
    stray: u64,
    /// The sum at the last `publish`.
    published: u64,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    shards: Vec::new(),
    free_shards: Vec::new(),
    entries: Vec::new(),
    free_indices: Vec::new(),
});

fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tally {
    /// A tally of instance `name`, published by `publish`.
    pub(crate) const fn new(name: &'static str, publish: Publish) -> Self {
        Self {
            index: AtomicU32::new(UNASSIGNED),
            name,
            publish,
        }
    }

    /// Counts one: a thread-local load, a bounds check, a load and a store of the thread's
    /// own word.
    #[inline]
    pub(crate) fn add(&self) {
        let index = self.index.load(Ordering::Acquire) as usize;
        SHARD.with(|shard| match shard.get().get(index) {
            Some(count) => count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed),
            None => self.add_first(),
        });
    }

    /// The first count of this tally, or of this thread, or beyond this thread's shard.
    #[cold]
    #[inline(never)]
    fn add_first(&self) {
        let mut table = table();
        let index = self.assign(&mut table);
        let current = SHARD.with(Cell::get);
        if current.is_empty() && GIVE_BACK.try_with(|_| ()).is_err() {
            // The thread is ending and will not give a shard back: counted in the table.
            if let Some(entry) = &mut table.entries[index] {
                entry.stray += 1;
            }
            return;
        }
        let shard = table.fit(current, index);
        SHARD.with(|cell| cell.set(shard));
        shard[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The count over every thread, as each thread last wrote it.
    #[allow(clippy::unnecessary_wraps)] // `None` where nothing is counted (no feature)
    pub(crate) fn total(&self) -> Option<u64> {
        let index = self.index.load(Ordering::Acquire);
        if index == UNASSIGNED {
            return Some(0);
        }
        Some(table().sum(index as usize))
    }

    fn assign(&self, table: &mut Table) -> usize {
        let index = self.index.load(Ordering::Acquire);
        if index != UNASSIGNED {
            return index as usize;
        }
        let entry = Entry {
            name: self.name,
            publish: self.publish,
            stray: 0,
            published: 0,
        };
        let index = if let Some(index) = table.free_indices.pop() {
            table.entries[index as usize] = Some(entry);
            index
        } else {
            table.entries.push(Some(entry));
            u32::try_from(table.entries.len() - 1).expect("fewer than 2^32 tallies")
        };
        self.index.store(index, Ordering::Release);
        index as usize
    }
}

impl Drop for Tally {
    /// Publishes what the tally counted since the last `publish`, and frees its index with
    /// its counts cleared.
    fn drop(&mut self) {
        let index = *self.index.get_mut();
        if index == UNASSIGNED {
            return;
        }
        let mut table = table();
        let index = index as usize;
        table.publish_one(index);
        for shard in &table.shards {
            if let Some(count) = shard.get(index) {
                count.store(0, Ordering::Relaxed);
            }
        }
        table.entries[index] = None;
        #[allow(clippy::cast_possible_truncation)] // assigned from a u32
        table.free_indices.push(index as u32);
    }
}

impl Table {
    /// A shard holding `index`: `current` (the thread's, maybe empty), a free one, or a new
    /// one, grown as needed with its counts kept.
    fn fit(&mut self, current: Shard, index: usize) -> Shard {
        let shard = if current.is_empty() {
            match self.free_shards.pop() {
                Some(free) => free,
                None => {
                    let shard = new_shard(self.entries.len() + GROWTH);
                    self.shards.push(shard);
                    shard
                }
            }
        } else {
            current
        };
        if index < shard.len() {
            return shard;
        }
        let grown = new_shard((index + 1).max(shard.len() * 2));
        for (to, from) in grown.iter().zip(shard) {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        // The old shard is forgotten (its counts live on in the grown one): at most as much
        // memory as the shards in use, as each growth doubles.
        let position = self.shards.iter().position(|s| std::ptr::eq(*s, shard));
        if let Some(position) = position {
            self.shards[position] = grown;
        }
        grown
    }

    fn sum(&self, index: usize) -> u64 {
        let counted: u64 = self
            .shards
            .iter()
            .filter_map(|shard| shard.get(index))
            .map(|count| count.load(Ordering::Relaxed))
            .sum();
        counted + self.entries[index].as_ref().map_or(0, |entry| entry.stray)
    }

    fn publish_one(&mut self, index: usize) {
        let sum = self.sum(index);
        if let Some(entry) = &mut self.entries[index]
            && sum > entry.published
        {
            (entry.publish)(entry.name, sum - entry.published);
            entry.published = sum;
        }
    }
}

/// Words of padding on each side of a shard: 128 bytes, two cache lines where the prefetcher
/// pairs them.
const PAD: usize = 16;

/// A shard of `len` counts, all zero, with [`PAD`] words unused around it.
fn new_shard(len: usize) -> Shard {
    let padded: &'static [AtomicU64] =
        Box::leak((0..len + 2 * PAD).map(|_| AtomicU64::new(0)).collect());
    &padded[PAD..PAD + len]
}

/// Hands every tally's increase since the last call to the facade.
#[cfg(feature = "metrics")]
pub(crate) fn publish() {
    let mut table = table();
    for index in 0..table.entries.len() {
        table.publish_one(index);
    }
}

/// A thread's guard that gives its shard back when the thread ends.
struct GiveBack;

impl Drop for GiveBack {
    fn drop(&mut self) {
        let shard = SHARD.with(|cell| cell.replace(&[]));
        if !shard.is_empty() {
            table().free_shards.push(shard);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(_: &'static str, _: u64) {}

    #[test]
    fn counts_across_threads_that_come_and_go() {
        static TALLY: Tally = Tally::new("tally-threads", ignore);
        for _ in 0..3 {
            std::thread::scope(|scope| {
                for _ in 0..4 {
                    scope.spawn(|| (0..1000).for_each(|_| TALLY.add()));
                }
            });
        }
        TALLY.add();
        assert_eq!(TALLY.total().unwrap(), 12_001);
        std::thread::scope(|scope| {
            scope.spawn(|| TALLY.add());
        });
        assert_eq!(TALLY.total().unwrap(), 12_002);
    }

    #[test]
    fn an_ended_threads_shard_serves_the_next() {
        // Under the table's lock: other tests' threads take and give back shards meanwhile.
        let mut table = table();
        let given_back = new_shard(4);
        table.free_shards.push(given_back);
        let taken = table.fit(&[], 0);
        assert!(
            std::ptr::eq(taken, given_back),
            "no new shard while one is free"
        );
    }

    #[test]
    fn a_dropped_tally_gives_its_index_back_cleared() {
        let first = Tally::new("tally-dropped", ignore);
        (0..5).for_each(|_| first.add());
        let index = first.index.load(Ordering::Acquire);
        drop(first);
        let mut reused = None;
        // Another test may take the freed index first; one of a few new tallies gets it.
        let tallies: Vec<Tally> = (0..4).map(|_| Tally::new("tally-reused", ignore)).collect();
        for tally in &tallies {
            tally.add();
            if tally.index.load(Ordering::Acquire) == index {
                reused = Some(tally);
            }
        }
        if let Some(tally) = reused {
            assert_eq!(tally.total().unwrap(), 1, "starts from zero");
        }
    }

    #[test]
    fn shards_share_no_cache_line() {
        let (a, b) = (new_shard(3), new_shard(3));
        let start = |s: Shard| s.as_ptr() as usize;
        let end = |s: Shard| start(s) + std::mem::size_of_val(s);
        let gap = if start(a) < start(b) {
            start(b) - end(a)
        } else {
            start(a) - end(b)
        };
        assert!(gap >= 2 * PAD * 8, "{gap} bytes apart");
    }

    #[test]
    fn grows_past_the_first_shard() {
        let tallies: Vec<Tally> = (0..GROWTH * 3)
            .map(|_| Tally::new("tally-many", ignore))
            .collect();
        for (n, tally) in tallies.iter().enumerate() {
            for _ in 0..=n % 3 {
                tally.add();
            }
        }
        for (n, tally) in tallies.iter().enumerate() {
            assert_eq!(tally.total().unwrap(), (n % 3 + 1) as u64);
        }
    }
}
