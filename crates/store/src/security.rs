//! Who may talk to rstore, as Elasticsearch 8 users expect: users of a file realm
//! (`<path.data>/users`, `name:bcrypt-hash` lines as Elasticsearch's `users` file, written by
//! `rstore users add`) with HTTP Basic, and API keys (`POST /_security/api_key`, sent as
//! `Authorization: ApiKey base64(id:key)`, kept only as hashes). Security is on as soon as one
//! user exists; without users rstore refuses to listen beyond loopback unless `--insecure`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The realm names Elasticsearch reports for these two ways in.
pub const FILE_REALM: &str = "default_file";
pub const API_KEY_REALM: &str = "_es_api_key";

/// Who a request comes from.
#[derive(Debug, Clone)]
pub enum Who {
    /// Security is off (no users): everyone.
    Anonymous,
    User(String),
    ApiKey {
        id: String,
        name: String,
        owner: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// SHA-256 of the secret, hex: the secret itself is shown once, at creation.
    hash: String,
    pub creation: u64,
    pub expiration: Option<u64>,
    pub invalidated: bool,
    pub username: String,
}

pub struct Security {
    users_file: PathBuf,
    keys_file: PathBuf,
    /// name → bcrypt hash, with the file's mtime when read (re-read when it changes, as
    /// Elasticsearch's file realm watches its file).
    users: RwLock<(HashMap<String, String>, Option<SystemTime>)>,
    /// name → SHA-256 of a password bcrypt already accepted: bcrypt costs ~50 ms by design,
    /// too much for every bulk request (Elasticsearch keeps such a cache too).
    verified: Mutex<HashMap<String, [u8; 32]>>,
    keys: RwLock<Vec<ApiKey>>,
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read_users(path: &Path) -> Result<HashMap<String, String>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut users = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, hash)) = line.split_once(':') else {
            return Err(format!(
                "{}:{}: expected `name:hash`",
                path.display(),
                n + 1
            ));
        };
        users.insert(name.to_string(), hash.to_string());
    }
    Ok(users)
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A user name as Elasticsearch accepts one: 1 to 507 printable characters, no spaces at
/// either end, and no `:` here since the file separates with it.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 507
        && name.trim() == name
        && name.chars().all(|c| !c.is_control() && c != ':')
}

impl Security {
    pub fn open(dir: &Path) -> Result<Security, String> {
        let users_file = dir.join("users");
        let keys_file = dir.join("api_keys.json");
        let users = read_users(&users_file)?;
        let keys = match std::fs::read(&keys_file) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("cannot read {}: {e}", keys_file.display()))?,
            Err(_) => Vec::new(),
        };
        Ok(Security {
            users: RwLock::new((users, mtime(&users_file))),
            users_file,
            keys_file,
            verified: Mutex::new(HashMap::new()),
            keys: RwLock::new(keys),
        })
    }

    /// Adds a user or sets a user's password, in the users file under `dir`.
    pub fn add_user(dir: &Path, name: &str, password: &str) -> Result<(), String> {
        if !valid_name(name) {
            return Err(format!("invalid user name `{name}`"));
        }
        if password.chars().count() < 6 {
            return Err("passwords must be at least 6 characters long".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("users");
        let mut users = read_users(&path)?;
        let hash = bcrypt::hash(password, bcrypt::DEFAULT_COST).map_err(|e| e.to_string())?;
        users.insert(name.to_string(), hash);
        let mut names: Vec<_> = users.keys().cloned().collect();
        names.sort();
        let text: String = names
            .iter()
            .map(|n| format!("{n}:{}\n", users[n]))
            .collect();
        write_private(&path, text.as_bytes())
    }

    pub fn user_names(dir: &Path) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = read_users(&dir.join("users"))?.into_keys().collect();
        names.sort();
        Ok(names)
    }

    /// Security is on once a user exists.
    pub fn enabled(&self) -> bool {
        self.reload_users();
        !self.lock_users().0.is_empty()
    }

    fn lock_users(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, (HashMap<String, String>, Option<SystemTime>)> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    fn reload_users(&self) {
        let now = mtime(&self.users_file);
        if self.lock_users().1 == now {
            return;
        }
        match read_users(&self.users_file) {
            Ok(users) => {
                *self.users.write().unwrap_or_else(|p| p.into_inner()) = (users, now);
                self.verified
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                tracing::info!("users file reloaded");
            }
            Err(e) => tracing::warn!("users file not reloaded, keeping the previous users: {e}"),
        }
    }

    /// Checks an `Authorization` header. Err: the reason, in Elasticsearch's words.
    pub fn authenticate(&self, header: Option<&str>, path: &str) -> Result<Who, String> {
        if !self.enabled() {
            return Ok(Who::Anonymous);
        }
        let missing = || format!("missing authentication credentials for REST request [{path}]");
        let header = header.ok_or_else(missing)?;
        let (scheme, token) = header.trim().split_once(' ').ok_or_else(missing)?;
        let decoded = base64_decode(token.trim())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(missing)?;
        let (a, b) = decoded.split_once(':').ok_or_else(missing)?;
        if scheme.eq_ignore_ascii_case("basic") {
            if self.check_password(a, b) {
                return Ok(Who::User(a.to_string()));
            }
            return Err(format!(
                "unable to authenticate user [{a}] for REST request [{path}]"
            ));
        }
        if scheme.eq_ignore_ascii_case("apikey") {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            let hash = hex(&sha256(b.as_bytes()));
            let now = now_millis();
            if let Some(k) = keys.iter().find(|k| k.id == a) {
                if k.hash == hash && !k.invalidated && k.expiration.is_none_or(|e| e > now) {
                    return Ok(Who::ApiKey {
                        id: k.id.clone(),
                        name: k.name.clone(),
                        owner: k.username.clone(),
                    });
                }
            }
            return Err(
                "unable to authenticate with provided credentials and anonymous access \
                        is not allowed for this request"
                    .into(),
            );
        }
        Err(missing())
    }

    fn check_password(&self, name: &str, password: &str) -> bool {
        let Some(hash) = self.lock_users().0.get(name).cloned() else {
            return false;
        };
        let digest = sha256(password.as_bytes());
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.get(name) == Some(&digest) {
            return true;
        }
        drop(verified);
        if bcrypt::verify(password, &hash).unwrap_or(false) {
            verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            verified.insert(name.to_string(), digest);
            return true;
        }
        false
    }

    /// A new API key for `owner`: (the stored key, its secret). The secret is not kept.
    pub fn create_key(
        &self,
        owner: &str,
        name: &str,
        expiration: Option<Duration>,
    ) -> Result<(ApiKey, String), String> {
        let id = b64url(uuid::Uuid::new_v4().as_bytes());
        let secret = b64url(uuid::Uuid::new_v4().as_bytes());
        let creation = now_millis();
        let key = ApiKey {
            id,
            name: name.to_string(),
            hash: hex(&sha256(secret.as_bytes())),
            creation,
            expiration: expiration.map(|d| creation + d.as_millis() as u64),
            invalidated: false,
            username: owner.to_string(),
        };
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.push(key.clone());
        self.save_keys(&keys)?;
        Ok((key, secret))
    }

    pub fn keys(&self) -> Vec<ApiKey> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Invalidates the keys `pick` selects: (newly invalidated ids, already invalidated ids).
    pub fn invalidate(
        &self,
        pick: impl Fn(&ApiKey) -> bool,
    ) -> Result<(Vec<String>, Vec<String>), String> {
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let (mut now, mut before) = (Vec::new(), Vec::new());
        for k in keys.iter_mut().filter(|k| pick(k)) {
            if k.invalidated {
                before.push(k.id.clone());
            } else {
                k.invalidated = true;
                now.push(k.id.clone());
            }
        }
        self.save_keys(&keys)?;
        Ok((now, before))
    }

    fn save_keys(&self, keys: &[ApiKey]) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(keys).map_err(|e| e.to_string())?;
        write_private(&self.keys_file, &text)
    }
}

/// Writes a file only its owner can read, atomically (temporary file, then rename).
fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Base64 without padding, URL alphabet: how Elasticsearch spells key ids and secrets.
fn b64url(data: &[u8]) -> String {
    rstash_net::base64(data)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// Standard or URL-safe base64, padded or not; None when it is not base64.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "elastic:changeme", "\u{1F600}:x"] {
            assert_eq!(
                base64_decode(&rstash_net::base64(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(
            rstash_net::base64(b"elastic:changeme"),
            "ZWxhc3RpYzpjaGFuZ2VtZQ=="
        );
        assert_eq!(base64_decode("not base64!"), None);
    }

    #[test]
    fn users_and_keys_authenticate() {
        let dir = tempfile::tempdir().unwrap();
        let sec = Security::open(dir.path()).unwrap();
        assert!(matches!(sec.authenticate(None, "/"), Ok(Who::Anonymous)));
        Security::add_user(dir.path(), "ann", "s3cret-pw").unwrap();
        assert!(sec.enabled(), "the users file is re-read when it changes");
        let basic = |u: &str, p: &str| {
            format!(
                "Basic {}",
                rstash_net::base64(format!("{u}:{p}").as_bytes())
            )
        };
        assert!(
            matches!(sec.authenticate(Some(&basic("ann", "s3cret-pw")), "/"), Ok(Who::User(u)) if u == "ann")
        );
        // Twice: the second is answered from the cache, and a wrong password still fails.
        assert!(sec
            .authenticate(Some(&basic("ann", "s3cret-pw")), "/")
            .is_ok());
        let e = sec
            .authenticate(Some(&basic("ann", "wrong")), "/x")
            .unwrap_err();
        assert_eq!(e, "unable to authenticate user [ann] for REST request [/x]");
        let e = sec.authenticate(None, "/x").unwrap_err();
        assert_eq!(
            e,
            "missing authentication credentials for REST request [/x]"
        );
        let (key, secret) = sec.create_key("ann", "ship", None).unwrap();
        let api = |id: &str, s: &str| {
            format!(
                "ApiKey {}",
                rstash_net::base64(format!("{id}:{s}").as_bytes())
            )
        };
        assert!(
            matches!(sec.authenticate(Some(&api(&key.id, &secret)), "/"), Ok(Who::ApiKey { owner, .. }) if owner == "ann")
        );
        assert!(sec.authenticate(Some(&api(&key.id, "nope")), "/").is_err());
        // Keys survive a restart, and an invalidated key no longer works.
        let again = Security::open(dir.path()).unwrap();
        assert!(again
            .authenticate(Some(&api(&key.id, &secret)), "/")
            .is_ok());
        let (now, _) = again.invalidate(|k| k.id == key.id).unwrap();
        assert_eq!(now, vec![key.id.clone()]);
        assert!(again
            .authenticate(Some(&api(&key.id, &secret)), "/")
            .is_err());
        let text = std::fs::read_to_string(dir.path().join("users")).unwrap();
        assert!(text.starts_with("ann:$2"), "{text}");
        assert!(Security::add_user(dir.path(), "bad:name", "longenough").is_err());
        assert!(Security::add_user(dir.path(), "bob", "short").is_err());
    }
}
