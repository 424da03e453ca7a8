//! Typed indices into the resolved config's (and the snapshot's) lists, and the vector they
//! index. Once the resolver has turned a string id into an `EniIdx`, nothing downstream can
//! confuse it with a subnet's or a port's position, and `snap.enis[e]` needs no cast.
//!
//! The shape is rustc's `IndexVec`: a `Vec<T>` that only its own index type indexes. It derefs
//! to the slice, so iteration, `len` and `is_empty` are the slice's; `get` takes the index type.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, Index, IndexMut};

/// An index type of an [`IdxVec`].
pub trait Idx: Copy + Eq {
    fn from_usize(i: usize) -> Self;
    fn index(self) -> usize;
}

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident($int:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $int);

        impl $name {
            /// The position in the list this indexes.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl Idx for $name {
            #[inline]
            fn from_usize(i: usize) -> Self {
                $name(i as $int)
            }
            #[inline]
            fn index(self) -> usize {
                $name::index(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

index_type!(
    /// `Config::subnets[i]`.
    SubnetIdx(u32)
);
index_type!(
    /// `Config::route_tables[i]`.
    RtbIdx(u32)
);
index_type!(
    /// `Config::network_acls[i]`.
    NaclIdx(u32)
);
index_type!(
    /// `Config::security_groups[i]`, then the synthesized VPC default group (if any).
    SgIdx(u32)
);
index_type!(
    /// `Config::network_interfaces[i]`.
    EniIdx(u32)
);
index_type!(
    /// `Config::nat_gateways[i]`.
    NatIdx(u32)
);
index_type!(
    /// `Config::vpc_endpoints[i]`.
    EndpointIdx(u32)
);
index_type!(
    /// `Config::managed_prefix_lists[i]`.
    PlIdx(u32)
);
index_type!(
    /// `Config::ports[i]`.
    PortIdx(u16)
);

/// A plain position, for lists no typed index is worth declaring for (internet gateways: the
/// snapshot keeps only the attached one).
impl Idx for usize {
    fn from_usize(i: usize) -> Self {
        i
    }
    fn index(self) -> usize {
        self
    }
}

/// A `Vec<T>` indexed by `I` only.
#[derive(Clone, PartialEq, Eq)]
pub struct IdxVec<I, T> {
    raw: Vec<T>,
    _index: PhantomData<fn(I)>,
}

impl<I: Idx, T> IdxVec<I, T> {
    pub fn new() -> Self {
        IdxVec::from(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Self {
        IdxVec::from(Vec::with_capacity(n))
    }

    /// Appends `t` and returns its index.
    pub fn push(&mut self, t: T) -> I {
        self.raw.push(t);
        I::from_usize(self.raw.len() - 1)
    }

    #[inline]
    pub fn get(&self, i: I) -> Option<&T> {
        self.raw.get(i.index())
    }

    #[inline]
    pub fn get_mut(&mut self, i: I) -> Option<&mut T> {
        self.raw.get_mut(i.index())
    }

    /// `(index, element)` pairs.
    pub fn iter_enumerated(&self) -> impl Iterator<Item = (I, &T)> {
        self.raw
            .iter()
            .enumerate()
            .map(|(i, t)| (I::from_usize(i), t))
    }

    /// Every index, in order.
    pub fn indices(&self) -> impl Iterator<Item = I> + use<I, T> {
        (0..self.raw.len()).map(I::from_usize)
    }

    /// The index of the first element that satisfies `f`.
    pub fn position(&self, f: impl FnMut(&T) -> bool) -> Option<I> {
        self.raw.iter().position(f).map(I::from_usize)
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.raw.iter_mut()
    }
}

impl<I: Idx, T> Default for IdxVec<I, T> {
    fn default() -> Self {
        IdxVec::new()
    }
}

impl<I, T> From<Vec<T>> for IdxVec<I, T> {
    fn from(raw: Vec<T>) -> Self {
        IdxVec {
            raw,
            _index: PhantomData,
        }
    }
}

impl<I: Idx, T> FromIterator<T> for IdxVec<I, T> {
    fn from_iter<It: IntoIterator<Item = T>>(it: It) -> Self {
        IdxVec::from(it.into_iter().collect::<Vec<T>>())
    }
}

impl<I, T> Deref for IdxVec<I, T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        &self.raw
    }
}

impl<I: Idx, T> Index<I> for IdxVec<I, T> {
    type Output = T;
    #[inline]
    fn index(&self, i: I) -> &T {
        &self.raw[i.index()]
    }
}

impl<I: Idx, T> IndexMut<I> for IdxVec<I, T> {
    #[inline]
    fn index_mut(&mut self, i: I) -> &mut T {
        &mut self.raw[i.index()]
    }
}

impl<'a, I, T> IntoIterator for &'a IdxVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.raw.iter()
    }
}

impl<I, T: fmt::Debug> fmt::Debug for IdxVec<I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idx_vec_is_indexed_by_its_own_type() {
        let mut v: IdxVec<EniIdx, &str> = IdxVec::new();
        let a = v.push("eni-a");
        let b = v.push("eni-b");
        assert_eq!((a, b), (EniIdx(0), EniIdx(1)));
        assert_eq!(v[b], "eni-b");
        assert_eq!(v.get(EniIdx(2)), None);
        assert_eq!(v.position(|x| *x == "eni-b"), Some(b));
        let pairs: Vec<_> = v.iter_enumerated().collect();
        assert_eq!(pairs, vec![(a, &"eni-a"), (b, &"eni-b")]);
        assert_eq!(v.len(), 2);
    }
}
