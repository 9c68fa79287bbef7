//! Reading helpers shared by the file readers.

use std::io::{self, Read};

/// Reads as many bytes as `buf` holds, stopping early only at end of input;
/// returns how many were read.
pub(crate) fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    fill_up_to(r, buf, &mut got)?;
    Ok(got)
}

/// Fills `buf[*filled..]`, stopping early only at end of input, and
/// counts the bytes read in `filled`. On an error (`WouldBlock` from a
/// non-blocking input, say) `filled` still counts every byte read before
/// it, so that a later call goes on where this one stopped.
pub(crate) fn fill_up_to<R: Read>(r: &mut R, buf: &mut [u8], filled: &mut usize) -> io::Result<()> {
    while *filled < buf.len() {
        match r.read(&mut buf[*filled..]) {
            Ok(0) => break,
            Ok(n) => *filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
