//! Host functions made from embedders' closures: `Linker::func` (typed,
//! through a monomorphized trampoline) and `Linker::func_dynamic` (with
//! [`Val`]s). A trampoline reads the arguments from the value buffer, calls
//! the closure with a `&mut Vmctx` and writes the results back; a panic in
//! the closure (or [`Vmctx::terminate`]) never unwinds into guest frames:
//! `call_host` catches it and ends the run with an error.

use std::sync::Arc;

use lucet_module::{FuncType, ValRaw};
use smallvec::SmallVec;

use super::{call_host, instance_from_vmctx, Vmctx};
use crate::linker::{Definition, HostFunc, WasmResults, WasmTy};
use crate::{Linker, Val};

/// A closure that can become a host function: `Fn(&mut Vmctx, A1, .., An) -> R`
/// where every `Ai` is a [`WasmTy`] and `R` is [`WasmResults`].
pub trait IntoHostFunc<Params, Results>: Send + Sync + 'static {
    /// Wraps the closure.
    fn into_host_func(self) -> HostFunc;
}

macro_rules! into_host_func {
    ($($a:ident)*) => {
        impl<F, $($a,)* R> IntoHostFunc<($($a,)*), R> for F
        where
            F: Fn(&mut Vmctx, $($a),*) -> R + Send + Sync + 'static,
            $($a: WasmTy,)*
            R: WasmResults,
        {
            fn into_host_func(self) -> HostFunc {
                #[allow(non_snake_case, unused_assignments, unused_mut, unused_variables)]
                unsafe extern "C" fn trampoline<F, $($a,)* R>(
                    vmctx: *mut u8,
                    data: *const u8,
                    values: *mut ValRaw,
                    _len: usize,
                ) where
                    F: Fn(&mut Vmctx, $($a),*) -> R + Send + Sync + 'static,
                    $($a: WasmTy,)*
                    R: WasmResults,
                {
                    // SAFETY: `data` is the `F` this trampoline was made for,
                    // owned by the `HostFunc`; `values` holds the arguments the
                    // module's import stub wrote, and room for the results.
                    unsafe {
                        let f = &*(data as *const F);
                        call_host(vmctx, |ctx| {
                            let mut i = 0;
                            $(let $a = $a::load(&*values.add(i)); i += 1;)*
                            f(ctx, $($a),*).store(values);
                        })
                    }
                }
                let ty = FuncType::new([$($a::TY),*], R::types());
                HostFunc::new(ty, trampoline::<F, $($a,)* R>, Box::new(self))
            }
        }
    };
}

into_host_func!();
into_host_func!(A1);
into_host_func!(A1 A2);
into_host_func!(A1 A2 A3);
into_host_func!(A1 A2 A3 A4);
into_host_func!(A1 A2 A3 A4 A5);
into_host_func!(A1 A2 A3 A4 A5 A6);
into_host_func!(A1 A2 A3 A4 A5 A6 A7);
into_host_func!(A1 A2 A3 A4 A5 A6 A7 A8);
into_host_func!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
into_host_func!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);

/// The closure of a dynamically typed host function.
type DynamicFn = dyn Fn(&mut Vmctx, &[Val], &mut [Val]) + Send + Sync;

struct Dynamic {
    ty: FuncType,
    f: Box<DynamicFn>,
}

unsafe extern "C" fn dynamic_trampoline(
    vmctx: *mut u8,
    data: *const u8,
    values: *mut ValRaw,
    _len: usize,
) {
    // SAFETY: `data` is the `Dynamic` this trampoline was registered with;
    // `values` holds the arguments and has room for the results.
    unsafe {
        let d = &*(data as *const Dynamic);
        let inst = instance_from_vmctx(vmctx);
        call_host(vmctx, |ctx| {
            let roots = (*inst).host_roots();
            // On the stack for the usual few values: a host call allocates
            // nothing of its own.
            let args: SmallVec<[Val; 8]> =
                d.ty.params
                    .iter()
                    .enumerate()
                    .map(|(i, t)| Val::from_guest(&*values.add(i), *t, roots))
                    .collect();
            let mut results: SmallVec<[Val; 4]> =
                d.ty.results.iter().map(|t| Val::zero(*t)).collect();
            (d.f)(ctx, &args, &mut results);
            for (i, (r, t)) in results.iter().zip(&d.ty.results).enumerate() {
                // A result the instance cannot take as the declared type
                // (another type, an object of another heap) is stored as
                // the type's zero rather than reinterpreted.
                *values.add(i) = if (*inst).accepts(r, *t) {
                    r.to_raw()
                } else {
                    Val::zero(*t).to_raw()
                };
            }
        })
    }
}

impl HostFunc {
    /// A host function taking and returning [`Val`]s, as
    /// [`Linker::func_dynamic`] defines them, for hosts that make their
    /// functions as modules ask for them
    /// ([`ComponentHost`](crate::linker::ComponentHost)).
    pub fn dynamic(
        ty: FuncType,
        f: impl Fn(&mut Vmctx, &[Val], &mut [Val]) + Send + Sync + 'static,
    ) -> HostFunc {
        let d = Dynamic {
            ty: ty.clone(),
            f: Box::new(f),
        };
        HostFunc::new(ty, dynamic_trampoline, Box::new(d))
    }
}

impl Linker {
    /// Defines `module.name` as a typed host function.
    ///
    /// ```
    /// # use lucet_runtime_internals::{Linker, Vmctx};
    /// let mut linker = Linker::new();
    /// linker.func("env", "add", |_: &mut Vmctx, a: i32, b: i32| a.wrapping_add(b));
    /// ```
    pub fn func<P, R>(
        &mut self,
        module: &str,
        name: &str,
        f: impl IntoHostFunc<P, R>,
    ) -> &mut Self {
        self.define(module, name, Definition::Func(Arc::new(f.into_host_func())))
    }

    /// Defines `module.name` as a host function taking and returning
    /// [`Val`]s; `results` arrives holding zeros of the result types.
    pub fn func_dynamic(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(&mut Vmctx, &[Val], &mut [Val]) + Send + Sync + 'static,
    ) -> &mut Self {
        let func = HostFunc::dynamic(ty, f);
        self.define(module, name, Definition::Func(Arc::new(func)))
    }
}
