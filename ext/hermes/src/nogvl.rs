//! Runs Rust work with Ruby's GVL released, so other Ruby threads run while we hash or wait
//! on the network. magnus has no API for this; rb-sys exposes the C function.

use std::ffi::c_void;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

struct Call<F, R> {
    func: Option<F>,
    result: Option<std::thread::Result<R>>,
}

unsafe extern "C" fn trampoline<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Call` that `nogvl` passed in and keeps alive until this returns.
    let call = unsafe { &mut *(data as *mut Call<F, R>) };
    if let Some(f) = call.func.take() {
        // A panic must not unwind through Ruby's C frames: carry it back to `nogvl`.
        call.result = Some(catch_unwind(AssertUnwindSafe(f)));
    }
    std::ptr::null_mut()
}

/// Calls `func` without the GVL. `func` must not touch any Ruby object: convert arguments
/// to Rust values first.
pub fn nogvl<F: FnOnce() -> R, R>(func: F) -> R {
    let mut call = Call {
        func: Some(func),
        result: None,
    };
    // SAFETY: the callback only runs Rust code (no Ruby API) and `call` outlives the call.
    // No unblocking function: the work is bounded by the SDK's timeouts.
    unsafe {
        rb_sys::rb_thread_call_without_gvl(
            Some(trampoline::<F, R>),
            &mut call as *mut Call<F, R> as *mut c_void,
            None,
            std::ptr::null_mut(),
        );
    }
    match call.result.expect("rb_thread_call_without_gvl ran the callback") {
        Ok(r) => r,
        Err(panic) => resume_unwind(panic),
    }
}
