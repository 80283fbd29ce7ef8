//! Running one `.wast` script: every directive is compiled, loaded and run
//! for real, and counted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use lucet_compiler::{CompileOptions, Compiler, Standard};
use lucet_runtime::{
    Error, InstanceHandle, Limits, Linker, MmapRegion, Module, TrapCode, Val, Vmctx,
};
use wast::parser::{self, ParseBuffer};
use wast::token::Span;
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, WastRet};

use crate::values;

/// What happened to a file's directives.
#[derive(Debug, Default, Clone)]
pub struct FileReport {
    /// Directives that behaved as the script says.
    pub passed: usize,
    /// Directives that did not.
    pub failed: usize,
    /// Directives this runner does not execute yet.
    pub skipped: usize,
    /// One line per failure (and per skip reason), with its location.
    pub failures: Vec<String>,
}

/// The memory, table and globals of the `spectest` module, as a wasm
/// instance that scripts link against.
const SPECTEST_WAT: &str = r#"(module
  (global (export "global_i32") i32 (i32.const 666))
  (global (export "global_i64") i64 (i64.const 666))
  (global (export "global_f32") f32 (f32.const 666.6))
  (global (export "global_f64") f64 (f64.const 666.6))
  (table (export "table") 10 20 funcref)
  (memory (export "memory") 1 2))"#;

/// The host functions of the `spectest` module.
fn spectest_linker() -> Linker {
    let mut l = Linker::new();
    l.func("spectest", "print", |_: &mut Vmctx| {});
    l.func("spectest", "print_i32", |_: &mut Vmctx, _: i32| {});
    l.func("spectest", "print_i64", |_: &mut Vmctx, _: i64| {});
    l.func("spectest", "print_f32", |_: &mut Vmctx, _: f32| {});
    l.func("spectest", "print_f64", |_: &mut Vmctx, _: f64| {});
    l.func(
        "spectest",
        "print_i32_f32",
        |_: &mut Vmctx, _: i32, _: f32| {},
    );
    l.func(
        "spectest",
        "print_f64_f64",
        |_: &mut Vmctx, _: f64, _: f64| {},
    );
    l.global("spectest", "global_i32", Val::I32(666), false);
    l.global("spectest", "global_i64", Val::I64(666), false);
    l.global("spectest", "global_f32", Val::F32(666.6), false);
    l.global("spectest", "global_f64", Val::F64(666.6), false);
    l
}

/// Whether a trap matches the message the script expects.
fn trap_matches(code: TrapCode, message: &str) -> bool {
    let wordings: &[&str] = match code {
        TrapCode::StackOverflow => &["call stack exhausted"],
        TrapCode::HeapOutOfBounds => &["out of bounds memory access"],
        TrapCode::TableOutOfBounds => &["undefined element", "out of bounds table access"],
        TrapCode::IndirectCallToNull => &["uninitialized element"],
        TrapCode::BadSignature => &["indirect call type mismatch"],
        TrapCode::IntegerOverflow => &["integer overflow"],
        TrapCode::IntegerDivisionByZero => &["integer divide by zero"],
        TrapCode::BadConversionToInteger => &["invalid conversion to integer"],
        TrapCode::Unreachable => &["unreachable"],
        TrapCode::NullReference => &["null"],
        TrapCode::CastFailure => &["cast failure"],
        TrapCode::ArrayOutOfBounds => &["out of bounds array access"],
        _ => &[],
    };
    wordings
        .iter()
        .any(|w| message.starts_with(w) || w.starts_with(message))
}

struct Runner<'t> {
    text: &'t str,
    file: String,
    compiler: Compiler,
    linker: Linker,
    region: Arc<MmapRegion>,
    instances: Vec<InstanceHandle>,
    /// Instances registered under a module name (`register`), latest last:
    /// every instantiation links against them.
    registered: Vec<(String, usize)>,
    /// The current instance, by index into `instances`.
    current: Option<usize>,
    named: HashMap<String, usize>,
    /// Modules defined but not instantiated, by name.
    definitions: HashMap<Option<String>, Arc<Module>>,
    report: FileReport,
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

impl Runner<'_> {
    fn location(&self, span: Span) -> String {
        let (line, col) = span.linecol_in(self.text);
        format!("{}:{}:{}", self.file, line + 1, col + 1)
    }

    fn record(&mut self, span: Span, outcome: Outcome) {
        match outcome {
            Outcome::Pass => self.report.passed += 1,
            Outcome::Fail(why) => {
                self.report.failed += 1;
                let at = self.location(span);
                self.report.failures.push(format!("{at}: {why}"));
            }
            Outcome::Skip(why) => {
                self.report.skipped += 1;
                let at = self.location(span);
                self.report.failures.push(format!("{at}: skipped: {why}"));
            }
        }
    }

    fn compile(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let compiled = self.compiler.compile(bytes).map_err(|e| e.to_string())?;
        compiled.to_elf().map_err(|e| e.to_string())
    }

    fn load(&self, bytes: &[u8]) -> Result<Arc<Module>, String> {
        let elf = self.compile(bytes)?;
        Module::from_bytes(&elf, &self.file, &self.linker).map_err(|e| e.to_string())
    }

    fn load_quoted(&self, module: &mut QuoteWat<'_>) -> Result<Arc<Module>, String> {
        let bytes = module.encode().map_err(|e| e.to_string())?;
        self.load(&bytes)
    }

    /// A new instance of `module`, its imports from registered modules
    /// bound (the latest registration of a name wins).
    fn new_instance(&self, module: Arc<Module>) -> Result<InstanceHandle, lucet_runtime::Error> {
        let mut builder = self.region.new_instance_builder(module);
        for (name, index) in self.registered.iter().rev() {
            builder = builder.link(name, &self.instances[*index]);
        }
        builder.build()
    }

    /// Instantiates `module` as the current module (named `id`, if named).
    fn instantiate(&mut self, module: Arc<Module>, id: Option<String>) -> Outcome {
        match self.new_instance(module) {
            Ok(inst) => {
                self.instances.push(inst);
                let index = self.instances.len() - 1;
                self.current = Some(index);
                if let Some(id) = id {
                    self.named.insert(id, index);
                }
                Outcome::Pass
            }
            Err(e) => Outcome::Fail(format!("instantiation failed: {e}")),
        }
    }

    /// The instance a directive refers to.
    fn index_for(&self, id: Option<wast::token::Id<'_>>) -> Result<usize, String> {
        match id {
            Some(id) => self
                .named
                .get(id.name())
                .copied()
                .ok_or_else(|| format!("no module named ${}", id.name())),
            None => self
                .current
                .ok_or_else(|| "no module instantiated".to_string()),
        }
    }

    /// Runs `invoke`: `Err` when it cannot be run at all.
    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Result<Vec<Val>, Error>, String> {
        let index = self.index_for(invoke.module)?;
        let args = invoke
            .args
            .iter()
            .map(values::arg)
            .collect::<Result<Vec<_>, _>>()?;
        let inst = &mut self.instances[index];
        Ok(inst.run(invoke.name, &args).and_then(|r| r.returned()))
    }

    fn execute(&mut self, exec: &mut WastExecute<'_>) -> Result<Result<Vec<Val>, Error>, String> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(invoke),
            WastExecute::Get { module, global, .. } => {
                let index = self.index_for(*module)?;
                let inst = &mut self.instances[index];
                Ok(inst.get_global(global).map(|v| vec![v]))
            }
            WastExecute::Wat(wat) => {
                let bytes = wat.encode().map_err(|e| e.to_string())?;
                let module = self.load(&bytes)?;
                Ok(self.new_instance(module).map(|_| Vec::new()))
            }
        }
    }

    fn directive(&mut self, directive: WastDirective<'_>) {
        match directive {
            WastDirective::Module(mut module) => {
                let span = module_span(&module);
                let id = module_id(&module);
                let outcome = match self.load_quoted(&mut module) {
                    Ok(m) => self.instantiate(m, id),
                    Err(e) => {
                        self.current = None;
                        Outcome::Fail(format!("module failed to compile or load: {e}"))
                    }
                };
                self.record(span, outcome);
            }
            WastDirective::ModuleDefinition(mut module) => {
                let span = module_span(&module);
                let id = module_id(&module);
                let outcome = match self.load_quoted(&mut module) {
                    Ok(m) => {
                        self.definitions.insert(id, m);
                        Outcome::Pass
                    }
                    Err(e) => Outcome::Fail(format!("module failed to compile or load: {e}")),
                };
                self.record(span, outcome);
            }
            WastDirective::ModuleInstance {
                span,
                instance,
                module,
            } => {
                let id = instance.map(|i| i.name().to_string());
                let key = module.map(|m| m.name().to_string());
                let outcome = match self.definitions.get(&key).cloned() {
                    Some(m) => self.instantiate(m, id),
                    None => Outcome::Fail("no such module definition".into()),
                };
                self.record(span, outcome);
            }
            WastDirective::Invoke(invoke) => {
                let outcome = match self.invoke(&invoke) {
                    Ok(Ok(_)) => Outcome::Pass,
                    Ok(Err(e)) => Outcome::Fail(format!("invoke {:?}: {e}", invoke.name)),
                    Err(e) => Outcome::Fail(e),
                };
                self.record(invoke.span, outcome);
            }
            WastDirective::AssertReturn {
                span,
                mut exec,
                results,
            } => {
                let outcome = match self.execute(&mut exec) {
                    Ok(Ok(got)) => check_results(&results, &got),
                    Ok(Err(e)) => Outcome::Fail(format!("expected a return, got: {e}")),
                    Err(e) => Outcome::Fail(e),
                };
                self.record(span, outcome);
            }
            WastDirective::AssertTrap {
                span,
                mut exec,
                message,
            } => {
                let outcome = match self.execute(&mut exec) {
                    Ok(Err(Error::Trap { code, .. })) if trap_matches(code, message) => {
                        Outcome::Pass
                    }
                    Ok(Err(e)) => Outcome::Fail(format!("expected trap {message:?}, got: {e}")),
                    Ok(Ok(v)) => Outcome::Fail(format!("expected trap {message:?}, got {v:?}")),
                    Err(e) => Outcome::Fail(e),
                };
                self.record(span, outcome);
            }
            WastDirective::AssertException { span, mut exec } => {
                let outcome = match self.execute(&mut exec) {
                    Ok(Err(Error::UncaughtException(_))) => Outcome::Pass,
                    Ok(Err(e)) => Outcome::Fail(format!("expected an exception, got: {e}")),
                    Ok(Ok(v)) => Outcome::Fail(format!("expected an exception, got {v:?}")),
                    Err(e) => Outcome::Fail(e),
                };
                self.record(span, outcome);
            }
            WastDirective::AssertExhaustion {
                span,
                call,
                message,
            } => {
                let outcome = match self.invoke(&call) {
                    Ok(Err(Error::Trap {
                        code: TrapCode::StackOverflow,
                        ..
                    })) => Outcome::Pass,
                    Ok(Err(e)) => Outcome::Fail(format!("expected {message:?}, got: {e}")),
                    Ok(Ok(v)) => Outcome::Fail(format!("expected {message:?}, got {v:?}")),
                    Err(e) => Outcome::Fail(e),
                };
                self.record(span, outcome);
            }
            WastDirective::AssertInvalid {
                span,
                mut module,
                message,
            }
            | WastDirective::AssertMalformed {
                span,
                mut module,
                message,
            }
            | WastDirective::AssertInvalidCustom {
                span,
                mut module,
                message,
            }
            | WastDirective::AssertMalformedCustom {
                span,
                mut module,
                message,
            } => {
                let outcome = match module.encode() {
                    // Text that does not even parse is malformed: as expected.
                    Err(_) => Outcome::Pass,
                    Ok(bytes) => match self.compiler.compile(&bytes) {
                        Err(_) => Outcome::Pass,
                        Ok(_) => Outcome::Fail(format!(
                            "module compiled, but the script expects {message:?}"
                        )),
                    },
                };
                self.record(span, outcome);
            }
            WastDirective::Register { span, name, module } => {
                let outcome = match self.index_for(module) {
                    Ok(index) => {
                        self.linker.instance_module(name);
                        self.registered.push((name.to_string(), index));
                        Outcome::Pass
                    }
                    Err(e) => Outcome::Fail(e),
                };
                self.record(span, outcome);
            }
            WastDirective::AssertUnlinkable {
                span,
                mut module,
                message,
            } => {
                let outcome = match module.encode() {
                    Err(e) => Outcome::Fail(format!("cannot encode the module: {e}")),
                    Ok(bytes) => match self.compile(&bytes) {
                        Err(e) => Outcome::Fail(format!("the module does not compile: {e}")),
                        // Imports from instances are checked when bound.
                        Ok(elf) => match Module::from_bytes(&elf, &self.file, &self.linker)
                            .and_then(|m| self.new_instance(m))
                        {
                            Err(_) => Outcome::Pass,
                            Ok(_) => Outcome::Fail(format!(
                                "module linked, but the script expects {message:?}"
                            )),
                        },
                    },
                };
                self.record(span, outcome);
            }
            other => {
                let span = other.span();
                self.record(span, Outcome::Skip("directive not supported".into()))
            }
        }
    }
}

fn module_span(module: &QuoteWat<'_>) -> Span {
    match module {
        QuoteWat::Wat(w) => w.span(),
        QuoteWat::QuoteModule(span, _) | QuoteWat::QuoteComponent(span, _) => *span,
    }
}

fn module_id(module: &QuoteWat<'_>) -> Option<String> {
    match module {
        QuoteWat::Wat(wast::Wat::Module(m)) => m.id.map(|id| id.name().to_string()),
        _ => None,
    }
}

fn check_results(expected: &[WastRet<'_>], got: &[Val]) -> Outcome {
    if expected.len() != got.len() {
        return Outcome::Fail(format!(
            "expected {} result(s), got {got:?}",
            expected.len()
        ));
    }
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        if !values::matches(e, g) {
            return Outcome::Fail(format!("result {i}: expected {e:?}, got {g:?}"));
        }
    }
    Outcome::Pass
}

/// Runs every directive of the script at `path`, compiled with the default
/// options.
pub fn run_file(path: &Path) -> Result<FileReport, String> {
    run_file_with(path, &CompileOptions::default())
}

/// Runs every directive of the script at `path`, compiled with `options`.
pub fn run_file_with(path: &Path, options: &CompileOptions) -> Result<FileReport, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut lexer = wast::lexer::Lexer::new(&text);
    lexer.allow_confusing_unicode(true);
    let buf = ParseBuffer::new_with_lexer(lexer).map_err(|e| format!("{file}: {e}"))?;
    let script: Wast = parser::parse(&buf).map_err(|e| format!("{file}: {e}"))?;

    let modules = script
        .directives
        .iter()
        .filter(|d| {
            matches!(
                d,
                WastDirective::Module(_)
                    | WastDirective::ModuleInstance { .. }
                    | WastDirective::AssertTrap {
                        exec: WastExecute::Wat(_),
                        ..
                    }
                    | WastDirective::AssertReturn {
                        exec: WastExecute::Wat(_),
                        ..
                    }
            )
        })
        .count();
    let limits = Limits {
        heap_memory_size: 4 << 30,
        stack_size: 1 << 20,
        ..Limits::default()
    };
    let region = MmapRegion::create(modules + 1, &limits).map_err(|e| e.to_string())?;
    let mut runner = Runner {
        text: &text,
        file,
        compiler: Compiler::new(options.clone()).map_err(|e| e.to_string())?,
        linker: spectest_linker(),
        region,
        instances: Vec::new(),
        registered: Vec::new(),
        current: None,
        named: HashMap::new(),
        definitions: HashMap::new(),
        report: FileReport::default(),
    };
    // WebAssembly 3.0's spectest also has a 64-bit table.
    let spectest_wat = match options.standard {
        Standard::Wasm2 => SPECTEST_WAT.to_string(),
        Standard::Wasm3 => SPECTEST_WAT.replace(
            "(memory (export",
            "(table (export \"table64\") i64 10 20 funcref)\n  (memory (export",
        ),
    };
    let spectest = match runner.load(spectest_wat.as_bytes()) {
        Ok(m) => runner.region.new_instance(m).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    }
    .map_err(|e| format!("the spectest module: {e}"))?;
    runner.linker.instance_module("spectest");
    runner.instances.push(spectest);
    runner
        .registered
        .push(("spectest".to_string(), runner.instances.len() - 1));
    for directive in script.directives {
        runner.directive(directive);
    }
    Ok(runner.report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucet_runtime::{FuncType, ValType};

    #[test]
    fn trap_wording() {
        assert!(trap_matches(
            TrapCode::TableOutOfBounds,
            "undefined element"
        ));
        assert!(trap_matches(
            TrapCode::IntegerDivisionByZero,
            "integer divide by zero"
        ));
        assert!(!trap_matches(
            TrapCode::IntegerOverflow,
            "integer divide by zero"
        ));
    }

    #[test]
    fn spectest_functions_have_their_types() {
        let l = spectest_linker();
        let f = l.get_func("spectest", "print_i32_f32").unwrap();
        assert_eq!(f.ty(), &FuncType::new([ValType::I32, ValType::F32], []));
    }
}
