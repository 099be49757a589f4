//! The data directory at start: the warning for what is open to the group or others, the
//! refusal of a directory whose ledger is gone but whose admin token remains, and the admin
//! token file (read before the ledger opens, written only after it opened).
//!
//! A mode found too open is only warned about, never changed and never a reason to refuse the
//! start. A refusal is decided before anything is created or written. The admin token's value
//! is never logged or shown, not even when it is refused.

use std::path::{Path, PathBuf};

use crate::app::AppError;
use crate::config::Settings;
use crate::ids::random_token;
use crate::ledger::SledStore;
use crate::private_files;
use crate::secret::ApiKey;

/// Warns, once per path, about everything at or below `data_dir` that the group or others may
/// access, with the command that makes it private. Never fails the start.
pub(super) fn warn_too_open(data_dir: &Path) {
    match private_files::too_open_within(data_dir) {
        Ok(found) => {
            for open in found {
                tracing::warn!(
                    path = %open.path.display(),
                    mode = format!("{:04o}", open.mode),
                    "{} has mode {:04o}: its group or others may access the ledger or the \
                     admin token; run `{}`",
                    open.path.display(),
                    open.mode,
                    open.fix_command(),
                );
            }
        }
        Err(error) => tracing::warn!(
            dir = %data_dir.display(),
            %error,
            "cannot check the data directory's modes"
        ),
    }
}

/// Refuses a data directory whose admin token remains but whose ledger is gone, before
/// anything would create an empty ledger in its place. Where either cannot be told (an I/O
/// error), the ledger's open or the token's read reports it instead.
pub(super) fn refuse_lost_ledger(settings: &Settings) -> Result<(), AppError> {
    let admin_token = settings.admin_token_file();
    let ledger = SledStore::data_file(&settings.ledger_dir());
    let token_remains = matches!(admin_token.try_exists(), Ok(true));
    let ledger_gone = matches!(ledger.try_exists(), Ok(false));
    if token_remains && ledger_gone {
        return Err(AppError::LedgerGone {
            ledger: ledger.display().to_string(),
            admin_token: admin_token.display().to_string(),
            acknowledged: crate::ledger::acknowledged_in(&settings.ledger_dir()).map(|seq| seq.0),
        });
    }
    Ok(())
}

/// The token kept in `<data-dir>/admin-token`, checked by the same rules as a configured one:
/// `None` when the configuration gives the token or when no file is kept yet.
pub(super) fn kept_admin_token(settings: &Settings) -> Result<Option<ApiKey>, AppError> {
    if settings.admin_token.is_some() {
        return Ok(None);
    }
    let path = settings.admin_token_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            ApiKey::admin_token(text.trim())
                .map(Some)
                .map_err(|rule| AppError::AdminTokenRefused {
                    path: path.display().to_string(),
                    rule,
                })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(admin_token_failed(&path)(error)),
    }
}

/// The admin token: from the configuration, else the `kept` one, else a new one written to
/// `<data-dir>/admin-token` with mode 0600 (readable by the server's user only). Called after
/// the ledger opened, so that a start that cannot open it never leaves a lone token behind.
pub(super) fn admin_token(
    settings: &Settings,
    kept: Option<ApiKey>,
) -> Result<(ApiKey, Option<PathBuf>), AppError> {
    if let Some(token) = &settings.admin_token {
        return Ok((token.clone(), None));
    }
    let path = settings.admin_token_file();
    let token = match kept {
        Some(token) => token,
        // A read-only start writes nothing, a token included.
        None if settings.read_only => {
            return Err(AppError::ReadOnlyWithoutAdminToken {
                path: path.display().to_string(),
            });
        }
        None => write_admin_token(&settings.data_dir, &path).map_err(admin_token_failed(&path))?,
    };
    Ok((token, Some(path)))
}

fn admin_token_failed(path: &Path) -> impl Fn(std::io::Error) -> AppError + '_ {
    move |source| AppError::AdminToken {
        path: path.display().to_string(),
        source,
    }
}

/// Generates a token and writes it to `path` (mode 0600, never over an existing file), in a
/// data directory created private if it is missing.
fn write_admin_token(data_dir: &Path, path: &Path) -> std::io::Result<ApiKey> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    private_files::create_private_dir(data_dir)?;
    let token = ApiKey::admin_token(random_token())
        .expect("a random token is 64 hex characters, which is a valid admin token");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(private_files::FILE_MODE)
        .open(path)?;
    file.write_all(token.expose().as_bytes())?;
    file.sync_all()?;
    Ok(token)
}
