//! Loading refuses, naming the file, whatever is missing or unusable; it never downloads.

use std::path::{Path, PathBuf};

use heddle_embed_local::{LocalEmbedError, LocalMiniLm};

/// A fresh, empty directory under the system's temp dir, unique to `name` and this process.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("heddle-embed-local-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy(from: &Path, to: &Path, file: &str) {
    std::fs::copy(from.join(file), to.join(file)).unwrap();
}

#[test]
fn a_directory_without_the_files_names_each_missing_one() {
    let dir = scratch("empty");

    let err = LocalMiniLm::load(&dir).unwrap_err();

    assert_eq!(
        err,
        LocalEmbedError::MissingFiles {
            dir: dir.clone(),
            missing: vec!["config.json", "tokenizer.json", "model.safetensors"],
        }
    );
    let message = err.to_string();
    assert!(message.contains(&dir.display().to_string()), "{message}");
    assert!(message.contains("never downloads"), "{message}");

    let absent = dir.join("no-such-dir");
    assert!(matches!(
        LocalMiniLm::load(&absent),
        Err(LocalEmbedError::MissingFiles { missing, .. }) if missing.len() == 3
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_the_missing_weights_are_named() {
    let source = crate::model_dir();
    let dir = scratch("no-weights");
    copy(&source, &dir, "config.json");
    copy(&source, &dir, "tokenizer.json");

    let err = LocalMiniLm::load(&dir).unwrap_err();

    assert!(
        matches!(&err, LocalEmbedError::MissingFiles { missing, .. } if missing == &["model.safetensors"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("`model.safetensors`"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unusable_files_are_refused_with_their_path() {
    let source = crate::model_dir();
    let dir = scratch("broken");
    copy(&source, &dir, "config.json");
    copy(&source, &dir, "tokenizer.json");
    std::fs::write(dir.join("model.safetensors"), b"not safetensors").unwrap();

    let err = LocalMiniLm::load(&dir).unwrap_err();
    assert!(
        matches!(&err, LocalEmbedError::Weights { path, .. } if path.ends_with("model.safetensors")),
        "{err:?}"
    );

    std::fs::write(dir.join("config.json"), b"{\"hidden_size\": 384}").unwrap();
    let err = LocalMiniLm::load(&dir).unwrap_err();
    assert!(
        matches!(&err, LocalEmbedError::Config { path, .. } if path.ends_with("config.json")),
        "{err:?}"
    );

    copy(&source, &dir, "config.json");
    std::fs::write(dir.join("tokenizer.json"), b"{}").unwrap();
    let err = LocalMiniLm::load(&dir).unwrap_err();
    assert!(
        matches!(&err, LocalEmbedError::Tokenizer { path, .. } if path.ends_with("tokenizer.json")),
        "{err:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
