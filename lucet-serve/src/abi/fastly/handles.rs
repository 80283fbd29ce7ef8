//! Handle tables: what a guest holds by number (requests, responses,
//! bodies, endpoints, stores), each table bounded in how many it holds at
//! once. Numbers are not reused within a run, so a stale handle is `badf`,
//! never another object.

use std::collections::HashMap;

use super::status::{CallResult, Status};

/// Open objects of one kind, by handle.
pub(crate) struct Table<T> {
    items: HashMap<u32, T>,
    next: u32,
    limit: usize,
}

impl<T> Table<T> {
    /// A table holding at most `limit` objects at once.
    pub fn new(limit: usize) -> Table<T> {
        Table {
            items: HashMap::new(),
            next: 0,
            limit,
        }
    }

    /// Opens `item`: its handle, or `limitexceeded`.
    pub fn insert(&mut self, item: T) -> CallResult<u32> {
        // The ABI reserves the top of the range for "no handle".
        if self.items.len() >= self.limit || self.next >= u32::MAX - 2 {
            return Err(Status::Limitexceeded);
        }
        let h = self.next;
        self.next += 1;
        self.items.insert(h, item);
        Ok(h)
    }

    pub fn get(&self, h: u32) -> CallResult<&T> {
        self.items.get(&h).ok_or(Status::Badf)
    }

    pub fn get_mut(&mut self, h: u32) -> CallResult<&mut T> {
        self.items.get_mut(&h).ok_or(Status::Badf)
    }

    /// Closes `h`, giving its object back.
    pub fn remove(&mut self, h: u32) -> CallResult<T> {
        self.items.remove(&h).ok_or(Status::Badf)
    }

    /// Whether another object would be refused.
    pub fn is_full(&self) -> bool {
        self.items.len() >= self.limit
    }

    pub fn contains(&self, h: u32) -> bool {
        self.items.contains_key(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_bounded_and_never_reuse_a_handle() {
        let mut t = Table::new(2);
        let a = t.insert("a").unwrap();
        let b = t.insert("b").unwrap();
        assert_eq!(t.insert("c"), Err(Status::Limitexceeded));
        assert_eq!(t.remove(a), Ok("a"));
        assert_eq!(t.get(a), Err(Status::Badf));
        let c = t.insert("c").unwrap();
        assert!(c != a && c != b);
        assert_eq!(t.get(c), Ok(&"c"));
        assert_eq!(t.remove(a), Err(Status::Badf));
    }
}
