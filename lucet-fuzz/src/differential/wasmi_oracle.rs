//! The wasmi interpreter as the oracle (no GC, no exceptions).

use lucet_runtime::Val;

use super::{Oracle, Outcome, Trap, Value, FUEL};

/// The wasmi side.
pub(super) struct WasmiOracle {
    store: wasmi::Store<()>,
    module: wasmi::Module,
    instance: Option<wasmi::Instance>,
}

impl Oracle for WasmiOracle {
    const NAME: &'static str = "wasmi";

    fn new(wasm: &[u8]) -> Result<WasmiOracle, String> {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        let engine = wasmi::Engine::new(&config);
        let module = wasmi::Module::new(&engine, wasm).map_err(|e| e.to_string())?;
        Ok(WasmiOracle {
            store: wasmi::Store::new(&engine, ()),
            module,
            instance: None,
        })
    }

    fn instantiate(&mut self) -> Result<(), Outcome> {
        self.store
            .set_fuel(FUEL)
            .map_err(|e| Outcome::Trapped(Trap::Oracle(e.to_string())))?;
        let linker = wasmi::Linker::<()>::new(self.store.engine());
        match linker.instantiate_and_start(&mut self.store, &self.module) {
            Ok(i) => {
                self.instance = Some(i);
                Ok(())
            }
            Err(e) => Err(oracle_error(&e)),
        }
    }

    fn call(&mut self, name: &str, args: &[Val]) -> Outcome {
        let Some(func) = self.instance.and_then(|i| i.get_func(&self.store, name)) else {
            return Outcome::Trapped(Trap::Oracle(format!("no function {name}")));
        };
        let ty = func.ty(&self.store);
        let inputs: Vec<wasmi::Val> = args.iter().map(oracle_val).collect();
        let mut outputs: Vec<wasmi::Val> = ty
            .results()
            .iter()
            .map(|t| wasmi::Val::default_for_ty(*t))
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
        let g = self.instance?.get_global(&self.store, name)?;
        Some(oracle_value(&g.get(&self.store)))
    }

    fn memory(&mut self, name: &str) -> &[u8] {
        match self.instance.and_then(|i| i.get_memory(&self.store, name)) {
            Some(m) => m.data(&self.store),
            None => &[],
        }
    }
}

fn oracle_error(e: &wasmi::Error) -> Outcome {
    use wasmi::TrapCode as W;
    match e.as_trap_code() {
        Some(W::OutOfFuel | W::StackOverflow) => Outcome::Exhausted,
        Some(W::UnreachableCodeReached) => Outcome::Trapped(Trap::Unreachable),
        Some(W::MemoryOutOfBounds) => Outcome::Trapped(Trap::MemoryOutOfBounds),
        Some(W::TableOutOfBounds) => Outcome::Trapped(Trap::TableOutOfBounds),
        Some(W::IndirectCallToNull) => Outcome::Trapped(Trap::IndirectCallToNull),
        Some(W::BadSignature) => Outcome::Trapped(Trap::BadSignature),
        Some(W::IntegerOverflow) => Outcome::Trapped(Trap::IntegerOverflow),
        Some(W::IntegerDivisionByZero) => Outcome::Trapped(Trap::IntegerDivisionByZero),
        Some(W::BadConversionToInteger) => Outcome::Trapped(Trap::BadConversionToInteger),
        _ => Outcome::Trapped(Trap::Oracle(e.to_string())),
    }
}

fn oracle_val(v: &Val) -> wasmi::Val {
    match *v {
        Val::I32(x) => wasmi::Val::I32(x),
        Val::I64(x) => wasmi::Val::I64(x),
        Val::F32(x) => wasmi::Val::F32(wasmi::F32::from_bits(x.to_bits())),
        Val::F64(x) => wasmi::Val::F64(wasmi::F64::from_bits(x.to_bits())),
        Val::V128(x) => wasmi::Val::V128(wasmi::V128::from(x)),
        Val::FuncRef(_) => wasmi::Val::default_for_ty(wasmi::ValType::FuncRef),
        // The generated modules use no GC types (wasmi has none), so an
        // `anyref` argument never arises; null stands in like for exnref.
        Val::ExternRef(_) | Val::ExnRef(_) | Val::AnyRef(_) => {
            wasmi::Val::default_for_ty(wasmi::ValType::ExternRef)
        }
    }
}

fn oracle_value(v: &wasmi::Val) -> Value {
    match v {
        wasmi::Val::I32(x) => Value::I32(*x),
        wasmi::Val::I64(x) => Value::I64(*x),
        wasmi::Val::F32(x) => Value::F32(x.to_bits()),
        wasmi::Val::F64(x) => Value::F64(x.to_bits()),
        wasmi::Val::V128(x) => Value::V128(x.as_u128()),
        wasmi::Val::FuncRef(r) => Value::Ref { null: r.is_null() },
        wasmi::Val::ExternRef(r) => Value::Ref { null: r.is_null() },
    }
}
