//! Handler ABIs: how a request is given to a guest and its response read
//! back. Each is written once, against what an engine can run
//! (`engine.rs`), so that every engine serves every ABI it can run. A
//! route's ABI is named in the configuration, or told by its module's
//! imports.
//!
//! - WAGI (`wagi.rs`, with CGI in `cgi.rs`): a WASI preview1 command.

mod cgi;
mod output;
mod wagi;

use crate::engine::{Engine, ModuleInterface};
use crate::request::{GuestRequest, GuestResponse, HandlerError};
use crate::route::Route;

/// A handler ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// CGI over WASI preview1 (`wagi`).
    Wagi,
}

impl Abi {
    /// Every ABI.
    pub const ALL: [Abi; 1] = [Abi::Wagi];

    /// Its name in the configuration and logs.
    pub fn name(self) -> &'static str {
        match self {
            Abi::Wagi => "wagi",
        }
    }

    /// The ABI called `name`.
    pub fn from_name(name: &str) -> Option<Abi> {
        Abi::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The ABI a module's imports and exports tell: a module that imports
    /// WASI preview1, or exports `_start`, is a WAGI handler.
    pub fn detect(interface: &ModuleInterface) -> Result<Abi, String> {
        if interface.imports_from(wagi::WASI_PREVIEW1) || interface.function("_start").is_some() {
            return Ok(Abi::Wagi);
        }
        Err(format!(
            "its imports and exports match no handler ABI (known: {}; a WAGI handler imports \
             WASI preview1 or exports _start); name one with abi = \"...\" in its route",
            Abi::ALL.map(|a| a.name()).join(", ")
        ))
    }

    /// Whether a module with `interface` can be a handler of this ABI; the
    /// error says what is missing.
    pub fn check(self, interface: &ModuleInterface) -> Result<(), String> {
        match self {
            Abi::Wagi => wagi::check(interface),
        }
    }

    /// Handles `request` on `route` in a fresh instance of `module`, run by
    /// `engine` on `worker`.
    pub(crate) fn handle<E: Engine>(
        self,
        engine: &E,
        worker: &mut E::Worker,
        module: &E::Module,
        route: &Route,
        request: &GuestRequest,
    ) -> Result<GuestResponse, HandlerError> {
        match self {
            Abi::Wagi => wagi::handle(route, request, |command| {
                engine.run_wasi_command(worker, module, command)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use lucet_module::{FuncType, ValType};

    use super::*;

    fn interface(imports: &[(&str, &str)], functions: &[(&str, FuncType)]) -> ModuleInterface {
        ModuleInterface {
            imports: imports
                .iter()
                .map(|(m, n)| (m.to_string(), n.to_string()))
                .collect(),
            functions: functions
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect(),
        }
    }

    #[test]
    fn abis_are_named_and_told_by_imports() {
        assert_eq!(Abi::from_name("wagi"), Some(Abi::Wagi));
        assert_eq!(Abi::from_name("WAGI"), None);
        let command = FuncType::new([], []);
        let wasi = interface(
            &[("wasi_snapshot_preview1", "fd_write")],
            &[("_start", command.clone())],
        );
        assert_eq!(Abi::detect(&wasi), Ok(Abi::Wagi));
        assert_eq!(Abi::Wagi.check(&wasi), Ok(()));
        let bare_command = interface(&[], &[("_start", command)]);
        assert_eq!(Abi::detect(&bare_command), Ok(Abi::Wagi));
        let library = interface(&[("env", "f")], &[("f", FuncType::new([], []))]);
        let e = Abi::detect(&library).unwrap_err();
        assert!(e.contains("match no handler ABI (known: wagi"), "{e}");
        let wrong_start = interface(&[], &[("_start", FuncType::new([ValType::I32], []))]);
        let e = Abi::Wagi.check(&wrong_start).unwrap_err();
        assert!(
            e.contains("its _start has type (i32) -> (), not [] -> []"),
            "{e}"
        );
        let e = Abi::Wagi.check(&library).unwrap_err();
        assert!(e.contains("exports no _start function"), "{e}");
    }
}
