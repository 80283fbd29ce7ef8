//! A `wasi:cli/command` component: prints a greeting, its arguments and
//! the environment variables whose names start with `HELLO_`, then exits
//! with the status given by its first argument if that is a number.
//!
//! `hello-cli files DIR` instead works with files in DIR (a directory it
//! was given): see [`files`]. `hello-cli connect HOST:PORT` tries to
//! resolve and connect to HOST:PORT and says what came of it.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};

/// Reads `DIR/in.txt`, writes it upper-cased to `DIR/out/upper.txt`
/// (making `DIR/out`), appends a line to it, renames it to `result.txt`,
/// lists `DIR` and `DIR/out`, and tries paths that leave `DIR`; prints
/// what happened at each step.
fn files(dir: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(format!("{dir}/in.txt"))?;
    println!("read {} bytes", text.len());
    std::fs::create_dir_all(format!("{dir}/out"))?;
    let upper = format!("{dir}/out/upper.txt");
    std::fs::write(&upper, text.to_uppercase())?;
    let mut f = std::fs::OpenOptions::new().append(true).open(&upper)?;
    f.write_all(b"appended\n")?;
    drop(f);
    let mut f = std::fs::File::open(&upper)?;
    f.seek(SeekFrom::Start(6))?;
    let mut rest = String::new();
    f.read_to_string(&mut rest)?;
    println!("from offset 6: {rest:?}");
    println!("size {}", f.metadata()?.len());
    std::fs::rename(&upper, format!("{dir}/out/result.txt"))?;
    for d in [dir.to_string(), format!("{dir}/out")] {
        let mut names: Vec<String> = std::fs::read_dir(&d)?
            .map(|e| {
                let e = e?;
                let kind = if e.file_type()?.is_dir() { "dir" } else { "file" };
                Ok(format!("{} ({kind})", e.file_name().to_string_lossy()))
            })
            .collect::<std::io::Result<_>>()?;
        names.sort();
        println!("{d}: {}", names.join(", "));
    }
    for outside in [format!("{dir}/../escape.txt"), "/etc/passwd".to_string()] {
        match std::fs::read(&outside) {
            Ok(_) => println!("{outside}: read!"),
            Err(e) => println!("{outside}: {:?}", e.kind()),
        }
    }
    match std::fs::remove_dir(format!("{dir}/out")) {
        Ok(()) => println!("removed a full directory!"),
        Err(e) => println!("remove out: {:?}", e.kind()),
    }
    std::fs::remove_file(format!("{dir}/out/result.txt"))?;
    std::fs::remove_dir(format!("{dir}/out"))?;
    println!("cleaned up");
    Ok(())
}

/// Resolves `target` and connects to it; prints each outcome.
fn connect(target: &str) {
    use std::net::ToSocketAddrs as _;
    match target.to_socket_addrs() {
        Ok(addrs) => println!("resolved: {} addresses", addrs.count()),
        Err(e) => println!("resolve: {:?}", e.kind()),
    }
    let addr: std::net::SocketAddr = match target.parse() {
        Ok(a) => a,
        Err(_) => return,
    };
    match std::net::TcpStream::connect(addr) {
        Ok(_) => println!("connected"),
        Err(e) => println!("connect: {:?}", e.kind()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("connect") {
        connect(args.get(2).map_or("127.0.0.1:80", String::as_str));
        return;
    }
    if args.get(1).map(String::as_str) == Some("files") {
        if let Err(e) = files(args.get(2).map_or(".", String::as_str)) {
            eprintln!("files: {e}");
            std::process::exit(2);
        }
        return;
    }
    println!("hello from a component");
    for (i, arg) in args.iter().enumerate().skip(1) {
        println!("arg {i}: {arg}");
    }
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("HELLO_"))
        .collect();
    vars.sort();
    for (name, value) in vars {
        println!("env {name}={value}");
    }
    eprintln!("a line on standard error");
    if let Some(code) = args.get(1).and_then(|a| a.parse::<i32>().ok()) {
        std::process::exit(code);
    }
}
