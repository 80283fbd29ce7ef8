//! The status every call returns (`fastly_status` in the ABI's witx).

/// A call's status. `Ok` is 0; every other value is an error the guest's
/// SDK turns into its own error type.
// The ABI's whole set, those no call returns yet included.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum Status {
    Ok = 0,
    /// Something unexpected failed.
    Error = 1,
    /// An argument is invalid: a pointer or length out of bounds, a value
    /// out of range, text that is not UTF-8, an unknown name.
    Inval = 2,
    /// A handle that is not open (or of another kind).
    Badf = 3,
    /// The guest's buffer is too small; the length needed is written back.
    Buflen = 4,
    /// The call has no meaning here.
    Unsupported = 5,
    /// A pointer to a number is not aligned for it.
    Badalign = 6,
    /// A method, URI, header or status that is not valid HTTP.
    Httpinvalid = 7,
    /// An HTTP message the guest built wrongly.
    Httpuser = 8,
    /// A message ended early.
    Httpincomplete = 9,
    /// The value asked for does not exist.
    None = 10,
    /// A message head too large.
    Httpheadtoolarge = 11,
    /// An invalid status code.
    Httpinvalidstatus = 12,
    /// A limit on what one instance may hold was reached.
    Limitexceeded = 13,
    /// Not ready yet; try again.
    Again = 14,
}

/// What a call's body returns: its error is the status to give the guest.
pub(crate) type CallResult<T = ()> = Result<T, Status>;

/// The status a call's result gives the guest.
pub(crate) fn status_of(result: CallResult) -> i32 {
    match result {
        Ok(()) => Status::Ok as i32,
        Err(s) => s as i32,
    }
}
