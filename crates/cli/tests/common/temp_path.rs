//! A temp path removed when dropped. Shared by the integration tests
//! (`tests/common`) and the unit tests of the binary (`src/main.rs`
//! includes this file).
// Each test target uses its own part of this module.
#![allow(dead_code)]

/// A file or directory under the system temp dir that is removed (a
/// directory with everything in it) when dropped, so a test leaves nothing
/// behind whether it passes or panics.
///
/// Declare it before the child processes that use it: locals drop in
/// reverse order, so the children are gone before the path is removed.
pub struct TempPath(std::path::PathBuf);

impl TempPath {
    /// `name` in the temp dir, a leftover of an earlier run removed;
    /// nothing is created.
    pub fn new(name: impl AsRef<std::path::Path>) -> Self {
        let path = TempPath(std::env::temp_dir().join(name));
        path.remove();
        path
    }

    /// A new, empty directory `name` in the temp dir.
    pub fn dir(name: impl AsRef<std::path::Path>) -> Self {
        let dir = TempPath::new(name);
        std::fs::create_dir_all(&dir.0).expect("create a temp dir");
        dir
    }

    /// A file `name` in the temp dir holding `contents`.
    pub fn file(name: impl AsRef<std::path::Path>, contents: impl AsRef<[u8]>) -> Self {
        let file = TempPath::new(name);
        std::fs::write(&file.0, contents).expect("write a temp file");
        file
    }

    fn remove(&self) {
        match std::fs::symlink_metadata(&self.0) {
            Ok(meta) if meta.is_dir() => {
                let _ = std::fs::remove_dir_all(&self.0);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&self.0);
            }
            Err(_) => {}
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        self.remove();
    }
}

impl std::ops::Deref for TempPath {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempPath {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempPath {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}
