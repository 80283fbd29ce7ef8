//! The compile budget: how long compiling a module, and any one function of
//! it, may take.
//!
//! Cranelift cannot be stopped inside a function, so the budget is kept at
//! function granularity: no function starts once the total is spent, and a
//! function that took longer than the per-function budget fails the
//! compilation when it finishes. What one function can cost is bounded
//! separately, by the size limits and the choice of register allocator
//! (`translate::MAX_FUNCTION_VALUES`, `codegen::regalloc_for`), so a
//! compilation overshoots its budget by at most one function's time per
//! thread.

use std::time::{Duration, Instant};

use crate::Error;

/// Limits on compile time; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompileBudget {
    /// The whole module.
    pub total: Option<Duration>,
    /// Any one function (translation and code generation).
    pub per_function: Option<Duration>,
}

/// A budget being spent by one compilation.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: CompileBudget,
    started: Instant,
}

impl Budget {
    /// Starts spending `limits` now.
    pub(crate) fn start(limits: CompileBudget) -> Budget {
        Budget {
            limits,
            started: Instant::now(),
        }
    }

    /// A function is about to be compiled: fails if the total is spent.
    pub(crate) fn start_function(&self) -> Result<Instant, Error> {
        self.check_total()?;
        Ok(Instant::now())
    }

    /// The function started at `started` is compiled: fails if it took
    /// longer than a function may.
    pub(crate) fn end_function(
        &self,
        started: Instant,
        name: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        let took = started.elapsed();
        if let Some(limit) = self.limits.per_function {
            if took > limit {
                return Err(Error::OverBudget(format!(
                    "function {} took {:.1?} to compile, more than the per-function budget of {limit:?}",
                    name(),
                    took
                )));
            }
        }
        self.check_total()
    }

    fn check_total(&self) -> Result<(), Error> {
        if let Some(limit) = self.limits.total {
            if self.started.elapsed() > limit {
                return Err(Error::OverBudget(format!(
                    "the module took more than the budget of {limit:?} to compile"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limits_never_fail() {
        let b = Budget::start(CompileBudget::default());
        let t = b.start_function().unwrap();
        b.end_function(t, || "f".into()).unwrap();
    }

    #[test]
    fn a_spent_total_stops_the_next_function() {
        let b = Budget::start(CompileBudget {
            total: Some(Duration::ZERO),
            per_function: None,
        });
        std::thread::sleep(Duration::from_millis(1));
        let e = b.start_function().unwrap_err();
        assert!(e.to_string().contains("budget of 0ns"), "{e}");
    }

    #[test]
    fn a_slow_function_fails_with_its_name() {
        let b = Budget::start(CompileBudget {
            total: None,
            per_function: Some(Duration::ZERO),
        });
        let t = b.start_function().unwrap();
        std::thread::sleep(Duration::from_millis(1));
        let e = b.end_function(t, || "func[3] \"slow\"".into()).unwrap_err();
        assert!(
            e.to_string().contains("func[3] \"slow\" took")
                && e.to_string().contains("per-function"),
            "{e}"
        );
    }
}
