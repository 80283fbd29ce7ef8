//! `Vmctx`: what a host function sees of the instance that called it —
//! bounds-checked access to linear memory, globals, the embedder context,
//! and control over the run (yield, terminate).

use std::any::Any;

use super::host_call::TerminationSignal;
use super::{instance_from_vmctx, Instance, Interrupt};
use crate::{Error, Val};

/// The calling instance, as a host function sees it.
pub struct Vmctx {
    inst: *mut Instance,
}

impl Vmctx {
    /// Wraps the vmctx generated code passed to a host function.
    ///
    /// # Safety
    /// `vmctx` must be the vmctx of a live instance that is running on this
    /// thread.
    #[inline]
    pub(crate) unsafe fn from_raw(vmctx: *mut u8) -> Vmctx {
        Vmctx {
            // SAFETY: the caller guarantees `vmctx` is live.
            inst: unsafe { instance_from_vmctx(vmctx) },
        }
    }

    fn instance(&self) -> &Instance {
        // SAFETY: the instance outlives the host call; the host side holds no
        // reference while guest code (and so this host function) runs.
        unsafe { &*self.inst }
    }

    fn instance_mut(&mut self) -> &mut Instance {
        // SAFETY: as above, exclusively through `&mut self`.
        unsafe { &mut *self.inst }
    }

    /// The instance's linear memory.
    pub fn memory(&self) -> &[u8] {
        self.instance().memory()
    }

    /// The instance's linear memory, mutably.
    pub fn memory_mut(&mut self) -> &mut [u8] {
        self.instance_mut().memory_mut()
    }

    /// `len` bytes of linear memory at `ptr`, or an error if any is out of
    /// bounds.
    pub fn read(&self, ptr: u32, len: u32) -> Result<&[u8], Error> {
        let end = ptr as u64 + len as u64;
        self.memory()
            .get(ptr as usize..end as usize)
            .ok_or(Error::MemoryOutOfBounds {
                ptr: ptr as u64,
                len: len as u64,
            })
    }

    /// `len` bytes of linear memory at `ptr`, mutably.
    pub fn read_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Error> {
        let end = ptr as u64 + len as u64;
        self.memory_mut()
            .get_mut(ptr as usize..end as usize)
            .ok_or(Error::MemoryOutOfBounds {
                ptr: ptr as u64,
                len: len as u64,
            })
    }

    /// Copies `bytes` into linear memory at `ptr`.
    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Error> {
        self.read_mut(ptr, bytes.len() as u32)?
            .copy_from_slice(bytes);
        Ok(())
    }

    /// Reads a little-endian `u32` at `ptr`.
    pub fn read_u32(&self, ptr: u32) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.read(ptr, 4)?.try_into().unwrap()))
    }

    /// Reads a little-endian `u64` at `ptr`.
    pub fn read_u64(&self, ptr: u32) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.read(ptr, 8)?.try_into().unwrap()))
    }

    /// Writes a little-endian `u32` at `ptr`.
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<(), Error> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u64` at `ptr`.
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<(), Error> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Grows linear memory by `pages`; the old size in pages, or `None`.
    pub fn grow_memory(&mut self, pages: u32) -> Option<u32> {
        self.instance_mut()
            .grow_memory_at(0, u64::from(pages))
            .map(|old| old as u32)
    }

    /// The value of global `index`.
    pub fn global(&self, index: u32) -> Option<Val> {
        let n = self.instance().module().metadata().globals.len();
        ((index as usize) < n).then(|| self.instance().global(index))
    }

    /// Sets mutable global `index`.
    pub fn set_global(&mut self, index: u32, val: Val) -> Result<(), Error> {
        self.instance_mut().set_global(index, val)
    }

    /// Collects the instance's GC heap now, keeping what its frames,
    /// globals and tables and the host's handles reach (the objects this
    /// host function got as arguments among them). An instance of a link
    /// group collects with the whole group; it returns false, collecting
    /// nothing, while another member has a run of its own in progress, or
    /// when this instance's module has no GC types but another member's
    /// has.
    pub fn collect_garbage(&mut self) -> bool {
        // SAFETY: a host function runs in a call from guest code of this
        // instance through its import stub, which recorded the calling
        // frame in the header.
        unsafe { self.instance_mut().collect_garbage(true) }
    }

    /// The embedder context value of type `T`.
    pub fn embed_ctx<T: Any>(&self) -> Option<&T> {
        self.instance().embed_ctx().get()
    }

    /// The embedder context value of type `T`, mutably.
    pub fn embed_ctx_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.instance_mut().embed_ctx_mut().get_mut()
    }

    /// Linear memory and the embedder context value of type `T` at once, for
    /// host functions that move data between the two (they never overlap:
    /// the context lives in host memory).
    pub fn memory_and_embed_ctx_mut<T: Any>(&mut self) -> (&mut [u8], Option<&mut T>) {
        let inst = self.inst;
        // SAFETY: linear memory and the embedder context are disjoint, so two
        // exclusive borrows derived from the one `&mut self` do not alias.
        unsafe {
            let memory = (*inst).memory_mut();
            let memory: *mut [u8] = memory;
            let ctx = (*inst).embed_ctx_mut().get_mut::<T>();
            (&mut *memory, ctx)
        }
    }

    /// The embedder context value of type `T`, and the rest of the instance
    /// as a host function that holds that value uses it: its memory and
    /// its yield. The value stays borrowed across a yield: while the
    /// instance is yielded, its handle gives no access to its embedder
    /// context.
    pub fn embed_ctx_and_caller_mut<T: Any>(&mut self) -> Option<(&mut T, Caller<'_>)> {
        let inst = self.inst;
        // SAFETY: the value lives boxed in the embedder context, which
        // nothing else reaches while this host function runs or is
        // suspended (the handle refuses access while the instance is
        // yielded, and the run does not touch it); the caller reaches only
        // linear memory and the yield, not the context.
        unsafe {
            let ctx: *mut T = (*inst).embed_ctx_mut().get_mut::<T>()?;
            Some((
                &mut *ctx,
                Caller {
                    inst,
                    _borrow: std::marker::PhantomData,
                },
            ))
        }
    }

    /// Linear memory, the embedder context value of type `T`, and the run's
    /// [`Interrupt`] at once: for host functions that may wait or work long
    /// (they should return once `Interrupt::requested` says so).
    pub fn memory_embed_ctx_and_interrupt_mut<T: Any>(
        &mut self,
    ) -> (&mut [u8], Option<&mut T>, Interrupt<'_>) {
        let interrupt = Instance::current_interrupt(self.inst);
        let (memory, ctx) = self.memory_and_embed_ctx_mut::<T>();
        (memory, ctx, interrupt)
    }

    /// The run's [`Interrupt`]: whether it was asked to stop, and waits
    /// that end when it is.
    pub fn interrupt(&self) -> Interrupt<'_> {
        Instance::current_interrupt(self.inst)
    }

    /// Suspends the instance: the host's `run` returns
    /// `RunResult::Yielded` with no value. Returns the value the host
    /// resumes with, if any.
    pub fn yield_(&mut self) -> Option<Box<dyn Any + Send>> {
        // SAFETY: host functions run on the guest stack of a running instance.
        unsafe { Instance::yield_from_host(None) }
    }

    /// Suspends the instance with `val`, which the host receives in
    /// `RunResult::Yielded`. Returns the value the host resumes with, if any.
    pub fn yield_val<T: Any + Send>(&mut self, val: T) -> Option<Box<dyn Any + Send>> {
        // SAFETY: as above.
        unsafe { Instance::yield_from_host(Some(Box::new(val))) }
    }

    /// Yields with `val` and returns the resume value if it is an `R`.
    pub fn yield_val_expecting<T: Any + Send, R: Any>(&mut self, val: T) -> Option<R> {
        self.yield_val(val)?.downcast::<R>().ok().map(|b| *b)
    }

    /// Ends the run: the host's `run` returns `Error::Terminated` carrying
    /// `details`. Destructors of this host function's locals run first.
    pub fn terminate<T: Any + Send + Sync>(&mut self, details: T) -> ! {
        std::panic::resume_unwind(Box::new(TerminationSignal(Box::new(details))))
    }
}

/// The calling instance, as a host function holding one of its embedder
/// context values sees it (`Vmctx::embed_ctx_and_caller_mut`): its linear
/// memory and its yield.
pub struct Caller<'a> {
    inst: *mut Instance,
    _borrow: std::marker::PhantomData<&'a mut Vmctx>,
}

impl Caller<'_> {
    /// The instance's linear memory (borrow it again after a yield: it may
    /// have grown).
    pub fn memory_mut(&mut self) -> &mut [u8] {
        // SAFETY: the instance outlives the host call; linear memory is
        // disjoint from the embedder context value the host function holds.
        unsafe { (*self.inst).memory_mut() }
    }

    /// Suspends the instance, as `Vmctx::yield_` does; returns the value it
    /// is resumed with, if any.
    pub fn yield_(&mut self) -> Option<Box<dyn Any + Send>> {
        // SAFETY: host functions run on the guest stack of a running
        // instance.
        unsafe { Instance::yield_from_host(None) }
    }

    /// The run's [`Interrupt`]: whether it was asked to stop (a host
    /// function resumed after its run was killed should return at once).
    pub fn interrupt(&self) -> Interrupt<'_> {
        Instance::current_interrupt(self.inst)
    }
}
