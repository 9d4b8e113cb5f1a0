//! The attach protocol between pier and a container's monitor, over the
//! unix socket `<run>/<short id>/attach.sock`.
//!
//! The client sends one JSON line (`{"stdin": true}`), then both sides
//! exchange frames: a type byte, a big-endian u32 length, the payload.
//! The monitor sends output (`STDOUT`, `STDERR`) and, when the container
//! exits, `EXIT` with its code as a decimal string; the client sends
//! `STDIN` data, `STDIN_EOF` and `RESIZE` (`rows cols` as text).

use std::io::{self, Read, Write};

/// Input for the container.
pub const STDIN: u8 = 0;
/// Output on the container's stdout (or its terminal).
pub const STDOUT: u8 = 1;
/// Output on the container's stderr.
pub const STDERR: u8 = 2;
/// The client's terminal changed size: payload `rows cols`.
pub const RESIZE: u8 = 3;
/// The client's stdin is at its end.
pub const STDIN_EOF: u8 = 4;
/// The container exited: payload its exit code.
pub const EXIT: u8 = 5;

/// Frames larger than this are refused (a confused peer, not data).
const MAX_FRAME: u32 = 1 << 20;

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, kind: u8, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len()).map_err(|_| io::Error::other("frame too large"))?;
    let mut buf = Vec::with_capacity(5 + data.len());
    buf.push(kind);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(data);
    w.write_all(&buf)
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut head[1..])?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes"),
        ));
    }
    let mut data = vec![0u8; len as usize];
    r.read_exact(&mut data)?;
    Ok(Some((head[0], data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STDOUT, b"hello").unwrap();
        write_frame(&mut buf, EXIT, b"3").unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((STDOUT, b"hello".to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), Some((EXIT, b"3".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), None);
        let huge = [9u8, 0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut &huge[..]).is_err());
    }
}
