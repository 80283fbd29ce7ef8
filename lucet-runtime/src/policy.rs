//! The run policy: how one run of a program is bounded (a wall-clock
//! deadline enforced through the instance's kill switch, fuel), how long it
//! may hold the CPU before it yields to others (a time slice, also through
//! the kill switch), and what its end means ([`Outcome`]). `lucet-wasi` and
//! `lucet-serve` both run guests through [`RunPolicy`], whatever host ABI
//! the guest uses.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use lucet_runtime::{
//!     load_module, ExitCode, Limits, Linker, MmapRegion, Outcome, RunPolicy, Vmctx, Watchdog,
//! };
//!
//! let mut linker = Linker::new();
//! linker.func("env", "exit", |vmctx: &mut Vmctx, status: u32| -> () {
//!     vmctx.terminate(ExitCode(status))
//! });
//! let module = load_module("job.wasm".as_ref(), &linker)?;
//! let limits = Limits::default().sized_for(&module);
//! let region = MmapRegion::create(1, &limits)?;
//! let watchdog = Watchdog::new();
//! let policy = RunPolicy {
//!     deadline: Some(Instant::now() + Duration::from_secs(1)),
//!     ..RunPolicy::default()
//! };
//! let builder = region.new_instance_builder(module);
//! match policy.run(builder, "run", &[], &watchdog).outcome {
//!     Outcome::Returned(_) | Outcome::Exited(0) => println!("ok"),
//!     Outcome::TimedOut => println!("too slow"),
//!     other => println!("failed: {other}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lucet_runtime_internals::{
    Error, InstanceBuilder, InstanceHandle, KillSwitch, RunResult, TerminationDetails, TrapCode,
    Val,
};

/// How a guest asked to end with an exit status (WASI's `proc_exit`, for
/// one): a host function terminates the instance with this value
/// (`Vmctx::terminate`), and a run under a [`RunPolicy`] ends as
/// [`Outcome::Exited`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCode(pub u32);

/// How a run is bounded.
#[derive(Debug, Clone, Default)]
pub struct RunPolicy {
    /// The run is stopped at this instant (the start function included).
    pub deadline: Option<Instant>,
    /// The instance gets this much fuel (about one unit per instruction);
    /// the module must count instructions.
    pub fuel: Option<u64>,
    /// Guest code that runs this long without a host call that suspends
    /// it is preempted ([`KillSwitch::preempt`]) at its next loop header
    /// or recursive call (or host call), and [`start`](Self::start) and
    /// [`resume`](Self::resume) return [`Step::Preempted`]: resuming it
    /// continues the run, under the same deadline. Not the start function,
    /// which runs to its end.
    pub time_slice: Option<Duration>,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The entry function returned these values.
    Returned(Vec<Val>),
    /// The program called `proc_exit` with this status.
    Exited(u32),
    /// The deadline passed and the run was stopped.
    TimedOut,
    /// The run used up its fuel.
    OutOfFuel,
    /// The guest trapped.
    Trapped {
        /// Why.
        code: TrapCode,
        /// The function it trapped in.
        function: String,
        /// Offset of the trapping instruction in the function's code.
        offset: u32,
    },
    /// A host function yielded, which a run under a policy does not resume.
    Yielded,
    /// Anything else: the instance could not be created, an uncaught
    /// exception, a host function that panicked or terminated the run with
    /// a value other than an exit status.
    Failed(Error),
}

impl Outcome {
    /// The exit status of a command: 0 when it returned, its `proc_exit`
    /// status when it exited; `None` for every other end.
    pub fn exit_status(&self) -> Option<u32> {
        match self {
            Outcome::Returned(_) => Some(0),
            Outcome::Exited(code) => Some(*code),
            _ => None,
        }
    }

    /// A short name for the kind of end, for logs and metrics: `returned`,
    /// `exited`, `timeout`, `out_of_fuel`, `trap`, `yielded`, `error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Returned(_) => "returned",
            Outcome::Exited(_) => "exited",
            Outcome::TimedOut => "timeout",
            Outcome::OutOfFuel => "out_of_fuel",
            Outcome::Trapped { .. } => "trap",
            Outcome::Yielded => "yielded",
            Outcome::Failed(_) => "error",
        }
    }

    fn from_error(e: Error, timed_out: bool) -> Outcome {
        match e {
            Error::Terminated(TerminationDetails::Remote) if timed_out => Outcome::TimedOut,
            Error::Trap {
                code: TrapCode::OutOfFuel,
                ..
            } => Outcome::OutOfFuel,
            Error::Trap {
                code,
                function,
                offset,
            } => Outcome::Trapped {
                code,
                function,
                offset,
            },
            Error::Terminated(details) => match details.provided::<ExitCode>() {
                Some(code) => Outcome::Exited(code.0),
                None => Outcome::Failed(Error::Terminated(details)),
            },
            e => Outcome::Failed(e),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Returned(v) => write!(f, "returned {} value(s)", v.len()),
            Outcome::Exited(code) => write!(f, "exited with status {code}"),
            Outcome::TimedOut => write!(f, "ran past its deadline and was stopped"),
            Outcome::OutOfFuel => write!(f, "ran out of fuel"),
            Outcome::Trapped {
                code,
                function,
                offset,
            } => write!(f, "trap: {code} in {function} at offset {offset:#x}"),
            Outcome::Yielded => write!(f, "yielded"),
            Outcome::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// The end of [`RunPolicy::run`]: the outcome, and the instance (unless it
/// could not be created), for reading results or its embedder context.
pub struct Finished {
    /// How the run ended.
    pub outcome: Outcome,
    /// The instance; dropping it returns its slot.
    pub instance: Option<InstanceHandle>,
}

/// Where a run stands after [`RunPolicy::start`] or [`RunPolicy::resume`]:
/// ended, or suspended by a host function that yielded.
pub enum Step {
    /// The run ended.
    Ended(Finished),
    /// A host function yielded: the instance waits in its slot until it is
    /// resumed (or dropped, which unwinds the host function).
    Suspended(InstanceHandle),
    /// The run used its time slice: it waits in its slot, ready to be
    /// resumed (or dropped) whenever the host likes.
    Preempted(InstanceHandle),
}

impl RunPolicy {
    /// Builds the instance (its start function deferred so that the policy
    /// covers it), runs the start function and then `entry(params)`, each
    /// under the deadline and fuel. A run that yields ends as
    /// [`Outcome::Yielded`]; [`start`](Self::start) runs one that may.
    pub fn run(
        &self,
        builder: InstanceBuilder<'_>,
        entry: &str,
        params: &[Val],
        watchdog: &Watchdog,
    ) -> Finished {
        let mut step = self.start(builder, entry, params, watchdog);
        loop {
            match step {
                Step::Ended(finished) => return finished,
                Step::Suspended(instance) => {
                    return Finished {
                        outcome: Outcome::Yielded,
                        instance: Some(instance),
                    }
                }
                // Nothing else to run here: the run goes on.
                Step::Preempted(instance) => step = self.resume(instance, watchdog),
            }
        }
    }

    /// As [`run`](Self::run), but a run whose entry function's host calls
    /// yield is suspended, not ended: [`resume`](Self::resume) continues it,
    /// under the same deadline. (A yield from the module's start function
    /// ends the run as [`Outcome::Yielded`].)
    pub fn start(
        &self,
        builder: InstanceBuilder<'_>,
        entry: &str,
        params: &[Val],
        watchdog: &Watchdog,
    ) -> Step {
        let mut builder = builder.defer_start();
        if let Some(fuel) = self.fuel {
            builder = builder.with_fuel(fuel);
        }
        let mut instance = match builder.build() {
            Ok(i) => i,
            Err(e) => {
                return Step::Ended(Finished {
                    outcome: Outcome::Failed(e),
                    instance: None,
                })
            }
        };
        // A kill switch covers one run: the start function's, then the
        // entry's.
        let outcome = match self.guarded(&mut instance, watchdog, false, |i| i.run_start()) {
            Err(outcome) => outcome,
            Ok(()) => match self.guarded(&mut instance, watchdog, true, |i| i.run(entry, params)) {
                Ok(RunResult::Returned(values)) => Outcome::Returned(values),
                Ok(RunResult::Yielded(v)) if v.is_preempted() => return Step::Preempted(instance),
                Ok(RunResult::Yielded(_)) => return Step::Suspended(instance),
                Err(outcome) => outcome,
            },
        };
        Step::Ended(Finished {
            outcome,
            instance: Some(instance),
        })
    }

    /// Calls `entry(params)` on an instance whose run has ended (a
    /// component's post-return function after its export returned), under
    /// the deadline and what is left of the fuel. A call that yields ends
    /// as [`Outcome::Yielded`].
    pub fn call(
        &self,
        instance: &mut InstanceHandle,
        entry: &str,
        params: &[Val],
        watchdog: &Watchdog,
    ) -> Outcome {
        match self.guarded(instance, watchdog, false, |i| i.run(entry, params)) {
            Ok(RunResult::Returned(values)) => Outcome::Returned(values),
            Ok(RunResult::Yielded(_)) => Outcome::Yielded,
            Err(outcome) => outcome,
        }
    }

    /// Continues a suspended or preempted run (a host function's yield
    /// returns no value), under the deadline; fuel carries over.
    pub fn resume(&self, mut instance: InstanceHandle, watchdog: &Watchdog) -> Step {
        let outcome = match self.guarded(&mut instance, watchdog, true, |i| i.resume()) {
            Ok(RunResult::Returned(values)) => Outcome::Returned(values),
            Ok(RunResult::Yielded(v)) if v.is_preempted() => return Step::Preempted(instance),
            Ok(RunResult::Yielded(_)) => return Step::Suspended(instance),
            Err(outcome) => outcome,
        };
        Step::Ended(Finished {
            outcome,
            instance: Some(instance),
        })
    }

    /// Runs `f` with the deadline armed on the instance's current kill
    /// switch, and its time slice (when `sliced`).
    fn guarded<T>(
        &self,
        instance: &mut InstanceHandle,
        watchdog: &Watchdog,
        sliced: bool,
        f: impl FnOnce(&mut InstanceHandle) -> Result<T, Error>,
    ) -> Result<T, Outcome> {
        let armed = self
            .deadline
            .map(|deadline| watchdog.arm(deadline, instance.kill_switch()));
        let slice = self
            .time_slice
            .filter(|_| sliced)
            .map(|slice| watchdog.arm_slice(Instant::now() + slice, instance.kill_switch()));
        let result = f(instance);
        drop(slice);
        let fired = armed.is_some_and(Armed::disarm);
        result.map_err(|e| Outcome::from_error(e, fired))
    }
}

/// A timer thread that stops runs at their deadlines and preempts them at
/// the end of their time slices, through their kill switches. One
/// watchdog serves any number of runs on any threads; arming and
/// disarming take a lock and, unless the new time is the earliest, wake
/// nothing. While time slices are in use, the thread ticks every 2 ms
/// (and for a second after the last), so that the slices of a busy server
/// never have to wake it.
pub struct Watchdog {
    shared: Arc<Shared>,
}

/// How often the watchdog looks at time slices while they are in use: a
/// slice ends at most this late.
const SLICE_TICK: Duration = Duration::from_millis(2);

/// How long the watchdog keeps ticking after the last time slice was
/// armed.
const SLICE_LINGER: Duration = Duration::from_secs(1);

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    armed: BTreeMap<(Instant, u64), KillSwitch>,
    fired: HashSet<u64>,
    /// Time slices: preempted, not stopped, when they end.
    slices: BTreeMap<(Instant, u64), KillSwitch>,
    /// Ticking for time slices until then.
    ticking_until: Option<Instant>,
    /// What the timer thread sleeps until: `None` while it waits for a
    /// first deadline or is busy.
    sleeping_until: Option<Instant>,
    idle: bool,
    shutdown: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for Watchdog {
    fn default() -> Self {
        Self::new()
    }
}

impl Watchdog {
    /// Starts the timer thread.
    pub fn new() -> Watchdog {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let timer = shared.clone();
        std::thread::Builder::new()
            .name("lucet-watchdog".into())
            .spawn(move || watch(&timer))
            .expect("cannot start the watchdog thread");
        Watchdog { shared }
    }

    /// Stops the run `switch` belongs to at `deadline` (at once if it has
    /// passed), unless the returned guard is dropped first.
    pub fn arm(&self, deadline: Instant, switch: KillSwitch) -> Armed<'_> {
        let mut s = self.shared.lock();
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        if deadline <= Instant::now() {
            s.fired.insert(ticket);
            drop(s);
            // Fails harmlessly if the run has ended.
            let _ = switch.terminate();
        } else {
            let wake = s.idle || s.sleeping_until.is_some_and(|t| t > deadline);
            s.armed.insert((deadline, ticket), switch);
            drop(s);
            if wake {
                self.shared.wake.notify_one();
            }
        }
        Armed {
            watchdog: self,
            deadline,
            ticket,
            slice: false,
        }
    }

    /// Preempts the run `switch` belongs to at `end` (at the watchdog's
    /// next tick after it), unless the returned guard is dropped first.
    pub fn arm_slice(&self, end: Instant, switch: KillSwitch) -> Armed<'_> {
        let mut s = self.shared.lock();
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        let ticking = s.ticking_until.is_some();
        s.ticking_until = Some(Instant::now() + SLICE_LINGER);
        let wake = !ticking && (s.idle || s.sleeping_until.is_some_and(|t| t > end));
        s.slices.insert((end, ticket), switch);
        drop(s);
        if wake {
            self.shared.wake.notify_one();
        }
        Armed {
            watchdog: self,
            deadline: end,
            ticket,
            slice: true,
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_one();
    }
}

/// Removes from `map` what is due at `now`.
fn take_due(
    map: &mut BTreeMap<(Instant, u64), KillSwitch>,
    now: Instant,
) -> Vec<(u64, KillSwitch)> {
    let mut due = Vec::new();
    while let Some((&(at, ticket), _)) = map.first_key_value() {
        if at > now {
            break;
        }
        if let Some(switch) = map.remove(&(at, ticket)) {
            due.push((ticket, switch));
        }
    }
    due
}

fn watch(shared: &Shared) {
    let mut s = shared.lock();
    loop {
        if s.shutdown {
            return;
        }
        let now = Instant::now();
        let due = take_due(&mut s.armed, now);
        let slices_due = take_due(&mut s.slices, now);
        if !due.is_empty() || !slices_due.is_empty() {
            for (ticket, _) in &due {
                s.fired.insert(*ticket);
            }
            drop(s);
            for (_, switch) in due {
                // Fails harmlessly if the run has just ended.
                let _ = switch.terminate();
            }
            for (_, switch) in slices_due {
                // Does nothing if the run has ended or waits in a host call.
                switch.preempt();
            }
            s = shared.lock();
            continue;
        }
        if s.ticking_until.is_some_and(|t| t <= now) && s.slices.is_empty() {
            s.ticking_until = None;
        }
        let tick = s.ticking_until.map(|_| now + SLICE_TICK);
        let next = [s.armed.first_key_value().map(|(&(d, _), _)| d), tick]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(until) => {
                s.sleeping_until = Some(until);
                s.idle = false;
                s = shared
                    .wake
                    .wait_timeout(s, until.saturating_duration_since(now))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            None => {
                s.sleeping_until = None;
                s.idle = true;
                s = shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        }
        s.sleeping_until = None;
        s.idle = false;
    }
}

/// A deadline or time slice being watched; dropping it (or
/// [`disarm`](Self::disarm)) stops watching.
pub struct Armed<'a> {
    watchdog: &'a Watchdog,
    deadline: Instant,
    ticket: u64,
    slice: bool,
}

impl Armed<'_> {
    /// Stops watching; whether the deadline had fired (false for a time
    /// slice).
    pub fn disarm(self) -> bool {
        let fired = self.forget();
        std::mem::forget(self);
        fired
    }

    /// Stops watching; whether the deadline had fired.
    fn forget(&self) -> bool {
        let mut s = self.watchdog.shared.lock();
        let key = (self.deadline, self.ticket);
        if self.slice {
            s.slices.remove(&key);
            false
        } else {
            s.armed.remove(&key);
            s.fired.remove(&self.ticket)
        }
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.forget();
    }
}
