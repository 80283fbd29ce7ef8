//! Typed embedder data attached to an instance: at most one value per type,
//! reachable from host functions through `Vmctx`.

use std::any::{Any, TypeId};

/// A map from type to one value of that type.
#[derive(Default)]
pub struct EmbedCtx {
    entries: Vec<(TypeId, Box<dyn Any + Send>)>,
}

impl std::fmt::Debug for EmbedCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EmbedCtx({} entries)", self.entries.len())
    }
}

impl EmbedCtx {
    /// Stores `value`, returning the previous value of its type.
    pub fn insert<T: Any + Send>(&mut self, value: T) -> Option<T> {
        let id = TypeId::of::<T>();
        let boxed: Box<dyn Any + Send> = Box::new(value);
        match self.entries.iter_mut().find(|(t, _)| *t == id) {
            Some(entry) => {
                let old = std::mem::replace(&mut entry.1, boxed);
                old.downcast::<T>().ok().map(|b| *b)
            }
            None => {
                self.entries.push((id, boxed));
                None
            }
        }
    }

    /// The value of type `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_ref())
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Any>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter_mut()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_mut())
    }

    /// Removes and returns the value of type `T`.
    pub fn remove<T: Any>(&mut self) -> Option<T> {
        let id = TypeId::of::<T>();
        let i = self.entries.iter().position(|(t, _)| *t == id)?;
        self.entries
            .swap_remove(i)
            .1
            .downcast::<T>()
            .ok()
            .map(|b| *b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type() {
        let mut c = EmbedCtx::default();
        assert_eq!(c.insert(5u32), None);
        assert_eq!(c.insert(String::from("x")), None);
        assert_eq!(c.insert(6u32), Some(5));
        *c.get_mut::<u32>().unwrap() += 1;
        assert_eq!(c.get::<u32>(), Some(&7));
        assert_eq!(c.remove::<String>().as_deref(), Some("x"));
        assert_eq!(c.get::<String>(), None);
    }
}
