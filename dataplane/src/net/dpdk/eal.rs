//! The DPDK Environment Abstraction Layer: initialised once per process (DPDK cannot run
//! `rte_eal_init` twice, even after `rte_eal_cleanup`), and the error type of the DPDK wrappers.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::atomic::{AtomicU8, Ordering};

use super::sys;

/// What can go wrong in the DPDK wrappers.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` was already called in this process (successfully or not).
    #[error("the DPDK EAL is initialised once per process and already was")]
    EalAlreadyInitialised,
    /// `rte_eal_init` failed.
    #[error("rte_eal_init failed: {0}")]
    EalInit(String),
    /// An argument contains a NUL byte.
    #[error("EAL argument contains a NUL byte: {0:?}")]
    BadArgument(String),
    /// A DPDK call failed; the message is DPDK's.
    #[error("{call} failed: {reason}")]
    Call {
        /// The DPDK function.
        call: &'static str,
        /// `rte_strerror` of the error code.
        reason: String,
    },
    /// No ethdev port with this name or id.
    #[error("no DPDK port {0:?} (is the --vdev/-a argument right?)")]
    NoSuchPort(String),
    /// The configuration asks for something the port or the stack cannot do.
    #[error("invalid DPDK configuration: {0}")]
    Config(String),
}

impl From<DpdkError> for std::io::Error {
    fn from(e: DpdkError) -> Self {
        std::io::Error::other(e)
    }
}

/// DPDK's description of an error code (positive errno or rte_errno value).
pub(crate) fn strerror(code: c_int) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
    unsafe { CStr::from_ptr(sys::rte_strerror(code.abs())) }
        .to_string_lossy()
        .into_owned()
}

/// The failure of `call`, from a negative return value or, when that is -1, from `rte_errno`.
pub(crate) fn call_error(call: &'static str, ret: c_int) -> DpdkError {
    let code = if ret == -1 {
        // SAFETY: reads the calling thread's rte_errno.
        unsafe { sys::shim_errno() }
    } else {
        ret
    };
    DpdkError::Call {
        call,
        reason: strerror(code),
    }
}

const UNINIT: u8 = 0;
const RUNNING: u8 = 1;
const USED: u8 = 2;
static EAL_STATE: AtomicU8 = AtomicU8::new(UNINIT);

/// Proof that the EAL is up in this process. There is at most one, ever.
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises the EAL with `args` (the program name is prepended). Succeeds at most once
    /// per process: every later call returns [`DpdkError::EalAlreadyInitialised`], because
    /// DPDK itself cannot initialise twice.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if EAL_STATE
            .compare_exchange(UNINIT, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("msrp-dataplane").expect("static name"));
        for a in args {
            let a = a.as_ref();
            owned.push(CString::new(a).map_err(|_| DpdkError::BadArgument(a.to_owned()))?);
        }
        // The EAL keeps pointers into argv (e.g. for --file-prefix): the strings live forever.
        let argv: &mut [*mut c_char] = Vec::leak(
            owned
                .into_iter()
                .map(|s| s.into_raw())
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect(),
        );
        let argc = c_int::try_from(argv.len() - 1).map_err(|_| DpdkError::Config("argc".into()))?;
        // SAFETY: argv is a NULL-terminated array of argc valid C strings that is never freed.
        let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            EAL_STATE.store(USED, Ordering::Release);
            // SAFETY: reads this thread's rte_errno, set by rte_eal_init.
            let code = unsafe { sys::shim_errno() };
            return Err(DpdkError::EalInit(strerror(code)));
        }
        Ok(Eal { _private: () })
    }

    /// Whether the EAL has been initialised (and not cleaned up) in this process.
    pub fn is_running() -> bool {
        EAL_STATE.load(Ordering::Acquire) == RUNNING
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // Everything that used DPDK (ports, pools) holds an `Arc<Eal>`, so it is gone by now.
        // SAFETY: the EAL was initialised by `init` and nothing uses it any more.
        unsafe { sys::rte_eal_cleanup() };
        EAL_STATE.store(USED, Ordering::Release);
    }
}
