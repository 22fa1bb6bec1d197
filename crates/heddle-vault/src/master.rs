//! Finding the master key: the environment, a key file, or — for the zero-setup embedded
//! default only — a key file generated in the data directory on first start.

use std::io::Write;
use std::path::{Path, PathBuf};

use heddle_crypto::{MasterKey, MasterKeyError};

/// Where the master key came from, for the start-up log (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    Environment,
    File(PathBuf),
    /// Generated on this start into this file.
    Generated(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyLoadError {
    #[error("HEDDLE_MASTER_KEY is not a usable master key: {0}")]
    InvalidEnvironment(MasterKeyError),
    #[error("the master key file `{path}` is not a usable master key: {source}")]
    InvalidFile {
        path: PathBuf,
        source: MasterKeyError,
    },
    #[error("cannot read the master key file `{path}`: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the master key file `{path}`: {source}")]
    Uncreatable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no master key: set HEDDLE_MASTER_KEY or `master_key_file` (generate one with \
         `heddle keys generate-master`); with PostgreSQL every process must share the same key"
    )]
    Missing,
}

/// Loads the master key. Precedence: `env_value` (HEDDLE_MASTER_KEY), then `file`, then —
/// only when `generate_at` is given — that file, created with a fresh key if it does not
/// exist (owner-only permissions).
pub fn load_master_key(
    env_value: Option<&str>,
    file: Option<&Path>,
    generate_at: Option<&Path>,
) -> Result<(MasterKey, MasterKeySource), MasterKeyLoadError> {
    if let Some(value) = env_value {
        let key = MasterKey::from_encoded(value).map_err(MasterKeyLoadError::InvalidEnvironment)?;
        return Ok((key, MasterKeySource::Environment));
    }
    if let Some(path) = file {
        return Ok((read_key_file(path)?, MasterKeySource::File(path.to_owned())));
    }
    let Some(path) = generate_at else {
        return Err(MasterKeyLoadError::Missing);
    };
    if path.exists() {
        return Ok((read_key_file(path)?, MasterKeySource::File(path.to_owned())));
    }
    let key = MasterKey::generate().map_err(|err| MasterKeyLoadError::Uncreatable {
        path: path.to_owned(),
        source: std::io::Error::other(err.to_string()),
    })?;
    match write_new_key_file(path, &key) {
        Ok(()) => Ok((key, MasterKeySource::Generated(path.to_owned()))),
        // Another process created it between our check and our write: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((read_key_file(path)?, MasterKeySource::File(path.to_owned())))
        }
        Err(source) => Err(MasterKeyLoadError::Uncreatable {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read_key_file(path: &Path) -> Result<MasterKey, MasterKeyLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| MasterKeyLoadError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let text = heddle_crypto::Zeroizing::new(text);
    MasterKey::from_encoded(text.trim()).map_err(|source| MasterKeyLoadError::InvalidFile {
        path: path.to_owned(),
        source,
    })
}

fn write_new_key_file(path: &Path, key: &MasterKey) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let encoded = key.to_encoded();
    file.write_all(encoded.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_file_is_reused_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/master.key");
        let (first, source) = load_master_key(None, None, Some(&path)).unwrap();
        assert_eq!(source, MasterKeySource::Generated(path.clone()));
        let (second, source) = load_master_key(None, None, Some(&path)).unwrap();
        assert_eq!(source, MasterKeySource::File(path.clone()));
        assert_eq!(first.key_id(), second.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "no access for group or others");
        }
    }

    #[test]
    fn environment_wins_and_is_validated() {
        let key = MasterKey::generate().unwrap();
        let (loaded, source) = load_master_key(
            Some(&key.to_encoded()),
            Some(Path::new("/nonexistent")),
            None,
        )
        .unwrap();
        assert_eq!(source, MasterKeySource::Environment);
        assert_eq!(loaded.key_id(), key.key_id());
        let err = load_master_key(Some("too-short"), None, None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("HEDDLE_MASTER_KEY is not a usable master key")
        );
        assert!(!err.to_string().contains("too-short"), "never echo the key");
    }

    #[test]
    fn documented_examples_are_refused() {
        for example in heddle_crypto::DOCUMENTED_EXAMPLE_KEYS {
            assert!(load_master_key(Some(example), None, None).is_err());
        }
    }

    #[test]
    fn missing_key_says_how_to_fix_it() {
        let err = load_master_key(None, None, None).unwrap_err();
        assert!(err.to_string().contains("heddle keys generate-master"));
    }
}
