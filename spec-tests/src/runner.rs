//! Running one `.wast` script: every directive is compiled, loaded and run
//! for real, and counted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use lucet_compiler::{CompileOptions, Compiler};
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
    current: Option<usize>,
    named: HashMap<String, usize>,
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

    fn load(&self, bytes: &[u8]) -> Result<Arc<Module>, String> {
        let compiled = self.compiler.compile(bytes).map_err(|e| e.to_string())?;
        let elf = compiled.to_elf().map_err(|e| e.to_string())?;
        Module::from_bytes(&elf, &self.file, &self.linker).map_err(|e| e.to_string())
    }

    fn instantiate(&mut self, module: &mut QuoteWat<'_>) -> Result<Result<usize, Error>, String> {
        let bytes = module.encode().map_err(|e| e.to_string())?;
        let module = self.load(&bytes)?;
        match self.region.new_instance(module) {
            Ok(inst) => {
                self.instances.push(inst);
                Ok(Ok(self.instances.len() - 1))
            }
            Err(e) => Ok(Err(e)),
        }
    }

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

    fn instance_for(
        &mut self,
        id: Option<wast::token::Id<'_>>,
    ) -> Result<&mut InstanceHandle, String> {
        let index = self.index_for(id)?;
        Ok(&mut self.instances[index])
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Result<Vec<Val>, Error>, String> {
        let args = invoke
            .args
            .iter()
            .map(values::arg)
            .collect::<Result<Vec<_>, _>>()?;
        let inst = self.instance_for(invoke.module)?;
        Ok(inst.run(invoke.name, &args).and_then(|r| r.returned()))
    }

    fn execute(&mut self, exec: &mut WastExecute<'_>) -> Result<Result<Vec<Val>, Error>, String> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(invoke),
            WastExecute::Get { module, global, .. } => {
                let inst = self.instance_for(*module)?;
                Ok(inst.get_global(global).map(|v| vec![v]))
            }
            WastExecute::Wat(wat) => {
                let bytes = wat.encode().map_err(|e| e.to_string())?;
                let module = self.load(&bytes)?;
                Ok(self.region.new_instance(module).map(|_| Vec::new()))
            }
        }
    }

    fn directive(&mut self, directive: WastDirective<'_>) {
        match directive {
            WastDirective::Module(mut module) => {
                let span = module_span(&module);
                let id = module_id(&module);
                let outcome = match self.instantiate(&mut module) {
                    Ok(Ok(index)) => {
                        self.current = Some(index);
                        if let Some(id) = id {
                            self.named.insert(id, index);
                        }
                        Outcome::Pass
                    }
                    Ok(Err(e)) => Outcome::Fail(format!("instantiation failed: {e}")),
                    Err(e) => Outcome::Fail(format!("module failed to compile or load: {e}")),
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
                    Ok(index) => match self.linker.instance(name, &self.instances[index]) {
                        Ok(_) => Outcome::Pass,
                        Err(e) => Outcome::Fail(format!("register: {e}")),
                    },
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
                    Ok(bytes) => match self.load(&bytes) {
                        Err(_) => Outcome::Pass,
                        Ok(_) => Outcome::Fail(format!(
                            "module linked, but the script expects {message:?}"
                        )),
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
        current: None,
        named: HashMap::new(),
        report: FileReport::default(),
    };
    let spectest = runner
        .load(SPECTEST_WAT.as_bytes())
        .and_then(|m| runner.region.new_instance(m).map_err(|e| e.to_string()))
        .map_err(|e| format!("the spectest module: {e}"))?;
    runner
        .linker
        .instance("spectest", &spectest)
        .map_err(|e| format!("the spectest module: {e}"))?;
    runner.instances.push(spectest);
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
