//! The C shim's functions (csrc/ferrtc_codecs.c). Only the safe wrappers
//! in [`super::vp8`] and [`super::opus`] call them.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_uint};
use std::marker::{PhantomData, PhantomPinned};

/// Declares an opaque C type: never built, only pointed to.
macro_rules! opaque {
    ($($name:ident),*) => {$(
        /// An opaque handle of the C shim.
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}

opaque!(Vp8Enc, Vp8Dec, OpusEnc, OpusDec);

/// `VPX_CODEC_OK`.
pub const VPX_OK: c_int = 0;

unsafe extern "C" {
    pub fn ferrtc_vp8_enc_new(
        width: c_uint,
        height: c_uint,
        fps: c_uint,
        bitrate_kbps: c_uint,
        keyframe_interval: c_uint,
        err: *mut c_int,
    ) -> *mut Vp8Enc;
    pub fn ferrtc_vp8_enc_encode(
        enc: *mut Vp8Enc,
        y: *const u8,
        y_stride: usize,
        u: *const u8,
        u_stride: usize,
        v: *const u8,
        v_stride: usize,
        force_keyframe: c_int,
    ) -> c_int;
    pub fn ferrtc_vp8_enc_next(
        enc: *mut Vp8Enc,
        data: *mut *const u8,
        len: *mut usize,
        keyframe: *mut c_int,
    ) -> c_int;
    pub fn ferrtc_vp8_enc_free(enc: *mut Vp8Enc);

    pub fn ferrtc_vp8_dec_new(err: *mut c_int) -> *mut Vp8Dec;
    pub fn ferrtc_vp8_dec_decode(dec: *mut Vp8Dec, data: *const u8, len: usize) -> c_int;
    pub fn ferrtc_vp8_dec_next(
        dec: *mut Vp8Dec,
        planes: *mut *const u8,
        strides: *mut c_int,
        width: *mut c_uint,
        height: *mut c_uint,
    ) -> c_int;
    pub fn ferrtc_vp8_dec_free(dec: *mut Vp8Dec);
    fn ferrtc_vpx_error(code: c_int) -> *const c_char;

    pub fn ferrtc_opus_enc_new(channels: c_int, bitrate: c_int, err: *mut c_int) -> *mut OpusEnc;
    pub fn ferrtc_opus_enc_encode(
        enc: *mut OpusEnc,
        pcm: *const i16,
        frame_size: c_int,
        out: *mut u8,
        max: c_int,
    ) -> c_int;
    pub fn ferrtc_opus_enc_free(enc: *mut OpusEnc);
    pub fn ferrtc_opus_dec_new(channels: c_int, err: *mut c_int) -> *mut OpusDec;
    pub fn ferrtc_opus_dec_decode(
        dec: *mut OpusDec,
        data: *const u8,
        len: c_int,
        pcm: *mut i16,
        max_samples: c_int,
    ) -> c_int;
    pub fn ferrtc_opus_dec_free(dec: *mut OpusDec);
    fn ferrtc_opus_error(code: c_int) -> *const c_char;
}

/// A static C string as Rust text ("" for NULL).
fn text(s: *const c_char) -> String {
    if s.is_null() {
        return String::new();
    }
    // SAFETY: both libraries return pointers to static NUL-terminated
    // strings for every code, known or not.
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}

/// libvpx's text for an error code.
pub fn vpx_error(code: c_int) -> String {
    // SAFETY: takes any integer; returns a static string.
    text(unsafe { ferrtc_vpx_error(code) })
}

/// libopus's text for an error code.
pub fn opus_error(code: c_int) -> String {
    // SAFETY: takes any integer; returns a static string.
    text(unsafe { ferrtc_opus_error(code) })
}
