//! Running guest code: a run starts a function on the slot's stack and
//! switches to it; it ends when the guest returns, yields, traps or is
//! terminated, and `finish_run` turns how it left into the run's result.

use std::any::Any;
use std::ptr;

use lucet_module::{TrapCode, ValRaw};

use super::kill;
use super::link::LinkGroup;
use super::result::{RunResult, YieldedVal};
use super::{Exit, Instance, State, CURRENT_INSTANCE};
use crate::sys::{arch_context, context, signals};
use crate::{Error, TerminationDetails, Val};

impl Instance {
    /// Switches to the guest context and back, with this instance marked as
    /// the thread's running instance.
    ///
    /// # Safety
    /// `inst` must be live, with `guest_ctx` prepared or saved by a yield,
    /// and this thread must have a signal stack (`ensure_thread_altstack`).
    pub(super) unsafe fn switch_to_guest(inst: *mut Instance) {
        let previous = CURRENT_INSTANCE.with(|c| c.replace(inst));
        // SAFETY: the caller checked this thread's signal stack
        // (`ensure_thread_altstack`). Linked instances' code may run on this
        // instance's stack, so the group's headers follow the running
        // instance (a plain pointer: no reference count traffic per switch).
        unsafe {
            let group = (*inst).group.as_ref().map(|g| &**g as *const LinkGroup);
            let outer = group.map(|g| (*g).enter(inst));
            (*inst).state = State::Running;
            context::swap(
                ptr::addr_of_mut!((*inst).host_ctx),
                ptr::addr_of!((*inst).guest_ctx),
            );
            if let (Some(g), Some(outer)) = (group, outer) {
                (*g).leave(outer);
            }
        }
        CURRENT_INSTANCE.with(|c| c.set(previous));
    }

    /// Runs function `index` with `args` on a fresh guest stack.
    ///
    /// # Safety
    /// `inst` must be live and not borrowed.
    pub(super) unsafe fn run_func(
        inst: *mut Instance,
        index: u32,
        args: &[Val],
    ) -> Result<RunResult, Error> {
        // SAFETY: the caller guarantees exclusive access; the references made
        // here end before the context switch.
        unsafe {
            if let Some(g) = &(*inst).group {
                g.check_thread()?;
            }
            signals::ensure_thread_altstack((*inst).region.limits().signal_stack_size as usize)?;
            match (*inst).state {
                State::Ready => {}
                State::Yielded => {
                    return Err(Error::InvalidState(
                        "the instance is yielded: resume or reset it first",
                    ))
                }
                State::Running => {
                    return Err(Error::InvalidState("the instance is already running"))
                }
            }
            let module = &*(*inst).module;
            let data = module.metadata();
            let ty = data
                .func_type(index)
                .ok_or_else(|| Error::ExportNotFound(format!("func[{index}]")))?;
            if args.len() != ty.params.len()
                || args
                    .iter()
                    .zip(&ty.params)
                    .any(|(a, t)| !(*inst).accepts(a, *t))
            {
                return Err(Error::ArgumentMismatch {
                    func: module.function_name(index),
                    expected: ty.clone(),
                    got: args
                        .iter()
                        .map(|a| a.ty().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let entry = module
                .trampoline_address(index)
                .ok_or_else(|| Error::ExportNotFound(module.function_name(index)))?;
            if (*inst).group.is_none() {
                // Clear what a kill of an earlier run left (a linked
                // instance's headers are written as it goes on the CPU).
                kill::set_interrupt_words((*inst).header(), false, (*inst).stack_limit);
            }
            if !(*inst).kill.start() {
                (*inst).end_run();
                return Err(Error::Terminated(TerminationDetails::Remote));
            }
            let values = &mut Instance::bufs(inst).values;
            values.clear();
            values.resize(ty.array_call_len().max(1), ValRaw::default());
            for (v, a) in values.iter_mut().zip(args) {
                *v = a.to_raw();
            }
            (*inst).running_func = index;
            (*inst).exit = None;
            let slot = (*inst).slot;
            let call = context::ArrayCall {
                entry,
                vmctx: slot.heap() as usize,
                data: 0,
                values: Instance::bufs(inst).values.as_mut_ptr() as usize,
                len: Instance::bufs(inst).values.len(),
            };
            arch_context::init_guest_stack(
                &mut (*inst).guest_ctx,
                slot.stack_top(),
                call,
                ptr::addr_of!((*inst).host_ctx),
            );
            Instance::switch_to_guest(inst);
            Instance::finish_run(inst)
        }
    }

    /// Turns the way the guest left the CPU into the run's result.
    ///
    /// # Safety
    /// `inst` must be live and not borrowed.
    pub(super) unsafe fn finish_run(inst: *mut Instance) -> Result<RunResult, Error> {
        // SAFETY: the guest is off the CPU; we have exclusive access.
        let inst = unsafe { &mut *inst };
        let exit = inst.exit.take();
        let killed = match exit {
            Some(Exit::Yield(_)) => false,
            _ => inst.end_run(),
        };
        match exit {
            None => {
                inst.state = State::Ready;
                let module = inst.module.clone();
                let results: Vec<Val> = module
                    .metadata()
                    .func_type(inst.running_func)
                    .map(|ty| {
                        ty.results
                            .iter()
                            .zip(&inst.buf.values)
                            // SAFETY: the guest wrote its results.
                            .map(|(t, raw)| unsafe { Val::from_guest(raw, *t, &inst.host_roots) })
                            .collect()
                    })
                    .unwrap_or_default();
                for v in &results {
                    inst.pin(v);
                }
                Ok(RunResult::Returned(results))
            }
            Some(Exit::Yield(v)) => {
                inst.state = State::Yielded;
                Ok(RunResult::Yielded(YieldedVal(v)))
            }
            // A killed run stops at a loop header (through the `Interrupted`
            // builtin, as `Terminated`) or at a function entry, whose stack
            // check fails on the poisoned limit.
            Some(Exit::Trap(t)) if killed && t.code == TrapCode::StackOverflow => {
                inst.state = State::Ready;
                Err(Error::Terminated(TerminationDetails::Remote))
            }
            Some(Exit::Trap(t)) => {
                inst.state = State::Ready;
                let function = match t.func_index {
                    // SAFETY: the trapping module belongs to this instance or
                    // to its link group, which is alive.
                    Some(i) => unsafe { (*t.module).function_name(i) },
                    None => "<entry trampoline>".to_string(),
                };
                Err(Error::Trap {
                    code: t.code,
                    function,
                    offset: t.offset,
                })
            }
            Some(Exit::Terminated(d)) => {
                inst.state = State::Ready;
                Err(Error::Terminated(d))
            }
            Some(Exit::Exception(exn)) => {
                inst.state = State::Ready;
                Err(Error::UncaughtException(inst.exception_info(exn)))
            }
        }
    }

    /// Continues a yielded instance.
    ///
    /// # Safety
    /// `inst` must be live and not borrowed.
    pub(super) unsafe fn resume(
        inst: *mut Instance,
        val: Option<Box<dyn Any + Send>>,
    ) -> Result<RunResult, Error> {
        // SAFETY: exclusive access; no reference is held across the switch.
        unsafe {
            if let Some(g) = &(*inst).group {
                g.check_thread()?;
            }
            if (*inst).state != State::Yielded {
                return Err(Error::InvalidState("the instance is not yielded"));
            }
            signals::ensure_thread_altstack((*inst).region.limits().signal_stack_size as usize)?;
            (*inst).resume_val = val;
            Instance::switch_to_guest(inst);
            Instance::finish_run(inst)
        }
    }

    /// Unwinds the host function a yielded instance is suspended in, so that
    /// its destructors run before the instance is reset or dropped.
    ///
    /// # Safety
    /// `inst` must be live and not borrowed.
    pub(super) unsafe fn unwind_if_yielded(inst: *mut Instance) {
        // SAFETY: exclusive access; no reference is held across the switch.
        unsafe {
            if (*inst).state != State::Yielded {
                return;
            }
            if signals::ensure_thread_altstack((*inst).region.limits().signal_stack_size as usize)
                .is_err()
            {
                // Without a signal stack the guest cannot be resumed safely;
                // its frames are abandoned (the slot's stack is reused).
                (*inst).state = State::Ready;
                return;
            }
            (*inst).unwind_requested = true;
            Instance::switch_to_guest(inst);
            (*inst).unwind_requested = false;
            (*inst).preempted = false;
            (*inst).exit = None;
            (*inst).resume_val = None;
            // If the host function caught the unwind and the guest yielded
            // again, its frames are abandoned: the slot's stack is reused.
            (*inst).state = State::Ready;
        }
    }
}
