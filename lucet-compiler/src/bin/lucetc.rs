//! `lucetc`: compile a WebAssembly module ahead of time to a Lucet ELF file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use lucet_compiler::{
    Arch, CompileBudget, CompileOptions, Compiler, OptLevel, RelaxedSimd, Standard, TargetCpu,
};

#[derive(Clone, Copy, ValueEnum)]
enum Opt {
    None,
    Speed,
    #[value(name = "speed_and_size")]
    SpeedAndSize,
}

#[derive(Clone, Copy, ValueEnum)]
enum Relaxed {
    /// The same results on every machine.
    Deterministic,
    /// This machine's fastest instructions.
    Native,
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// A Lucet ELF file, loadable by the runtime.
    Obj,
    /// Cranelift IR text, for debugging the compiler.
    Clif,
}

/// Compile a WebAssembly module (.wasm or .wat) ahead of time to native code.
#[derive(Parser)]
#[command(
    version,
    after_help = "Example:\n  lucetc examples/fac.wat -o fac.lucet\n  lucet-wasi --invoke fac fac.lucet 10\n\nSigning:\n  lucetc --keygen release            # writes release.key and release.pub\n  lucetc fac.wat -o fac.lucet --sign release.key\n  lucet-wasi --verify release.pub --invoke fac fac.lucet 10"
)]
struct Args {
    /// The module to compile: a wasm binary or the text format.
    #[arg(required_unless_present = "keygen")]
    input: Option<PathBuf>,
    /// Where to write the output.
    #[arg(short, long, required_unless_present = "keygen")]
    output: Option<PathBuf>,
    /// Sign the compiled file with this minisign secret key (see
    /// `--keygen`; an encrypted key's password is read from the
    /// LUCETC_KEY_PASSWORD environment variable).
    #[arg(long, value_name = "SECRET_KEY")]
    sign: Option<PathBuf>,
    /// Make a new minisign key pair, PREFIX.key (secret, not encrypted,
    /// readable by its owner only) and PREFIX.pub, and exit.
    #[arg(long, value_name = "PREFIX", conflicts_with_all = ["input", "output", "sign"])]
    keygen: Option<PathBuf>,
    /// Optimization level: `none` lowers without Cranelift's mid-end (the
    /// default: on optimized wasm it is as fast and compiles 20% faster);
    /// `speed` adds the mid-end (GVN, LICM, rewrites).
    #[arg(long, value_enum, default_value = "none")]
    opt_level: Opt,
    /// Heap address space reservation (e.g. 4GiB, 64MiB). Below 4GiB, the
    /// code checks bounds explicitly.
    #[arg(long, value_parser = parse_size, default_value = "4GiB")]
    reserved_size: u64,
    /// Guard region after the heap reservation (e.g. 4GiB, 64KiB).
    #[arg(long, value_parser = parse_size, default_value = "4GiB")]
    guard_size: u64,
    /// What to write.
    #[arg(long, value_enum, default_value = "obj")]
    emit: Emit,
    /// A JSON file `{"module": {"name": ...}}` listing the function imports
    /// the module may use; any other import is an error.
    #[arg(long)]
    bindings: Option<PathBuf>,
    /// Leave out the interruption checks at loop headers: slightly faster
    /// code that kill switches and timeouts cannot stop while it runs.
    #[arg(long)]
    no_interrupt_checks: bool,
    /// Count executed instructions, so that the runtime can bound a run by
    /// fuel (`lucet-wasi --fuel N`, `InstanceHandle::set_fuel`).
    #[arg(long)]
    count_instructions: bool,
    /// How relaxed SIMD instructions compute: `deterministic` gives the
    /// same results on every machine, `native` whatever this CPU's fastest
    /// instructions give.
    #[arg(long, value_enum, default_value = "deterministic")]
    relaxed_simd: Relaxed,
    /// The WebAssembly standard to validate against: 3.0 (everything but
    /// GC objects, which are refused with a clear error), or 2.0 (later
    /// features are invalid).
    #[arg(long, value_enum, default_value = "3.0")]
    standard: StandardArg,
    /// Fail if compiling the module takes longer than this (e.g. 30s); no
    /// limit by default.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    compile_budget: Option<Duration>,
    /// Fail if compiling any one function takes longer than this (e.g.
    /// 5s); no limit by default.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    function_compile_budget: Option<Duration>,
    /// The CPU whose features the code may use: `native` (this machine's),
    /// `baseline` (x86-64 with SSE2 only), or a microarchitecture such as
    /// `nehalem`, `haswell` or `skylake-avx512`. A machine that lacks one
    /// of them refuses to load the file.
    #[arg(long, value_name = "CPU", default_value = "native")]
    cpu: String,
    /// The machine to compile for: x86_64-unknown-linux-gnu or
    /// aarch64-unknown-linux-gnu (this machine's by default). For another
    /// machine than this one, `--cpu native` is that machine's baseline.
    #[arg(long, value_name = "TRIPLE")]
    target: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum StandardArg {
    #[value(name = "2.0")]
    V2,
    #[value(name = "3.0")]
    V3,
}

fn read_bindings(path: &Path) -> Result<HashSet<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read bindings {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("bindings {} are not valid JSON", path.display()))?;
    let Some(modules) = json.as_object() else {
        bail!("bindings {}: expected an object of modules", path.display());
    };
    let mut set = HashSet::new();
    for (module, names) in modules {
        let Some(names) = names.as_object() else {
            bail!(
                "bindings {}: module {module:?} must map names",
                path.display()
            );
        };
        for name in names.keys() {
            set.insert((module.clone(), name.clone()));
        }
    }
    Ok(set)
}

/// Writes `bytes` to `path` through a temporary file, so that a failure
/// leaves no partial output behind.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// A minisign secret key from `path` (decrypted with LUCETC_KEY_PASSWORD
/// when it is encrypted).
fn read_secret_key(path: &Path) -> Result<minisign::SecretKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read secret key {}", path.display()))?;
    let boxed = minisign::SecretKeyBox::from_string(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a minisign secret key: {e}", path.display()))?;
    let key = match std::env::var("LUCETC_KEY_PASSWORD") {
        Ok(password) => boxed.into_secret_key(Some(password)),
        Err(_) => boxed.into_unencrypted_secret_key(),
    };
    key.map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot use the secret key (an encrypted key needs LUCETC_KEY_PASSWORD): {e}",
            path.display()
        )
    })
}

/// Signs a content hash: minisign over its 32 bytes, the hash in the
/// trusted comment.
fn sign_hash(
    key: &minisign::SecretKey,
    hash: &lucet_module::ContentHash,
) -> Result<String, String> {
    let comment = format!("lucet module {hash}");
    minisign::sign(
        None,
        key,
        std::io::Cursor::new(hash.0),
        Some(&comment),
        Some("signature of a Lucet module's content hash"),
    )
    .map(|b| b.into_string())
    .map_err(|e| format!("cannot sign: {e}"))
}

/// `--keygen PREFIX`: writes PREFIX.key and PREFIX.pub, refusing to
/// overwrite either.
fn keygen(prefix: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let with = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    let (sk_path, pk_path) = (with(".key"), with(".pub"));
    let minisign::KeyPair { pk, sk } = minisign::KeyPair::generate_unencrypted_keypair()
        .map_err(|e| anyhow::anyhow!("cannot make a key pair: {e}"))?;
    let sk_text = sk
        .to_box(Some("Lucet module signing key"))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
    let pk_text = pk.to_box().map_err(|e| anyhow::anyhow!("{e}"))?.to_string();
    let create = |path: &Path, mode: u32, text: &str| -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    };
    if pk_path.exists() {
        bail!("{} exists: not overwriting a key", pk_path.display());
    }
    create(&sk_path, 0o600, &sk_text)?;
    if let Err(e) = create(&pk_path, 0o644, &pk_text) {
        let _ = std::fs::remove_file(&sk_path);
        return Err(e);
    }
    println!(
        "secret key: {}\npublic key: {}",
        sk_path.display(),
        pk_path.display()
    );
    Ok(())
}

fn run(args: Args) -> Result<()> {
    if let Some(prefix) = &args.keygen {
        return keygen(prefix);
    }
    let (Some(input_path), Some(output)) = (&args.input, &args.output) else {
        bail!("an input and -o OUTPUT are required");
    };
    let signer = args.sign.as_deref().map(read_secret_key).transpose()?;
    let input = std::fs::read(input_path)
        .with_context(|| format!("cannot read {}", input_path.display()))?;
    let options = CompileOptions {
        opt_level: match args.opt_level {
            Opt::None => OptLevel::None,
            Opt::Speed => OptLevel::Speed,
            Opt::SpeedAndSize => OptLevel::SpeedAndSize,
        },
        reserved_size: args.reserved_size,
        guard_size: args.guard_size,
        bindings: args.bindings.as_deref().map(read_bindings).transpose()?,
        interruptible: !args.no_interrupt_checks,
        count_instructions: args.count_instructions,
        relaxed_simd: match args.relaxed_simd {
            Relaxed::Deterministic => RelaxedSimd::Deterministic,
            Relaxed::Native => RelaxedSimd::Native,
        },
        standard: match args.standard {
            StandardArg::V2 => Standard::Wasm2,
            StandardArg::V3 => Standard::Wasm3,
        },
        budget: CompileBudget {
            total: args.compile_budget,
            per_function: args.function_compile_budget,
        },
        target: match args.target.as_deref() {
            None => Arch::host().unwrap_or(Arch::X86_64),
            Some(triple) => Arch::from_triple(triple).with_context(|| {
                format!(
                    "unknown target \"{}\": use x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu",
                    lucet_module::GuestName(triple)
                )
            })?,
        },
        cpu: match args.cpu.as_str() {
            "native" => TargetCpu::Native,
            name => TargetCpu::Named(name.to_string()),
        },
    };
    let compiler = Compiler::new(options)?;
    let bytes = match (args.emit, &signer) {
        (Emit::Obj, None) => compiler.compile(&input)?.to_elf()?,
        (Emit::Obj, Some(key)) => compiler
            .compile(&input)?
            .to_signed_elf(&|hash| sign_hash(key, hash))?,
        (Emit::Clif, None) => compiler.clif(&input)?.into_bytes(),
        (Emit::Clif, Some(_)) => bail!("--sign applies to compiled files, not --emit clif"),
    };
    write_atomically(output, &bytes)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let input = match (&args.input, &args.keygen) {
        (Some(input), _) => input.display().to_string(),
        (None, Some(prefix)) => prefix.display().to_string(),
        (None, None) => "lucetc".to_string(),
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message may quote the module's own names.
            let message = format!("{input}: {e:#}");
            eprintln!("error: {}", lucet_module::escape_control(&message));
            ExitCode::FAILURE
        }
    }
}

/// A size as users write it: `65536`, `64KiB`, `64K`, `4GiB` (binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s)
        .map_err(|e| format!("invalid size {s:?}: {e}"))
}
