//! Traps: the signal handler's classifier, which attributes a fault in
//! guest code to its module, function and trap code, and the entry of the
//! `Trap` builtin, which does the same without a signal.

use std::ptr;

use lucet_module::TrapCode;

use super::{Exit, Instance, State, TrapRecord, CURRENT_INSTANCE};
use crate::module::Module;
use crate::sys::context;

/// The signal handler's classifier: if this thread is running guest code and
/// `pc` lies in it, records the trap and returns the host context to switch
/// to. Async-signal-safe: reads and one `ptr::write`, no allocation.
///
/// # Safety
/// Called only from the signal handler.
pub(crate) unsafe fn classify_fault(signum: libc::c_int, pc: usize) -> Option<usize> {
    let inst = CURRENT_INSTANCE.with(|c| c.get());
    if inst.is_null() {
        return None;
    }
    // SAFETY: CURRENT_INSTANCE is set only while the instance runs on this
    // thread, so it is live; the interrupted code holds no references to the
    // fields written here (`exit` is `None` during a run).
    unsafe {
        if (*inst).state != State::Running {
            return None;
        }
        let module = code_owner(inst, pc)?;
        let text_offset = (pc - module.code().base()) as u32;
        let record = match module.metadata().function_at(text_offset) {
            Some((index, f)) => {
                let offset = text_offset - f.code.offset;
                TrapRecord {
                    code: module.trap_at(text_offset).unwrap_or(TrapCode::Unknown),
                    module,
                    func_index: Some(index),
                    offset,
                }
            }
            None => TrapRecord {
                // An entry trampoline's one trap is its stack check (a
                // `ud2`): the stack limit was poisoned by a kill.
                code: match module
                    .metadata()
                    .trampolines
                    .iter()
                    .any(|t| (t.code.offset..t.code.offset + t.code.len).contains(&text_offset))
                {
                    true if signum == libc::SIGILL => TrapCode::StackOverflow,
                    _ => TrapCode::Unknown,
                },
                module,
                func_index: None,
                offset: text_offset,
            },
        };
        ptr::write(ptr::addr_of_mut!((*inst).exit), Some(Exit::Trap(record)));
        Some(ptr::addr_of!((*inst).host_ctx) as usize)
    }
}

/// The module whose code holds `pc`: the running instance's, or a
/// linked instance's that it called.
///
/// # Safety
/// `inst` must be the running instance of this thread.
unsafe fn code_owner<'a>(inst: *mut Instance, pc: usize) -> Option<&'a Module> {
    // SAFETY: the running instance and its link group are alive for the
    // whole run; modules outlive their instances.
    unsafe {
        let module: &Module = &(*inst).module;
        if module.code().contains(pc) {
            return Some(&*(module as *const Module));
        }
        let group = (*inst).group.as_ref()?;
        group
            .members()
            .iter()
            .map(|m| &*(**m).module as *const Module)
            .find(|m| (**m).code().contains(pc))
            .map(|m| &*m)
    }
}

/// The body of the `Trap` builtin, entered from its stub in `sys`: ends
/// the run with trap `code` (a `TrapCode::number`), attributed to the
/// instruction at `return_pc` (the trap instruction after the call), and
/// switches to the host. No signal is involved.
///
/// # Safety
/// Called only by guest code of this thread's running instance, on its
/// stack, through the stub.
pub(crate) unsafe extern "C" fn trap_entry(code: u32, return_pc: usize) -> ! {
    let inst = CURRENT_INSTANCE.with(|c| c.get());
    if inst.is_null() {
        // Guest code runs only inside a run; nothing can be returned to.
        std::process::abort();
    }
    let code = TrapCode::from_number(code).unwrap_or(TrapCode::Unknown);
    // SAFETY: the instance runs on this thread (guest code called us); the
    // exit is `None` during a run and nothing else refers to it.
    unsafe {
        let record = match code_owner(inst, return_pc) {
            Some(module) => {
                let text_offset = (return_pc - module.code().base()) as u32;
                let (func_index, offset) = match module.metadata().function_at(text_offset) {
                    Some((index, f)) => (Some(index), text_offset - f.code.offset),
                    None => (None, text_offset),
                };
                TrapRecord {
                    code,
                    module,
                    func_index,
                    offset,
                }
            }
            None => TrapRecord {
                code,
                module: &*(*inst).module,
                func_index: None,
                offset: 0,
            },
        };
        (*inst).exit = Some(Exit::Trap(record));
        context::set(ptr::addr_of!((*inst).host_ctx))
    }
}
