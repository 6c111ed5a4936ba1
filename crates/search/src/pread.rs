//! A directory that reads index files with positioned reads instead of memory maps, for a
//! process that writes a whole index (`concierge search reindex`).
//!
//! Through tantivy's [`MmapDirectory`], every page a merge reads stays resident (and counts in
//! the process's RSS) until the merged segments are dropped: the last merges of a rebuild at
//! millions of documents read hundreds of megabytes of index at once. [`PreadDirectory`]
//! delegates everything to an [`MmapDirectory`] except reading: each read copies the bytes
//! asked for into a buffer that is freed when the reader is done with it, so what a merge
//! reads is resident only while it is used, and the page cache (which the kernel can reclaim)
//! holds the rest. Searching keeps memory maps (see [`crate::ReadMode`]).

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::HasLen;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, WatchCallback,
    WatchHandle, WritePtr,
};

/// An [`MmapDirectory`] whose files are read with `pread` (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) struct PreadDirectory {
    inner: MmapDirectory,
    root: PathBuf,
}

impl PreadDirectory {
    pub(crate) fn new(inner: MmapDirectory, root: PathBuf) -> PreadDirectory {
        PreadDirectory { inner, root }
    }
}

/// One open index file.
struct PreadFile {
    file: File,
    len: usize,
    path: PathBuf,
}

impl fmt::Debug for PreadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PreadFile({}, {} bytes)", self.path.display(), self.len)
    }
}

impl HasLen for PreadFile {
    fn len(&self) -> usize {
        self.len
    }
}

impl FileHandle for PreadFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.start > range.end || range.end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "read of bytes {}..{} past the end of {} ({} bytes)",
                    range.start,
                    range.end,
                    self.path.display(),
                    self.len
                ),
            ));
        }
        let mut buf = vec![0u8; range.end - range.start];
        if !buf.is_empty() {
            self.file.read_exact_at(&mut buf, range.start as u64)?;
        }
        Ok(OwnedBytes::new(buf))
    }
}

impl Directory for PreadDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let full = self.root.join(path);
        let file = File::open(&full).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => OpenReadError::FileDoesNotExist(path.to_path_buf()),
            _ => OpenReadError::wrap_io_error(e, path.to_path_buf()),
        })?;
        let len = file
            .metadata()
            .map_err(|e| OpenReadError::wrap_io_error(e, path.to_path_buf()))?
            .len() as usize;
        Ok(Arc::new(PreadFile {
            file,
            len,
            path: full,
        }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.inner.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ranges_and_refuses_reads_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"hello world").unwrap();
        let d = PreadDirectory::new(
            MmapDirectory::open(dir.path()).unwrap(),
            dir.path().to_path_buf(),
        );
        let h = d.get_file_handle(Path::new("f")).unwrap();
        assert_eq!(h.len(), 11);
        assert_eq!(h.read_bytes(6..11).unwrap().as_slice(), b"world");
        assert!(h.read_bytes(3..3).unwrap().is_empty());
        let err = h.read_bytes(6..12).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        assert!(matches!(
            d.get_file_handle(Path::new("missing")),
            Err(OpenReadError::FileDoesNotExist(_))
        ));
    }
}
