//! Resource handles: what an instance holds of the host's resources
//! (streams, requests, fields ...), as the `own` and `borrow` handles of
//! the canonical ABI.
//!
//! A handle is an index into the instance's table with a generation in its
//! top bits: a handle used after its resource was dropped names nothing
//! (an error), even when its slot holds another resource since. Tables are
//! bounded; a resource with borrows outstanding cannot be dropped.

use std::fmt;

/// Bits of a handle that index the table; the rest are the generation.
const INDEX_BITS: u32 = 20;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// The most entries a table can have (handles must stay 32-bit).
pub const MAX_TABLE_ENTRIES: usize = INDEX_MASK as usize;

/// A handle as the guest sees it. Never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(pub u32);

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handle {:#x}", self.0)
    }
}

/// Why a handle operation failed: the guest's error (the call traps), or
/// the table's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// The table holds as many resources as it may.
    #[error("the instance holds {0} resources, as many as it may")]
    Full(usize),
    /// The handle names no live resource (never made, or dropped).
    #[error("{0} names no live resource")]
    Unknown(Handle),
    /// The resource is lent out and cannot be dropped or moved.
    #[error("{0} is borrowed and cannot be dropped")]
    Borrowed(Handle),
    /// A borrow ended that was not made.
    #[error("{0} is not borrowed")]
    NotBorrowed(Handle),
}

enum Slot<T> {
    Live {
        generation: u32,
        value: T,
        borrows: u32,
    },
    Free {
        generation: u32,
    },
}

/// An instance's resources, by handle.
pub struct HandleTable<T> {
    /// Slot 0 is never used, so that no handle is 0.
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
    capacity: usize,
}

impl<T> fmt::Debug for HandleTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleTable")
            .field("live", &self.live)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<T> HandleTable<T> {
    /// A table that holds at most `capacity` resources at once (at most
    /// [`MAX_TABLE_ENTRIES`]).
    pub fn new(capacity: usize) -> HandleTable<T> {
        HandleTable {
            slots: vec![Slot::Free { generation: 0 }],
            free: Vec::new(),
            live: 0,
            capacity: capacity.min(MAX_TABLE_ENTRIES),
        }
    }

    /// How many resources it holds.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Takes `value` in: its new (owned) handle.
    pub fn insert(&mut self, value: T) -> Result<Handle, ResourceError> {
        if self.live >= self.capacity {
            return Err(ResourceError::Full(self.live));
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::Free { generation: 0 });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        let Slot::Free { generation } = *slot else {
            unreachable!("the free list holds free slots");
        };
        *slot = Slot::Live {
            generation,
            value,
            borrows: 0,
        };
        self.live += 1;
        Ok(Handle(generation << INDEX_BITS | index))
    }

    fn slot(&self, h: Handle) -> Option<(usize, &Slot<T>)> {
        let index = (h.0 & INDEX_MASK) as usize;
        match self.slots.get(index) {
            Some(s @ Slot::Live { generation, .. })
                if index != 0 && *generation == h.0 >> INDEX_BITS =>
            {
                Some((index, s))
            }
            _ => None,
        }
    }

    fn live_mut(&mut self, h: Handle) -> Result<(&mut T, &mut u32), ResourceError> {
        let (index, _) = self.slot(h).ok_or(ResourceError::Unknown(h))?;
        match &mut self.slots[index] {
            Slot::Live { value, borrows, .. } => Ok((value, borrows)),
            Slot::Free { .. } => unreachable!("checked live"),
        }
    }

    /// The resource `h` names.
    pub fn get(&self, h: Handle) -> Result<&T, ResourceError> {
        match self.slot(h) {
            Some((_, Slot::Live { value, .. })) => Ok(value),
            _ => Err(ResourceError::Unknown(h)),
        }
    }

    /// The resource `h` names, to change.
    pub fn get_mut(&mut self, h: Handle) -> Result<&mut T, ResourceError> {
        Ok(self.live_mut(h)?.0)
    }

    /// Lends the resource for the length of a call (a `borrow` handle).
    pub fn lend(&mut self, h: Handle) -> Result<(), ResourceError> {
        *self.live_mut(h)?.1 += 1;
        Ok(())
    }

    /// Ends a borrow that [`lend`](Self::lend) made.
    pub fn end_borrow(&mut self, h: Handle) -> Result<(), ResourceError> {
        let borrows = self.live_mut(h)?.1;
        if *borrows == 0 {
            return Err(ResourceError::NotBorrowed(h));
        }
        *borrows -= 1;
        Ok(())
    }

    /// Drops the handle (an `own`), giving the resource back; its slot's
    /// next handle has another generation.
    pub fn remove(&mut self, h: Handle) -> Result<T, ResourceError> {
        let (index, slot) = self.slot(h).ok_or(ResourceError::Unknown(h))?;
        if let Slot::Live { borrows, .. } = slot {
            if *borrows > 0 {
                return Err(ResourceError::Borrowed(h));
            }
        }
        let next = ((h.0 >> INDEX_BITS) + 1) & (u32::MAX >> INDEX_BITS);
        let old = std::mem::replace(&mut self.slots[index], Slot::Free { generation: next });
        self.free.push(index as u32);
        self.live -= 1;
        match old {
            Slot::Live { value, .. } => Ok(value),
            Slot::Free { .. } => unreachable!("checked live"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_name_their_resources_and_are_never_zero() {
        let mut t = HandleTable::new(10);
        let a = t.insert("a").unwrap();
        let b = t.insert("b").unwrap();
        assert_ne!(a.0, 0);
        assert_ne!(a, b);
        assert_eq!(t.get(a), Ok(&"a"));
        *t.get_mut(b).unwrap() = "B";
        assert_eq!(t.get(b), Ok(&"B"));
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(Handle(0)), Err(ResourceError::Unknown(Handle(0))));
    }

    #[test]
    fn a_handle_used_after_drop_names_nothing() {
        let mut t = HandleTable::new(10);
        let a = t.insert(1).unwrap();
        assert_eq!(t.remove(a), Ok(1));
        assert_eq!(t.get(a), Err(ResourceError::Unknown(a)));
        assert_eq!(t.remove(a), Err(ResourceError::Unknown(a)));
        // The slot is reused, under another generation: the old handle
        // still names nothing.
        let b = t.insert(2).unwrap();
        assert_eq!(a.0 & INDEX_MASK, b.0 & INDEX_MASK);
        assert_ne!(a, b);
        assert_eq!(t.get(a), Err(ResourceError::Unknown(a)));
        assert_eq!(t.get(b), Ok(&2));
        assert!(!t.is_empty());
    }

    #[test]
    fn a_table_at_its_limit_refuses_more() {
        let mut t = HandleTable::new(3);
        let handles: Vec<Handle> = (0..3).map(|i| t.insert(i).unwrap()).collect();
        assert_eq!(t.insert(9), Err(ResourceError::Full(3)));
        t.remove(handles[1]).unwrap();
        assert!(t.insert(9).is_ok());
        assert_eq!(
            HandleTable::<u8>::new(usize::MAX).capacity,
            MAX_TABLE_ENTRIES
        );
    }

    #[test]
    fn a_borrowed_resource_cannot_be_dropped() {
        let mut t = HandleTable::new(3);
        let a = t.insert("a").unwrap();
        t.lend(a).unwrap();
        assert_eq!(t.remove(a), Err(ResourceError::Borrowed(a)));
        t.end_borrow(a).unwrap();
        assert_eq!(t.end_borrow(a), Err(ResourceError::NotBorrowed(a)));
        assert_eq!(t.remove(a), Ok("a"));
    }

    #[test]
    fn forged_handles_name_nothing() {
        let mut t = HandleTable::new(3);
        let a = t.insert(()).unwrap();
        for forged in [a.0 ^ (1 << INDEX_BITS), a.0 + 1, u32::MAX, INDEX_MASK] {
            assert!(t.get(Handle(forged)).is_err(), "{forged:#x}");
        }
    }
}
