//! Reading a file of a checkout for a caller, when the checkout is someone else's: the path is
//! walked one component at a time from the checkout's own folder, each opened relative to the one
//! before without following a symlink (`O_NOFOLLOW`), so neither a symlink committed to the
//! repository nor one swapped in while a re-index rewrites the tree can lead outside it; and at
//! most [`MAX_READ`] bytes are read.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use rustix::fs::{Mode, OFlags};

/// The most of one file a caller is given: far above any file the indexer parses (1 MiB by
/// default), far below what would hurt the server.
pub const MAX_READ: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0} is not a path inside the repository")]
    Outside(String),
    #[error("{0} does not exist in the checkout; re-index the repository")]
    Missing(String),
    #[error("{0} is a symbolic link (or passes through one), which is never followed")]
    Symlink(String),
    #[error("{0} is not a regular file")]
    NotAFile(String),
    #[error("{path} is larger than {mib} MiB", mib = MAX_READ >> 20, path = .0)]
    TooLarge(String),
    #[error("{0} is not UTF-8 text")]
    NotText(String),
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The text of `relative` (a `/`-separated path) under `root`, read without following any
/// symbolic link below `root`.
pub fn read_text(root: &Path, relative: &str) -> Result<String, ReadError> {
    let bytes = read_bytes(root, relative)?;
    String::from_utf8(bytes).map_err(|_| ReadError::NotText(relative.to_owned()))
}

/// The bytes of `relative` under `root`, as [`read_text`] reads them.
pub fn read_bytes(root: &Path, relative: &str) -> Result<Vec<u8>, ReadError> {
    let path = relative.to_owned();
    let parts: Vec<&str> = Path::new(relative)
        .components()
        .map(|c| match c {
            Component::Normal(part) => {
                part.to_str().ok_or_else(|| ReadError::Outside(path.clone()))
            }
            _ => Err(ReadError::Outside(path.clone())),
        })
        .collect::<Result<_, _>>()?;
    let Some((file, folders)) = parts.split_last() else {
        return Err(ReadError::Outside(path));
    };
    let io = |source: std::io::Error| ReadError::Io { path: path.clone(), source };
    let fail = |e: rustix::io::Errno| match e {
        rustix::io::Errno::NOENT => ReadError::Missing(path.clone()),
        // O_NOFOLLOW on a link: ELOOP; O_DIRECTORY on a link to a folder: ENOTDIR or ELOOP.
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => ReadError::Symlink(path.clone()),
        e => ReadError::Io { path: path.clone(), source: e.into() },
    };
    let directory = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir: OwnedFd =
        rustix::fs::open(root, directory, Mode::empty()).map_err(|e| io(e.into()))?;
    for folder in folders {
        dir = rustix::fs::openat(&dir, *folder, directory | OFlags::NOFOLLOW, Mode::empty())
            .map_err(fail)?;
    }
    // NONBLOCK: a FIFO planted in the tree cannot hang the open.
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let fd = rustix::fs::openat(&dir, *file, flags, Mode::empty()).map_err(fail)?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile(path));
    }
    if meta.len() > MAX_READ {
        return Err(ReadError::TooLarge(path));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_READ + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_READ {
        return Err(ReadError::TooLarge(path));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn a_file_of_the_tree_is_read_and_nothing_through_a_link_or_outside_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("checkout");
        let outside = dir.path().join("master.key");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/app.py"), "print('hi')\n").unwrap();
        std::fs::write(&outside, "0011223344").unwrap();
        symlink(&outside, root.join("src/key.py")).unwrap();
        symlink("../../master.key", root.join("relative.py")).unwrap();
        symlink(dir.path(), root.join("up")).unwrap();
        std::fs::create_dir_all(root.join("real")).unwrap();
        symlink(root.join("real"), root.join("linked")).unwrap();
        std::fs::write(root.join("real/x.py"), "x = 1\n").unwrap();

        assert_eq!(read_text(&root, "src/app.py").unwrap(), "print('hi')\n");
        for link in ["src/key.py", "relative.py", "up/master.key", "linked/x.py"] {
            let refused = read_text(&root, link).unwrap_err();
            assert!(matches!(refused, ReadError::Symlink(_)), "{link}: {refused}");
        }
        for outside in ["../master.key", "/etc/passwd", "src/../../master.key", "", "."] {
            let refused = read_text(&root, outside).unwrap_err();
            assert!(matches!(refused, ReadError::Outside(_)), "{outside}: {refused}");
        }
        assert!(matches!(read_text(&root, "src/gone.py"), Err(ReadError::Missing(_))));
        assert!(matches!(read_text(&root, "src"), Err(ReadError::NotAFile(_))));
    }

    #[test]
    fn a_fifo_or_a_huge_file_is_refused_without_hanging_or_filling_memory() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = std::process::Command::new("mkfifo").arg(dir.path().join("pipe")).status();
        if fifo.is_ok_and(|s| s.success()) {
            assert!(matches!(read_text(dir.path(), "pipe"), Err(ReadError::NotAFile(_))));
        }
        let big = std::fs::File::create(dir.path().join("big.bin")).unwrap();
        big.set_len(MAX_READ + 1).unwrap();
        assert!(matches!(read_bytes(dir.path(), "big.bin"), Err(ReadError::TooLarge(_))));
    }
}
