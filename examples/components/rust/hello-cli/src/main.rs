//! A `wasi:cli/command` component: prints a greeting, its arguments and
//! the environment variables whose names start with `HELLO_`, then exits
//! with the status given by its first argument if that is a number.

fn main() {
    println!("hello from a component");
    let args: Vec<String> = std::env::args().collect();
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
