//! The context switch between the host and guest code: what is the same on
//! every architecture. The assembly (`lucet_context_swap`,
//! `lucet_context_set`, `lucet_context_bootstrap`), the layout of a fresh
//! guest stack and signal-context access are in `sys/<arch>/context.rs`,
//! which builds on the types here and is reached as `sys::arch_context`.
//!
//! A [`Context`] is just a saved stack pointer: everything else a suspended
//! side needs (its callee-saved registers and the address to continue at) is
//! on its own stack.

/// A suspended flow of control: the stack pointer it stopped at.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Context {
    /// Set by `sys/<arch>/context.rs` (a fresh stack) and the assembly.
    pub(super) sp: usize,
}

impl Context {
    /// The saved stack pointer: everything the suspended side keeps on its
    /// stack lies at or above it.
    pub fn stack_pointer(&self) -> usize {
        self.sp
    }
}

extern "C" {
    fn lucet_context_swap(from: *mut Context, to: *const Context);
    fn lucet_context_set(to: *const Context) -> !;
}

/// An array call to make on a fresh guest stack:
/// `entry(vmctx, data, values, len)`.
#[derive(Debug, Clone, Copy)]
pub struct ArrayCall {
    /// The function's address.
    pub entry: usize,
    /// First argument.
    pub vmctx: usize,
    /// Second argument.
    pub data: usize,
    /// The value buffer.
    pub values: usize,
    /// Its length.
    pub len: usize,
}

/// Saves the current context into `from` and continues `to`; returns when
/// something switches back to `from`.
///
/// # Safety
/// `to` must hold a context saved by `swap` or prepared by
/// `sys::arch_context::init_guest_stack`, whose stack is still valid; `from` must stay valid
/// until it is resumed.
#[inline(never)]
pub unsafe fn swap(from: *mut Context, to: *const Context) {
    // SAFETY: the caller upholds the contract above.
    unsafe { lucet_context_swap(from, to) }
}

/// Continues `to`, abandoning the current context.
///
/// # Safety
/// As for [`swap`]; and the current stack must hold no frames that need to
/// run destructors.
pub unsafe fn set(to: *const Context) -> ! {
    // SAFETY: the caller upholds the contract above.
    unsafe { lucet_context_set(to) }
}

/// The address of `lucet_context_set`, for redirecting a faulting guest from
/// a signal handler.
pub fn set_routine_address() -> usize {
    lucet_context_set as *const () as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    static mut HOST: Context = Context { sp: 0 };

    extern "C" fn add_into_values(vmctx: usize, data: usize, values: usize, len: usize) {
        // SAFETY: `values` points at the test's array of `len` u64s.
        let v = unsafe { std::slice::from_raw_parts_mut(values as *mut u64, len) };
        v[0] = (vmctx + data) as u64 + v[1];
    }

    #[test]
    fn bootstrap_calls_entry_and_returns_to_host() {
        let mut stack = vec![0u128; 1024];
        // SAFETY: the top of our own vector is a valid, aligned stack.
        let top = unsafe { (stack.as_mut_ptr() as *mut u8).add(stack.len() * 16) };
        let mut values = [0u64, 5];
        let mut guest = Context::default();
        // SAFETY: the stack and the host context outlive the switch.
        unsafe {
            super::super::arch_context::init_guest_stack(
                &mut guest,
                top,
                ArrayCall {
                    entry: add_into_values as *const () as usize,
                    vmctx: 30,
                    data: 7,
                    values: values.as_mut_ptr() as usize,
                    len: 2,
                },
                std::ptr::addr_of!(HOST),
            );
            swap(std::ptr::addr_of_mut!(HOST), &guest);
        }
        assert_eq!(values[0], 42);
    }
}
