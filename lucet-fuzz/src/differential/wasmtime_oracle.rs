//! Wasmtime as the oracle of GC modules (behind the `oracle-wasmtime`
//! feature): GC on with its default collector and a bounded GC heap, fuel
//! on, relaxed SIMD and exceptions off (as in the generated modules).

use lucet_runtime::Val;

use super::{Oracle, Outcome, Trap, Value, FUEL};

/// The most GC heap Wasmtime may use.
const GC_HEAP_BYTES: u64 = 4 << 20;

/// The Wasmtime side: one store per instance, so that a new instance
/// starts from nothing.
pub(super) struct WasmtimeOracle {
    engine: wasmtime::Engine,
    module: wasmtime::Module,
    store: wasmtime::Store<()>,
    instance: Option<wasmtime::Instance>,
}

impl Oracle for WasmtimeOracle {
    const NAME: &'static str = "Wasmtime";

    fn new(wasm: &[u8]) -> Result<WasmtimeOracle, String> {
        let mut config = wasmtime::Config::new();
        config
            .wasm_gc(true)
            .wasm_function_references(true)
            .wasm_reference_types(true)
            .wasm_tail_call(true)
            .wasm_multi_memory(true)
            .wasm_memory64(true)
            .wasm_simd(true)
            .wasm_relaxed_simd(false)
            .wasm_extended_const(true)
            .wasm_exceptions(false)
            .consume_fuel(true)
            // A GC heap of at most 4 MiB, like Lucet's bounded one (Lucet
            // runs with its default of 1 MiB): a module that allocates
            // without bound then ends soon on both sides, as `Exhausted`.
            .gc_heap_reservation(GC_HEAP_BYTES)
            .gc_heap_reservation_for_growth(0)
            .gc_heap_guard_size(64 << 10)
            .gc_heap_may_move(false);
        let engine = wasmtime::Engine::new(&config).map_err(|e| e.to_string())?;
        let module = wasmtime::Module::new(&engine, wasm).map_err(|e| e.to_string())?;
        let store = wasmtime::Store::new(&engine, ());
        Ok(WasmtimeOracle {
            engine,
            module,
            store,
            instance: None,
        })
    }

    fn instantiate(&mut self) -> Result<(), Outcome> {
        self.instance = None;
        self.store = wasmtime::Store::new(&self.engine, ());
        self.store
            .set_fuel(FUEL)
            .map_err(|e| Outcome::Trapped(Trap::Oracle(e.to_string())))?;
        let linker = wasmtime::Linker::<()>::new(&self.engine);
        match linker.instantiate(&mut self.store, &self.module) {
            Ok(i) => {
                self.instance = Some(i);
                Ok(())
            }
            Err(e) => Err(oracle_error(&e)),
        }
    }

    fn call(&mut self, name: &str, args: &[Val]) -> Outcome {
        let Some(func) = self
            .instance
            .and_then(|i| i.get_func(&mut self.store, name))
        else {
            return Outcome::Trapped(Trap::Oracle(format!("no function {name}")));
        };
        let ty = func.ty(&self.store);
        let inputs: Vec<wasmtime::Val> = ty
            .params()
            .zip(args)
            .map(|(t, v)| oracle_val(&t, v))
            .collect();
        let mut outputs: Vec<wasmtime::Val> = ty
            .results()
            .map(|t| wasmtime::Val::default_for_ty(&t).unwrap_or(wasmtime::Val::I32(0)))
            .collect();
        if let Err(e) = self.store.set_fuel(FUEL) {
            return Outcome::Trapped(Trap::Oracle(e.to_string()));
        }
        match func.call(&mut self.store, &inputs, &mut outputs) {
            Ok(()) => Outcome::Returned(outputs.iter().map(oracle_value).collect()),
            Err(e) => oracle_error(&e),
        }
    }

    fn global(&mut self, name: &str) -> Option<Value> {
        let g = self.instance?.get_global(&mut self.store, name)?;
        Some(oracle_value(&g.get(&mut self.store)))
    }

    fn memory(&mut self, name: &str) -> &[u8] {
        match self
            .instance
            .and_then(|i| i.get_memory(&mut self.store, name))
        {
            Some(m) => m.data(&self.store),
            None => &[],
        }
    }
}

fn oracle_error(e: &wasmtime::Error) -> Outcome {
    use wasmtime::Trap as W;
    if e.is::<wasmtime::GcHeapOutOfMemory<()>>() {
        return Outcome::Exhausted;
    }
    match e.downcast_ref::<W>() {
        // Fuel and stack budgets differ between the two, and so do GC
        // heap sizes (Lucet's exhaustion is `Exhausted` too).
        Some(W::OutOfFuel | W::StackOverflow | W::AllocationTooLarge) => Outcome::Exhausted,
        Some(W::UnreachableCodeReached) => Outcome::Trapped(Trap::Unreachable),
        Some(W::MemoryOutOfBounds) => Outcome::Trapped(Trap::MemoryOutOfBounds),
        Some(W::TableOutOfBounds) => Outcome::Trapped(Trap::TableOutOfBounds),
        Some(W::IndirectCallToNull) => Outcome::Trapped(Trap::IndirectCallToNull),
        Some(W::BadSignature) => Outcome::Trapped(Trap::BadSignature),
        Some(W::IntegerOverflow) => Outcome::Trapped(Trap::IntegerOverflow),
        Some(W::IntegerDivisionByZero) => Outcome::Trapped(Trap::IntegerDivisionByZero),
        Some(W::BadConversionToInteger) => Outcome::Trapped(Trap::BadConversionToInteger),
        Some(W::NullReference) => Outcome::Trapped(Trap::NullReference),
        Some(W::CastFailure) => Outcome::Trapped(Trap::CastFailure),
        Some(W::ArrayOutOfBounds) => Outcome::Trapped(Trap::ArrayOutOfBounds),
        _ => Outcome::Trapped(Trap::Oracle(format!("{e:#}"))),
    }
}

/// Lucet's argument `v` for a parameter of type `ty`: numbers as they are,
/// references as null (the only references the fuzzer passes).
fn oracle_val(ty: &wasmtime::ValType, v: &Val) -> wasmtime::Val {
    match (ty, v) {
        (_, Val::I32(x)) => wasmtime::Val::I32(*x),
        (_, Val::I64(x)) => wasmtime::Val::I64(*x),
        (_, Val::F32(x)) => wasmtime::Val::F32(x.to_bits()),
        (_, Val::F64(x)) => wasmtime::Val::F64(x.to_bits()),
        (_, Val::V128(x)) => wasmtime::Val::V128((*x).into()),
        (wasmtime::ValType::Ref(r), _) => wasmtime::Val::null_ref(r.heap_type()),
        _ => wasmtime::Val::I32(0),
    }
}

fn oracle_value(v: &wasmtime::Val) -> Value {
    match v {
        wasmtime::Val::I32(x) => Value::I32(*x),
        wasmtime::Val::I64(x) => Value::I64(*x),
        wasmtime::Val::F32(x) => Value::F32(*x),
        wasmtime::Val::F64(x) => Value::F64(*x),
        wasmtime::Val::V128(x) => Value::V128(x.as_u128()),
        wasmtime::Val::FuncRef(r) => Value::Ref { null: r.is_none() },
        wasmtime::Val::ExternRef(r) => Value::Ref { null: r.is_none() },
        wasmtime::Val::AnyRef(r) => Value::Ref { null: r.is_none() },
        wasmtime::Val::ExnRef(r) => Value::Ref { null: r.is_none() },
        wasmtime::Val::ContRef(r) => Value::Ref { null: r.is_none() },
    }
}
