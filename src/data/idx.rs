//! The IDX format of MNIST: a big-endian header (magic 0x0000_08_NN: unsigned bytes,
//! NN dimensions), NN big-endian u32 sizes, then the bytes. Gzipped or raw.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// A parsed IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Idx {
    /// The sizes from the header.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// The first bytes of every gzip file.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads an IDX file, gunzipping it when it starts with the gzip magic (whatever its name
/// says).
pub fn read_idx(path: &Path) -> Result<Idx> {
    let raw = std::fs::read(path)
        .map_err(|e| Error::data(path.display(), format!("cannot read: {e}")))?;
    decode_idx(&raw).map_err(|message| Error::data(path.display(), message))
}

/// Decodes the bytes of an IDX file, gzipped or raw; the error says what is wrong.
pub fn decode_idx(raw: &[u8]) -> std::result::Result<Idx, String> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return parse_idx(raw).map_err(|message| {
            if raw.len() >= 4 && raw[..3] != [0, 0, 8] {
                format!("neither gzip (which starts 1f 8b) nor IDX: {message}")
            } else {
                message
            }
        });
    }
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("a damaged gzip file (truncated or corrupt): {e}"))?;
    parse_idx(&bytes).map_err(|message| format!("gzip holding no IDX file: {message}"))
}

/// Parses IDX bytes; the error says what is wrong.
pub fn parse_idx(bytes: &[u8]) -> std::result::Result<Idx, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "too short for an IDX header: {} bytes",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        return Err(format!(
            "not an IDX file of unsigned bytes: magic {:02x} {:02x} {:02x} {:02x}, expected 00 00 08 NN",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if rank == 0 || bytes.len() < header {
        return Err(format!(
            "an IDX header of rank {rank} needs {header} bytes, the file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("sizes overflow")?;
    let found = bytes.len() - header;
    if found != expected {
        return Err(format!(
            "sizes {dims:?} need {expected} data bytes, the file has {found} (truncated or padded)"
        ));
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::{decode_idx, parse_idx};

    #[test]
    fn parses_and_rejects() {
        let mut ok = vec![0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        ok.extend([1, 2, 3, 4, 5, 6]);
        let idx = parse_idx(&ok).unwrap();
        assert_eq!(idx.dims, vec![2, 3]);
        assert_eq!(idx.data, vec![1, 2, 3, 4, 5, 6]);
        assert!(parse_idx(&ok[..ok.len() - 1])
            .unwrap_err()
            .contains("truncated"));
        assert!(parse_idx(&[0, 0, 9, 1]).unwrap_err().contains("magic"));
        assert!(parse_idx(&[0, 0, 8]).is_err());
        assert!(parse_idx(&[0, 0, 8, 3, 0, 0]).is_err());
        assert!(decode_idx(b"<html>404</html>")
            .unwrap_err()
            .starts_with("neither gzip"));
        assert!(decode_idx(&[0x1f, 0x8b, 8, 0])
            .unwrap_err()
            .contains("damaged gzip"));
    }
}
