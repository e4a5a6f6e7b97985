//! Files and directories that hold secrets (the database with its private
//! keys, the mail outbox with its reset links): only their owner may read
//! them, however they came to exist.

use std::io;
use std::path::Path;

/// Takes group and other permissions away from `path` when it has any,
/// giving its owner `owner` besides what it has (a directory needs `0o700`
/// to be used), with a WARN naming `what`.
pub fn keep_to_owner(path: &Path, owner: u32, what: &str) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700 | owner))?;
            tracing::warn!(
                path = %path.display(),
                was = format_args!("{:o}", mode & 0o777),
                "{what} was open to other users: now owner-only"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, owner, what);
    Ok(())
}
