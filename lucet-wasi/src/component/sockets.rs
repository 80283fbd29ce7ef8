//! `wasi:sockets`, as far as preview1 goes: preview1 gives a program no
//! way to make a socket, look up a name or connect anywhere, and neither
//! does this. A component that imports `wasi:sockets` loads and runs; it
//! gets its `network`, and every attempt to make a socket is refused with
//! `access-denied` (and a name lookup with `permanent-resolver-failure`),
//! as runtimes answer when the network is not granted. No socket, datagram stream or resolution
//! can exist, so their methods only say so.

use lucet_runtime::component::Val;

use super::ctx::Resource;
use super::host::{HostError, Interfaces};
use super::io::with_ctx;
use super::values::{none, result_err};

/// `wasi:sockets/network.network`: the network the instance is given,
/// through which nothing is allowed.
struct Network;

impl Resource for Network {
    const INTERFACE: &'static str = "wasi:sockets/network";
    const NAME: &'static str = "network";
}

/// `error-code.permanent-resolver-failure`.
const PERMANENT_RESOLVER_FAILURE: u32 = 20;

/// `error-code.access-denied`.
fn access_denied() -> Val {
    result_err(Val::Variant(1, None))
}

/// The methods of the resources no instance can have, by interface.
const UNMADE: &[(&str, &str, &[&str])] = &[
    (
        "wasi:sockets/tcp",
        "tcp-socket",
        &[
            "start-bind",
            "finish-bind",
            "start-connect",
            "finish-connect",
            "start-listen",
            "finish-listen",
            "accept",
            "local-address",
            "remote-address",
            "is-listening",
            "address-family",
            "set-listen-backlog-size",
            "keep-alive-enabled",
            "set-keep-alive-enabled",
            "keep-alive-idle-time",
            "set-keep-alive-idle-time",
            "keep-alive-interval",
            "set-keep-alive-interval",
            "keep-alive-count",
            "set-keep-alive-count",
            "hop-limit",
            "set-hop-limit",
            "receive-buffer-size",
            "set-receive-buffer-size",
            "send-buffer-size",
            "set-send-buffer-size",
            "subscribe",
            "shutdown",
        ],
    ),
    (
        "wasi:sockets/udp",
        "udp-socket",
        &[
            "start-bind",
            "finish-bind",
            "stream",
            "local-address",
            "remote-address",
            "address-family",
            "unicast-hop-limit",
            "set-unicast-hop-limit",
            "receive-buffer-size",
            "set-receive-buffer-size",
            "send-buffer-size",
            "set-send-buffer-size",
            "subscribe",
        ],
    ),
    (
        "wasi:sockets/udp",
        "incoming-datagram-stream",
        &["receive", "subscribe"],
    ),
    (
        "wasi:sockets/udp",
        "outgoing-datagram-stream",
        &["check-send", "send", "subscribe"],
    ),
    (
        "wasi:sockets/ip-name-lookup",
        "resolve-address-stream",
        &["resolve-next-address", "subscribe"],
    ),
];

/// Adds `wasi:sockets`: `instance-network`, `network`, `tcp`,
/// `tcp-create-socket`, `udp`, `udp-create-socket` and `ip-name-lookup`.
pub fn add(interfaces: &mut Interfaces) {
    interfaces.func(
        "wasi:sockets/instance-network",
        "instance-network",
        |vmctx, _| with_ctx(vmctx, |ctx, _| Ok(Some(ctx.push(Network)?))),
    );
    // Stream errors never come from a socket here.
    interfaces.func("wasi:sockets/network", "network-error-code", |_, _| {
        Ok(Some(none()))
    });
    for (interface, name) in [
        ("wasi:sockets/tcp-create-socket", "create-tcp-socket"),
        ("wasi:sockets/udp-create-socket", "create-udp-socket"),
    ] {
        interfaces.func(interface, name, |_, _| Ok(Some(access_denied())));
    }
    interfaces.func(
        "wasi:sockets/ip-name-lookup",
        "resolve-addresses",
        |vmctx, args| {
            with_ctx(vmctx, |ctx, _| {
                ctx.get::<Network>(args.at(0)?)?;
                // What runtimes answer when lookups are not granted.
                Ok(Some(result_err(Val::Variant(
                    PERMANENT_RESOLVER_FAILURE,
                    None,
                ))))
            })
        },
    );
    for (interface, resource, methods) in UNMADE {
        for method in *methods {
            let message = format!("no {resource} exists: components are given no sockets");
            interfaces.func(
                interface,
                &format!("[method]{resource}.{method}"),
                move |_, _| Err(HostError(message.clone())),
            );
        }
    }
}
