//! A fixed-capacity open-addressing hash map: linear probing with backward-shift deletion (no
//! tombstones), so the slot array allocated at construction is the only allocation it ever
//! makes. `std::collections::HashMap` cannot promise that: with a bounded length it may still
//! rehash into a larger table after churn of deletions.

/// Slots are sized so that the load factor never exceeds 3/4 at the limit, with no rounding to
/// a power of two: a hash's home slot is `hash * slots >> 64` (multiply-shift, so it depends on
/// the hash's high bits). Probing walks a
/// dense array of 64-bit hashes (8 per cache line, 0 = empty) and touches the wide slot only on
/// a full-hash match, so a miss costs about one cache miss.
pub(crate) struct FixedMap<K, V> {
    hashes: Box<[u64]>,
    slots: Box<[Option<(K, V)>]>,
    len: usize,
    limit: usize,
}

/// The stored hash: never 0, which marks an empty slot.
#[inline]
fn tag(h: u64) -> u64 {
    if h == 0 { 1 } else { h }
}

impl<K: Eq + Copy, V> FixedMap<K, V> {
    /// A map that refuses inserts beyond `limit` entries.
    pub(crate) fn with_limit(limit: usize) -> Self {
        let cap = if limit == 0 { 0 } else { limit + limit / 3 + 1 };
        let slots: Box<[Option<(K, V)>]> = (0..cap).map(|_| None).collect();
        FixedMap {
            hashes: vec![0u64; cap].into_boxed_slice(),
            slots,
            len: 0,
            limit,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.limit
    }

    pub(crate) fn capacity_slots(&self) -> usize {
        self.slots.len()
    }

    /// Bytes held by the slot and hash arrays.
    pub(crate) fn memory_bytes(&self) -> usize {
        std::mem::size_of_val::<[Option<(K, V)>]>(&self.slots)
            + std::mem::size_of_val::<[u64]>(&self.hashes)
    }

    /// The hash array's address and length in slots (fixed for the map's life): for prefetch
    /// hints by a caller that has not taken the map's lock yet. The home slot of hash `h` is
    /// `(max(h, 1) * len) >> 64`.
    pub(crate) fn hash_array(&self) -> (usize, usize) {
        (self.hashes.as_ptr() as usize, self.hashes.len())
    }

    #[inline]
    fn home(&self, t: u64) -> usize {
        ((u128::from(t) * self.slots.len() as u128) >> 64) as usize
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    /// Cyclic distance from slot `a` forward to slot `b`.
    #[inline]
    fn dist(&self, a: usize, b: usize) -> usize {
        if b >= a {
            b - a
        } else {
            b + self.slots.len() - a
        }
    }

    /// Slot index of `k`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, k: &K) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let t = tag(hash);
        let mut i = self.home(t);
        loop {
            let h = self.hashes[i];
            if h == 0 {
                return None;
            }
            if h == t && matches!(&self.slots[i], Some((key, _)) if key == k) {
                return Some(i);
            }
            i = self.next(i);
        }
    }

    pub(crate) fn at(&self, idx: usize) -> Option<(&K, &V)> {
        self.slots
            .get(idx)
            .and_then(|s| s.as_ref())
            .map(|(k, v)| (k, v))
    }

    pub(crate) fn at_mut(&mut self, idx: usize) -> Option<&mut V> {
        self.slots
            .get_mut(idx)
            .and_then(|s| s.as_mut())
            .map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, hash: u64, k: &K) -> Option<&mut V> {
        let i = self.find(hash, k)?;
        self.at_mut(i)
    }

    /// Inserts a key known to be absent. Refuses (returning the pair) when the map is at its
    /// limit.
    pub(crate) fn insert_new(&mut self, hash: u64, k: K, v: V) -> Result<usize, (K, V)> {
        if self.is_full() {
            return Err((k, v));
        }
        debug_assert!(self.find(hash, &k).is_none());
        let t = tag(hash);
        let mut i = self.home(t);
        while self.hashes[i] != 0 {
            i = self.next(i);
        }
        self.hashes[i] = t;
        self.slots[i] = Some((k, v));
        self.len += 1;
        Ok(i)
    }

    /// Removes the entry at slot `idx`, shifting later members of its probe run back so that
    /// lookups never need tombstones.
    pub(crate) fn remove_at(&mut self, idx: usize) -> Option<(K, V)> {
        let (k, v) = self.slots.get_mut(idx)?.take()?;
        self.hashes[idx] = 0;
        self.len -= 1;
        let mut hole = idx;
        let mut j = idx;
        loop {
            j = self.next(j);
            let h = self.hashes[j];
            if h == 0 {
                break;
            }
            let ideal = self.home(h);
            // The entry at j may fill the hole unless its ideal slot lies cyclically in (hole, j].
            if self.dist(ideal, j) >= self.dist(hole, j) {
                self.slots[hole] = self.slots[j].take();
                self.hashes[hole] = h;
                self.hashes[j] = 0;
                hole = j;
            }
        }
        Some((k, v))
    }

    pub(crate) fn remove(&mut self, hash: u64, k: &K) -> Option<V> {
        let i = self.find(hash, k)?;
        self.remove_at(i).map(|(_, v)| v)
    }

    /// Visits every entry (admin views; the caller holds the shard lock for one pass).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for (k, v) in self.slots.iter().flatten() {
            f(k, v);
        }
    }

    /// Walks `budget` slots from `*cursor` on (a full pass at most), removing the entries
    /// `dead` selects (handed to `gone`). Returns how many were removed.
    pub(crate) fn sweep(
        &mut self,
        cursor: &mut usize,
        budget: usize,
        mut dead: impl FnMut(&K, &V) -> bool,
        mut gone: impl FnMut(K, V),
    ) -> usize {
        if self.slots.is_empty() {
            return 0;
        }
        let mut removed = 0;
        let mut c = *cursor % self.slots.len();
        let mut examined = 0;
        // Removals do not advance (a later entry may have shifted into `c`) and are bounded by
        // the entries present, so the loop ends.
        while examined < budget.min(self.slots.len()) {
            let is_dead = matches!(&self.slots[c], Some((k, v)) if dead(k, v));
            if is_dead {
                if let Some((k, v)) = self.remove_at(c) {
                    gone(k, v);
                    removed += 1;
                }
            } else {
                c = self.next(c);
                examined += 1;
            }
        }
        *cursor = c;
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Against std's HashMap, with a deliberately weak hash (many collisions, and 0) so that
        /// backward shifts across probe runs and wrap-around get exercised.
        #[test]
        fn matches_hashmap(ops in proptest::collection::vec((0u8..3, 0u16..64), 1..400)) {
            let mut m: FixedMap<u16, u32> = FixedMap::with_limit(40);
            let mut model: HashMap<u16, u32> = HashMap::new();
            let h = |k: u16| u64::from(k % 13).wrapping_mul(0x1555_5555_5555_5555);
            for (i, (op, k)) in ops.into_iter().enumerate() {
                match op {
                    0 => {
                        if m.find(h(k), &k).is_none() {
                            let r = m.insert_new(h(k), k, i as u32);
                            if model.len() < 40 {
                                prop_assert!(r.is_ok());
                                model.insert(k, i as u32);
                            } else {
                                prop_assert!(r.is_err());
                            }
                        }
                    }
                    1 => prop_assert_eq!(m.remove(h(k), &k), model.remove(&k)),
                    _ => {
                        let mut cur = k as usize;
                        let mut gone = Vec::new();
                        m.sweep(&mut cur, 16, |key, _| key % 3 == 0, |key, _| gone.push(key));
                        for g in gone {
                            prop_assert!(model.remove(&g).is_some());
                        }
                    }
                }
                prop_assert_eq!(m.len(), model.len());
                for (k, v) in &model {
                    let i = m.find(h(*k), k);
                    prop_assert!(i.is_some());
                    prop_assert_eq!(m.at(i.unwrap()).map(|(_, v)| *v), Some(*v));
                }
            }
        }
    }
}
