//! `wasi:cli`: arguments, environment, exit, stdio and terminals, from the
//! program's `WasiCtx` (as preview1 programs see them).

use lucet_runtime::component::Val;
use lucet_runtime::ExitCode;

use super::host::{HostError, Interfaces};
use super::io::{with_ctx, InputStream, OutputStream};
use super::values::none;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Adds `wasi:cli/environment`, `exit`, `stdin`, `stdout`, `stderr` and
/// the terminal interfaces.
pub fn add(interfaces: &mut Interfaces) {
    interfaces.func("wasi:cli/environment", "get-arguments", |vmctx, _| {
        with_ctx(vmctx, |ctx, _| {
            let args = ctx.wasi.args.iter().map(|a| Val::String(text(a))).collect();
            Ok(Some(Val::List(args)))
        })
    });
    interfaces.func("wasi:cli/environment", "get-environment", |vmctx, _| {
        with_ctx(vmctx, |ctx, _| {
            let vars = ctx
                .wasi
                .env
                .iter()
                .map(|kv| {
                    let kv = text(kv);
                    let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                    Val::Record(vec![Val::String(k.into()), Val::String(v.into())])
                })
                .collect();
            Ok(Some(Val::List(vars)))
        })
    });
    interfaces.func("wasi:cli/environment", "initial-cwd", |_, _| {
        Ok(Some(none()))
    });

    interfaces.func("wasi:cli/exit", "exit", |vmctx, args| {
        let code = match args.at(0)? {
            Val::Variant(0, _) => 0,
            _ => 1,
        };
        vmctx.terminate(ExitCode(code))
    });
    interfaces.func("wasi:cli/exit", "exit-with-code", |vmctx, args| {
        let Val::U8(code) = args.at(0)? else {
            return Err(HostError("expected a u8".into()));
        };
        vmctx.terminate(ExitCode(u32::from(*code)))
    });

    interfaces.func("wasi:cli/stdin", "get-stdin", |vmctx, _| {
        with_ctx(vmctx, |ctx, _| Ok(Some(ctx.push(InputStream::fd(0))?)))
    });
    interfaces.func("wasi:cli/stdout", "get-stdout", |vmctx, _| {
        with_ctx(vmctx, |ctx, _| Ok(Some(ctx.push(OutputStream::Fd(1))?)))
    });
    interfaces.func("wasi:cli/stderr", "get-stderr", |vmctx, _| {
        with_ctx(vmctx, |ctx, _| Ok(Some(ctx.push(OutputStream::Fd(2))?)))
    });

    // No terminal: programs write plain text.
    for (interface, name) in [
        ("wasi:cli/terminal-stdin", "get-terminal-stdin"),
        ("wasi:cli/terminal-stdout", "get-terminal-stdout"),
        ("wasi:cli/terminal-stderr", "get-terminal-stderr"),
    ] {
        interfaces.func(interface, name, |_, _| Ok(Some(none())));
    }
}
