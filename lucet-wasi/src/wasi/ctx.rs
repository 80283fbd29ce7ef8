//! `WasiCtx`: what one WASI program sees of the world — its arguments,
//! environment, file descriptor table and preopened directories — and the
//! builder that sets it up. A context goes in the instance's embedder
//! context; the host functions find it there.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use cap_std::fs::{Dir, File};

use super::types::{rights, Errno, WasiResult};

/// A standard stream: the host process's own, or one the embedder supplies.
pub enum Stream {
    /// The host process's file descriptor (0, 1 or 2).
    Inherit(RawFd),
    /// Reads come from here.
    Reader(Box<dyn Read + Send>),
    /// Writes go here.
    Writer(Box<dyn Write + Send>),
    /// Reads see end-of-file; writes are discarded.
    Null,
    /// A descriptor the program owns (a socket it accepted).
    Owned(OwnedFd),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Inherit(fd) => write!(f, "Inherit({fd})"),
            Stream::Reader(_) => write!(f, "Reader"),
            Stream::Writer(_) => write!(f, "Writer"),
            Stream::Null => write!(f, "Null"),
            Stream::Owned(fd) => write!(f, "Owned({})", fd.as_raw_fd()),
        }
    }
}

/// An open file description of the guest.
pub enum Descriptor {
    /// A standard stream.
    Stream(Stream),
    /// A regular file (or another non-directory).
    File {
        /// The file.
        file: File,
        /// Opened for reading.
        read: bool,
        /// Opened for writing.
        write: bool,
    },
    /// A directory.
    Dir {
        /// The directory (a capability: nothing outside it is reachable).
        dir: Dir,
        /// Its guest path, for preopened directories.
        preopen: Option<String>,
    },
}

impl Descriptor {
    /// The host file descriptor, for polling.
    pub fn raw_fd(&self) -> Option<RawFd> {
        match self {
            Descriptor::Stream(Stream::Inherit(fd)) => Some(*fd),
            Descriptor::Stream(Stream::Owned(fd)) => Some(fd.as_raw_fd()),
            Descriptor::Stream(_) => None,
            Descriptor::File { file, .. } => Some(file.as_raw_fd()),
            Descriptor::Dir { dir, .. } => Some(dir.as_raw_fd()),
        }
    }
}

/// A descriptor with its rights.
pub(crate) struct Entry {
    pub desc: Descriptor,
    /// Operations allowed on the descriptor.
    pub base: u64,
    /// Rights that descriptors opened through it may have.
    pub inheriting: u64,
}

/// The WASI state of one program.
pub struct WasiCtx {
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) env: Vec<Vec<u8>>,
    fds: Vec<Option<Entry>>,
    /// Most descriptors open at once (stdio and preopens included).
    max_open_files: usize,
}

/// Default for [`WasiCtxBuilder::max_open_files`].
pub const DEFAULT_MAX_OPEN_FILES: usize = 1024;

impl std::fmt::Debug for WasiCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiCtx")
            .field("args", &self.args.len())
            .field("env", &self.env.len())
            .field("fds", &self.fds.iter().filter(|d| d.is_some()).count())
            .finish()
    }
}

impl WasiCtx {
    /// The most descriptors it may have open at once.
    pub fn open_file_limit(&self) -> usize {
        self.max_open_files
    }

    /// The preopened directories, each as a new handle on the same
    /// directory: its guest path, the directory, and whether the program
    /// may change what is in it.
    pub fn preopened_dirs(&self) -> io::Result<Vec<(String, Dir, bool)>> {
        let mut dirs = Vec::new();
        for entry in self.fds.iter().flatten() {
            if let Descriptor::Dir {
                dir,
                preopen: Some(guest),
            } = &entry.desc
            {
                let writable = entry.base & rights::PATH_CREATE_DIRECTORY != 0;
                dirs.push((guest.clone(), dir.try_clone()?, writable));
            }
        }
        Ok(dirs)
    }

    pub(crate) fn entry(&mut self, fd: u32) -> WasiResult<&mut Entry> {
        self.fds
            .get_mut(fd as usize)
            .and_then(Option::as_mut)
            .ok_or(Errno::Badf)
    }

    /// The descriptor `fd`.
    pub fn get(&mut self, fd: u32) -> WasiResult<&mut Descriptor> {
        Ok(&mut self.entry(fd)?.desc)
    }

    /// The descriptor `fd`, if it has all of `rights` (else `ENOTCAPABLE`).
    pub fn get_with(&mut self, fd: u32, rights: u64) -> WasiResult<&mut Descriptor> {
        let e = self.entry(fd)?;
        if e.base & rights != rights {
            return Err(Errno::Notcapable);
        }
        Ok(&mut e.desc)
    }

    /// Whether the base rights of `fd` contain all of `rights`.
    pub fn has_rights(&mut self, fd: u32, rights: u64) -> WasiResult<bool> {
        Ok(self.entry(fd)?.base & rights == rights)
    }

    /// The rights of `fd`: (base, inheriting).
    pub fn rights(&mut self, fd: u32) -> WasiResult<(u64, u64)> {
        let e = self.entry(fd)?;
        Ok((e.base, e.inheriting))
    }

    /// Replaces the rights of `fd`; they can only shrink.
    pub fn set_rights(&mut self, fd: u32, base: u64, inheriting: u64) -> WasiResult {
        let e = self.entry(fd)?;
        if base & !e.base != 0 || inheriting & !e.inheriting != 0 {
            return Err(Errno::Notcapable);
        }
        e.base = base;
        e.inheriting = inheriting;
        Ok(())
    }

    /// The file (not directory or stream) `fd`.
    pub fn file(&mut self, fd: u32) -> WasiResult<(&mut File, bool, bool)> {
        match self.get(fd)? {
            Descriptor::File { file, read, write } => Ok((file, *read, *write)),
            Descriptor::Dir { .. } => Err(Errno::Isdir),
            Descriptor::Stream(_) => Err(Errno::Badf),
        }
    }

    /// The directory `fd`.
    pub fn dir(&mut self, fd: u32) -> WasiResult<&Dir> {
        match self.get(fd)? {
            Descriptor::Dir { dir, .. } => Ok(dir),
            _ => Err(Errno::Notdir),
        }
    }

    /// The directory `fd`, if its base rights contain all of `rights`:
    /// `ENOTDIR` if it is not a directory, else `ENOTCAPABLE` if it lacks
    /// one of them.
    pub fn dir_with(&mut self, fd: u32, rights: u64) -> WasiResult<&Dir> {
        let entry = self.entry(fd)?;
        let allowed = entry.base & rights == rights;
        match &entry.desc {
            Descriptor::Dir { dir, .. } if allowed => Ok(dir),
            Descriptor::Dir { .. } => Err(Errno::Notcapable),
            _ => Err(Errno::Notdir),
        }
    }

    /// Adds a descriptor with its rights at the lowest free number.
    /// Past [`WasiCtxBuilder::max_open_files`] it is `EMFILE`, for this
    /// program only.
    pub fn push(&mut self, desc: Descriptor, base: u64, inheriting: u64) -> WasiResult<u32> {
        if self.fds.iter().filter(|e| e.is_some()).count() >= self.max_open_files {
            return Err(Errno::Mfile);
        }
        let slot = match self.fds.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.fds.push(None);
                self.fds.len() - 1
            }
        };
        self.fds[slot] = Some(Entry {
            desc,
            base,
            inheriting,
        });
        u32::try_from(slot).map_err(|_| Errno::Mfile)
    }

    /// Removes descriptor `fd`.
    pub fn remove(&mut self, fd: u32) -> WasiResult<Descriptor> {
        self.fds
            .get_mut(fd as usize)
            .and_then(Option::take)
            .map(|e| e.desc)
            .ok_or(Errno::Badf)
    }

    /// Moves descriptor `from` to `to`, closing what `to` held.
    pub fn renumber(&mut self, from: u32, to: u32) -> WasiResult {
        self.get(from)?;
        self.get(to)?;
        if from == to {
            return Ok(());
        }
        let e = self.fds[from as usize].take();
        self.fds[to as usize] = e;
        Ok(())
    }
}

/// Why a context could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WasiCtxError {
    /// A directory to preopen could not be opened.
    #[error("cannot open directory {path}: {source}")]
    Preopen {
        /// The host path.
        path: String,
        /// The error.
        source: io::Error,
    },
}

/// `key=value`, as the program sees it.
fn env_entry(key: &str, value: &str) -> Vec<u8> {
    let mut kv = Vec::with_capacity(key.len() + 1 + value.len());
    kv.extend_from_slice(key.as_bytes());
    kv.push(b'=');
    kv.extend_from_slice(value.as_bytes());
    kv
}

/// Builds a [`WasiCtx`].
///
/// ```no_run
/// use lucet_wasi::WasiCtxBuilder;
/// let ctx = WasiCtxBuilder::new()
///     .args(["program", "--verbose"])
///     .env("HOME", "/")
///     .preopened_dir("/srv/data", "/data")?
///     .build();
/// # Ok::<(), lucet_wasi::WasiCtxError>(())
/// ```
pub struct WasiCtxBuilder {
    args: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    stdio: [Stream; 3],
    preopens: Vec<(Dir, String, DirAccess)>,
    max_open_files: usize,
}

/// What a program may do in a preopened directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirAccess {
    /// Read, list and open for reading; creating, writing, renaming,
    /// deleting and changing times or sizes are refused (`ENOTCAPABLE`),
    /// in the directory and everything opened through it.
    ReadOnly,
    /// Everything.
    #[default]
    ReadWrite,
}

impl DirAccess {
    /// The directory's rights: (base, inheriting).
    fn rights(self) -> (u64, u64) {
        match self {
            DirAccess::ReadWrite => (rights::DIR_BASE, rights::DIR_INHERITING),
            DirAccess::ReadOnly => (
                rights::DIR_BASE & !rights::WRITES,
                rights::DIR_INHERITING & !rights::WRITES,
            ),
        }
    }
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl WasiCtxBuilder {
    /// No arguments, no environment, no directories; stdio inherited.
    pub fn new() -> Self {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            stdio: [Stream::Inherit(0), Stream::Inherit(1), Stream::Inherit(2)],
            preopens: Vec::new(),
            max_open_files: DEFAULT_MAX_OPEN_FILES,
        }
    }

    /// Most descriptors the program may have open at once, stdio and
    /// preopened directories included (default
    /// [`DEFAULT_MAX_OPEN_FILES`]); opening more fails with `EMFILE`, so
    /// that one program cannot use up the host process's descriptors.
    pub fn max_open_files(mut self, n: usize) -> Self {
        self.max_open_files = n;
        self
    }

    /// Appends an argument (the first one is the program name).
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.args.push(arg.as_ref().as_bytes().to_vec());
        self
    }

    /// Appends arguments.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let key = key.as_ref();
        self.env
            .retain(|kv| !kv.starts_with(key.as_bytes()) || kv.get(key.len()) != Some(&b'='));
        self.env.push(env_entry(key, value.as_ref()));
        self
    }

    /// Sets environment variables, a later one of a name over an earlier
    /// one (and over those set before): one pass for all of them, where
    /// [`env`](Self::env) looks through the environment once per variable.
    pub fn envs<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let before = self.env.len();
        for (k, v) in vars {
            self.env.push(env_entry(k.as_ref(), v.as_ref()));
        }
        if self.env.len() > before {
            // Keep the last entry of each name, in the order of those kept.
            let name = |kv: &[u8]| -> Vec<u8> {
                kv[..kv.iter().position(|&b| b == b'=').unwrap_or(kv.len())].to_vec()
            };
            let mut seen = std::collections::HashSet::with_capacity(self.env.len());
            let mut kept: Vec<Vec<u8>> = Vec::with_capacity(self.env.len());
            for kv in self.env.drain(..).rev() {
                if seen.insert(name(&kv)) {
                    kept.push(kv);
                }
            }
            kept.reverse();
            self.env = kept;
        }
        self
    }

    /// Copies the host process's environment.
    pub fn inherit_env(mut self) -> Self {
        for (k, v) in std::env::vars_os() {
            let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
                continue;
            };
            self = self.env(k, v);
        }
        self
    }

    /// Sets standard input.
    pub fn stdin(mut self, s: Stream) -> Self {
        self.stdio[0] = s;
        self
    }

    /// Sets standard output.
    pub fn stdout(mut self, s: Stream) -> Self {
        self.stdio[1] = s;
        self
    }

    /// Sets standard error.
    pub fn stderr(mut self, s: Stream) -> Self {
        self.stdio[2] = s;
        self
    }

    /// Gives the program the host directory `host` as `guest`. Nothing
    /// outside it is reachable through it: not by `..`, absolute paths or
    /// symbolic links.
    pub fn preopened_dir(
        mut self,
        host: impl AsRef<Path>,
        guest: impl Into<String>,
    ) -> Result<Self, WasiCtxError> {
        let host = host.as_ref();
        let dir = Dir::open_ambient_dir(host, cap_std::ambient_authority()).map_err(|source| {
            WasiCtxError::Preopen {
                path: host.display().to_string(),
                source,
            }
        })?;
        self.preopens
            .push((dir, guest.into(), DirAccess::ReadWrite));
        Ok(self)
    }

    /// Gives the program an open directory as `guest`, with `access`.
    /// Nothing outside it is reachable through it.
    pub fn preopened(mut self, dir: Dir, guest: impl Into<String>, access: DirAccess) -> Self {
        self.preopens.push((dir, guest.into(), access));
        self
    }

    /// The context: stdio at 0, 1, 2, preopened directories from 3.
    pub fn build(self) -> WasiCtx {
        let mut fds: Vec<Option<Entry>> = Vec::new();
        for (i, s) in self.stdio.into_iter().enumerate() {
            let io = if i == 0 {
                rights::FD_READ
            } else {
                rights::FD_WRITE
            };
            fds.push(Some(Entry {
                desc: Descriptor::Stream(s),
                base: io | rights::STREAM_BASE,
                inheriting: 0,
            }));
        }
        for (dir, guest, access) in self.preopens {
            let (base, inheriting) = access.rights();
            fds.push(Some(Entry {
                desc: Descriptor::Dir {
                    dir,
                    preopen: Some(guest),
                },
                base,
                inheriting,
            }));
        }
        WasiCtx {
            args: self.args,
            env: self.env,
            fds,
            max_open_files: self.max_open_files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_variables_of_a_name_win() {
        let ctx = WasiCtxBuilder::new()
            .env("A", "1")
            .env("AB", "2")
            .envs([("B", "3"), ("A", "4"), ("C", "5"), ("B", "6")])
            .env("C", "7")
            .build();
        let env: Vec<&[u8]> = ctx.env.iter().map(|v| v.as_slice()).collect();
        assert_eq!(env, [&b"AB=2"[..], b"A=4", b"B=6", b"C=7"]);
    }
}
