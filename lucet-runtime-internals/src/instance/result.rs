//! What a run returns: the function's results, or the value a host
//! function yielded with.

use std::any::Any;
use std::fmt;

use crate::{Error, Val};

/// What a run returned.
#[derive(Debug)]
pub enum RunResult {
    /// The function returned these values.
    Returned(Vec<Val>),
    /// A host function yielded; resume the instance to continue.
    Yielded(YieldedVal),
}

impl RunResult {
    /// The returned values, or an error if the instance yielded.
    pub fn returned(self) -> Result<Vec<Val>, Error> {
        match self {
            RunResult::Returned(v) => Ok(v),
            RunResult::Yielded(_) => Err(Error::InvalidState("the instance yielded")),
        }
    }

    /// The yielded value, or an error if the function returned.
    pub fn yielded(self) -> Result<YieldedVal, Error> {
        match self {
            RunResult::Yielded(v) => Ok(v),
            RunResult::Returned(_) => Err(Error::InvalidState("the function returned")),
        }
    }

    /// Whether the instance yielded.
    pub fn is_yielded(&self) -> bool {
        matches!(self, RunResult::Yielded(_))
    }
}

/// The value a host function yielded with.
pub struct YieldedVal(pub(super) Option<Box<dyn Any + Send>>);

impl fmt::Debug for YieldedVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => write!(f, "YieldedVal(none)"),
            Some(_) => write!(f, "YieldedVal(..)"),
        }
    }
}

impl YieldedVal {
    /// Whether the host function yielded without a value.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Whether the run yielded because it was preempted
    /// ([`KillSwitch::preempt`](crate::KillSwitch::preempt)), not by a
    /// host function.
    pub fn is_preempted(&self) -> bool {
        self.downcast_ref::<crate::Preempted>().is_some()
    }

    /// The value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.as_ref()?.downcast_ref()
    }

    /// Takes the value, if it is a `T`.
    pub fn downcast<T: Any>(self) -> Result<T, YieldedVal> {
        match self.0 {
            Some(b) => b
                .downcast::<T>()
                .map(|b| *b)
                .map_err(|b| YieldedVal(Some(b))),
            None => Err(YieldedVal(None)),
        }
    }
}
