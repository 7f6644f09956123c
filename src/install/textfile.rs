//! Small text files read whole: UCI, passwd, group.

use std::path::Path;

/// A small text file read whole: certtool's bounded read, so a regular file of at most 1 MiB
/// (a FIFO or a device at the path is refused, never waited on), as UTF-8.
pub fn read_capped(path: &Path) -> std::io::Result<String> {
    let data = certtool::fsutil::read_bounded(path, 1 << 20, certtool::fsutil::Links::Follow)?;
    String::from_utf8(data).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
