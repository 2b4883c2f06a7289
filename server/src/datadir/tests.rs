use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use openpact_ledger::Code;

use super::*;

fn temp_dir() -> (tempfile::TempDir, DataDir) {
    let t = tempfile::tempdir().unwrap();
    let dir = DataDir::at(t.path().join("data"));
    dir.ensure().unwrap();
    (t, dir)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            found.extend(temp_files(&entry.path()));
        } else if name.ends_with(".tmp") {
            found.push(name);
        }
    }
    found
}

/// Permission tests mean nothing to root, which may write anywhere.
fn running_as_root(test: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    if root {
        println!("skipping {test}: running as root, which ignores file permissions");
    }
    root
}

fn pact_id(c: char) -> String {
    c.to_string().repeat(64)
}

#[test]
fn flag_wins_over_env_and_env_over_home() {
    let flag = Some(PathBuf::from("/f"));
    let env = Some(OsString::from("/e"));
    let home = Some(OsString::from("/h"));
    assert_eq!(
        choose_root(flag, env.clone(), home.clone()).unwrap(),
        Path::new("/f")
    );
    assert_eq!(
        choose_root(None, env, home.clone()).unwrap(),
        Path::new("/e")
    );
    assert_eq!(
        choose_root(None, None, home.clone()).unwrap(),
        Path::new("/h/.openpact")
    );
    assert_eq!(
        choose_root(None, Some(OsString::new()), home).unwrap(),
        Path::new("/h/.openpact")
    );
}

#[test]
fn an_empty_flag_or_no_home_is_a_clear_error() {
    let e = choose_root(Some(PathBuf::new()), None, None).unwrap_err();
    assert!(e.message.starts_with("The --data-dir path is empty."));
    let e = choose_root(None, None, Some(OsString::new())).unwrap_err();
    assert!(
        e.message
            .contains("Pass --data-dir or set OPENPACT_DATA_DIR")
    );
}

#[test]
fn resolve_makes_a_relative_flag_absolute_without_creating_it() {
    let dir = DataDir::resolve(Some(PathBuf::from("no-such-dir/x"))).unwrap();
    assert!(dir.root().is_absolute());
    assert_eq!(
        dir.root(),
        std::env::current_dir().unwrap().join("no-such-dir/x")
    );
    assert!(!dir.root().exists());
}

#[test]
fn paths_sit_where_the_architecture_says() {
    let dir = DataDir::at("/d");
    assert_eq!(dir.socket_path(), Path::new("/d/openpact.sock"));
    assert_eq!(dir.pid_path(), Path::new("/d/pid"));
    assert_eq!(dir.log_path(), Path::new("/d/logs/daemon.log"));
    assert_eq!(dir.daemon_json_path(), Path::new("/d/daemon.json"));
    assert_eq!(dir.pact_dir("a"), Path::new("/d/pacts/a"));
    assert_eq!(dir.config_path("a"), Path::new("/d/pacts/a/config.json"));
    assert_eq!(dir.member_key_path("a"), Path::new("/d/pacts/a/member.key"));
}

#[test]
fn ensure_creates_private_directories_and_is_idempotent() {
    let (_t, dir) = temp_dir();
    for d in [dir.root().to_owned(), dir.pacts_dir(), dir.logs_dir()] {
        assert!(d.is_dir(), "{}", d.display());
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    dir.ensure().unwrap();
}

#[test]
fn ensure_on_a_read_only_directory_names_it() {
    if running_as_root("ensure_on_a_read_only_directory_names_it") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = DataDir::at(t.path().join("data"));
    fs::create_dir(dir.root()).unwrap();
    fs::set_permissions(dir.root(), fs::Permissions::from_mode(0o500)).unwrap();
    let e = dir.ensure().unwrap_err();
    fs::set_permissions(dir.root(), fs::Permissions::from_mode(0o700)).unwrap();
    assert!(
        e.message.starts_with(&format!(
            "The directory {} is not writable",
            dir.root().display()
        )),
        "{e}"
    );
    assert!(!dir.pacts_dir().exists());
}

#[test]
fn a_missing_daemon_file_loads_as_empty() {
    let (_t, dir) = temp_dir();
    assert_eq!(dir.load().unwrap(), DaemonFile::default());
}

#[test]
fn daemon_file_round_trips_and_keeps_unknown_keys() {
    let (_t, dir) = temp_dir();
    let path = dir.daemon_json_path();
    fs::write(
        &path,
        r#"{"apiToken":null,"currentAlias":null,"pacts":[],"newerField":[1,2]}"#,
    )
    .unwrap();
    let entry = PactEntry::new("team", pact_id('a'));
    dir.update(|f| {
        f.pacts.push(entry.clone());
        f.current_alias = Some("team".into());
        f.port = Some(7666);
        Ok(())
    })
    .unwrap();
    let file = dir.load().unwrap();
    assert_eq!(file.pacts, [entry]);
    assert_eq!(file.current_alias.as_deref(), Some("team"));
    assert_eq!(file.port, Some(7666));
    assert_eq!(file.other["newerField"], serde_json::json!([1, 2]));
    let raw: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(raw["newerField"], serde_json::json!([1, 2]));
    assert_eq!(raw["pacts"][0]["pactId"], pact_id('a'));
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn update_writes_nothing_when_the_closure_fails() {
    let (_t, dir) = temp_dir();
    let e = dir
        .update(|f| -> Result<()> {
            f.current_alias = Some("x".into());
            Err(ApiError::bad_request("No."))
        })
        .unwrap_err();
    assert_eq!(e.message, "No.");
    assert!(!dir.daemon_json_path().exists());
}

#[test]
fn update_without_a_change_does_not_rewrite_the_file() {
    let (_t, dir) = temp_dir();
    dir.update(|f| {
        f.port = Some(1);
        Ok(())
    })
    .unwrap();
    let before = fs::metadata(dir.daemon_json_path()).unwrap().ino();
    let port = dir.update(|f| Ok(f.port)).unwrap();
    assert_eq!(port, Some(1));
    assert_eq!(fs::metadata(dir.daemon_json_path()).unwrap().ino(), before);
}

#[test]
fn concurrent_updates_all_land() {
    let (_t, dir) = temp_dir();
    std::thread::scope(|s| {
        for i in 0..16 {
            let dir = &dir;
            s.spawn(move || {
                dir.update(|f| {
                    f.pacts.push(PactEntry::new(format!("p{i}"), pact_id('b')));
                    Ok(())
                })
                .unwrap();
            });
        }
    });
    let file = dir.load().unwrap();
    assert_eq!(file.pacts.len(), 16);
    for i in 0..16 {
        assert!(file.alias_taken(&format!("p{i}")));
    }
}

#[test]
fn atomic_writes_leave_no_temp_file() {
    let (_t, dir) = temp_dir();
    dir.ensure_token().unwrap();
    for i in 0..5 {
        dir.update(|f| {
            f.port = Some(i);
            Ok(())
        })
        .unwrap();
    }
    dir.write_config("a", &PactConfig::new(pact_id('a')))
        .unwrap();
    dir.write_config("a", &PactConfig::new(pact_id('b')))
        .unwrap();
    dir.create_member_seed("a").unwrap();
    write_pid(&dir, 1).unwrap();
    assert_eq!(temp_files(dir.root()), Vec::<String>::new());
}

#[test]
fn a_corrupt_daemon_file_is_an_error_and_is_left_byte_identical() {
    let (_t, dir) = temp_dir();
    let path = dir.daemon_json_path();
    let corrupt = b"{\"apiToken\": \"abc\", \"pacts\": [";
    fs::write(&path, corrupt).unwrap();
    let e = dir.load().unwrap_err();
    assert_eq!(e.code, Code::Internal);
    assert!(
        e.message
            .starts_with(&format!("{} is not valid JSON (", path.display())),
        "{e}"
    );
    assert!(e.message.ends_with("Fix or move it; it was left as it is."));
    let e = dir
        .update(|f| {
            f.pacts.clear();
            Ok(())
        })
        .unwrap_err();
    assert!(e.message.contains(&path.display().to_string()));
    assert!(dir.ensure_token().is_err());
    assert!(dir.list().is_err());
    assert_eq!(fs::read(&path).unwrap(), corrupt);
}

#[test]
fn a_daemon_file_of_the_wrong_shape_is_an_error_too() {
    let (_t, dir) = temp_dir();
    let path = dir.daemon_json_path();
    fs::write(&path, br#"{"pacts": 5}"#).unwrap();
    let e = dir.update(|_| Ok(())).unwrap_err();
    assert!(
        e.message.contains("does not hold the expected fields"),
        "{e}"
    );
    assert_eq!(fs::read(&path).unwrap(), br#"{"pacts": 5}"#);
}

#[test]
fn update_in_a_read_only_directory_fails_naming_the_file_and_changes_nothing() {
    if running_as_root("update_in_a_read_only_directory_fails_naming_the_file_and_changes_nothing")
    {
        return;
    }
    let (_t, dir) = temp_dir();
    dir.update(|f| {
        f.port = Some(1);
        Ok(())
    })
    .unwrap();
    let path = dir.daemon_json_path();
    let before = fs::read(&path).unwrap();
    fs::set_permissions(dir.root(), fs::Permissions::from_mode(0o500)).unwrap();
    let result = dir.update(|f| {
        f.port = Some(2);
        Ok(())
    });
    fs::set_permissions(dir.root(), fs::Permissions::from_mode(0o700)).unwrap();
    let e = result.unwrap_err();
    assert!(
        e.message
            .starts_with(&format!("Cannot write {} (", path.display())),
        "{e}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(temp_files(dir.root()), Vec::<String>::new());
}

#[test]
fn token_is_minted_once_as_64_lowercase_hex_in_a_0600_file() {
    let (_t, dir) = temp_dir();
    let token = dir.ensure_token().unwrap();
    assert!(is_lower_hex64(&token), "{token}");
    assert_eq!(dir.ensure_token().unwrap(), token);
    assert_eq!(
        dir.load().unwrap().api_token.as_deref(),
        Some(token.as_str())
    );
    assert_eq!(mode(&dir.daemon_json_path()), 0o600);
}

#[test]
fn a_malformed_token_is_replaced_and_other_fields_kept() {
    let (_t, dir) = temp_dir();
    for bad in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"a".repeat(65)] {
        dir.update(|f| {
            f.api_token = Some(bad.to_owned());
            f.current_alias = Some("keep".into());
            Ok(())
        })
        .unwrap();
        let token = dir.ensure_token().unwrap();
        assert!(is_lower_hex64(&token), "{bad:?} -> {token}");
        let file = dir.load().unwrap();
        assert_eq!(file.api_token, Some(token));
        assert_eq!(file.current_alias.as_deref(), Some("keep"));
    }
}

#[test]
fn a_valid_token_in_a_readable_file_is_kept_and_the_file_made_private() {
    let (_t, dir) = temp_dir();
    let path = dir.daemon_json_path();
    let token = "0123456789abcdef".repeat(4);
    fs::write(&path, format!(r#"{{"apiToken":"{token}","pacts":[]}}"#)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(dir.ensure_token().unwrap(), token);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn find_resolves_an_alias_first_then_a_pact_id() {
    let (_t, dir) = temp_dir();
    dir.update(|f| {
        f.pacts.push(PactEntry::new("one", pact_id('1')));
        // An alias equal to another pact's id shadows that id.
        f.pacts.push(PactEntry::new(pact_id('1'), pact_id('2')));
        Ok(())
    })
    .unwrap();
    let file = dir.load().unwrap();
    let id = |p: &str| DataDir::find(&file, p).map(|e| e.pact_id.clone());
    assert_eq!(id("one"), Some(pact_id('1')));
    assert_eq!(id(&pact_id('1')), Some(pact_id('2')));
    assert_eq!(id(&pact_id('2')), Some(pact_id('2')));
    assert_eq!(id("two"), None);
}

#[test]
fn config_round_trips_with_mode_0600_and_unknown_keys() {
    let (_t, dir) = temp_dir();
    let mut config = PactConfig::new(pact_id('c'));
    config.pact_name = Some("The Quiet Harbor".into());
    config.role = Some("creator".into());
    config.other.insert("claimTtlMs".into(), 1000.into());
    dir.write_config("harbor", &config).unwrap();
    assert_eq!(dir.read_config("harbor").unwrap(), config);
    assert_eq!(mode(&dir.config_path("harbor")), 0o600);
    assert_eq!(mode(&dir.pact_dir("harbor")), 0o700);
}

#[test]
fn config_of_a_bad_alias_is_refused_before_touching_the_disk() {
    let (_t, dir) = temp_dir();
    for alias in ["../escape", "", "A", "a/b"] {
        let e = dir
            .write_config(alias, &PactConfig::new(pact_id('c')))
            .unwrap_err();
        assert_eq!(e.code, Code::BadRequest);
        assert_eq!(dir.read_config(alias).unwrap_err().code, Code::BadRequest);
        assert_eq!(
            dir.create_member_seed(alias).unwrap_err().code,
            Code::BadRequest
        );
    }
    assert!(!dir.root().join("escape").exists());
    assert_eq!(fs::read_dir(dir.pacts_dir()).unwrap().count(), 0);
}

#[test]
fn a_missing_or_corrupt_config_names_the_file() {
    let (_t, dir) = temp_dir();
    let path = dir.config_path("gone");
    let e = dir.read_config("gone").unwrap_err();
    assert!(e.message.contains(&path.display().to_string()), "{e}");
    fs::create_dir_all(dir.pact_dir("gone")).unwrap();
    fs::write(&path, "not json").unwrap();
    let e = dir.read_config("gone").unwrap_err();
    assert!(
        e.message
            .starts_with(&format!("{} is not valid JSON", path.display())),
        "{e}"
    );
}

#[test]
fn member_seed_is_created_once_and_read_back() {
    let (_t, dir) = temp_dir();
    let seed = dir.create_member_seed("m").unwrap();
    let path = dir.member_key_path("m");
    assert_eq!(fs::read_to_string(&path).unwrap(), hex::encode(seed));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(dir.read_member_seed("m").unwrap(), seed);
    let e = dir.create_member_seed("m").unwrap_err();
    assert!(e.message.contains("already exists"), "{e}");
    assert_eq!(dir.read_member_seed("m").unwrap(), seed);
    assert_ne!(dir.create_member_seed("n").unwrap(), seed);
}

#[test]
fn a_missing_or_malformed_member_key_names_the_file() {
    let (_t, dir) = temp_dir();
    let path = dir.member_key_path("m");
    let e = dir.read_member_seed("m").unwrap_err();
    assert!(e.message.contains(&path.display().to_string()), "{e}");
    fs::create_dir_all(dir.pact_dir("m")).unwrap();
    for bad in ["", "abcd", &"z".repeat(64), &"a".repeat(66)] {
        fs::write(&path, bad).unwrap();
        let e = dir.read_member_seed("m").unwrap_err();
        assert!(e.message.contains("does not hold 64 hex characters"), "{e}");
        assert_eq!(fs::read_to_string(&path).unwrap(), bad);
    }
    // A trailing newline from an editor is fine.
    fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
    assert_eq!(dir.read_member_seed("m").unwrap(), [0xab; 32]);
}

#[test]
fn list_shows_registry_rows_with_config_fields_or_nulls() {
    let (_t, dir) = temp_dir();
    let mut config = PactConfig::new(pact_id('a'));
    config.pact_name = Some("Alpha".into());
    config.role = Some("creator".into());
    dir.write_config("alpha", &config).unwrap();
    dir.update(|f| {
        f.pacts.push(PactEntry::new("alpha", pact_id('a')));
        f.pacts.push(PactEntry::new("beta", pact_id('b')));
        f.current_alias = Some("beta".into());
        Ok(())
    })
    .unwrap();
    let list = dir.list().unwrap();
    assert_eq!(list.current.as_deref(), Some("beta"));
    let json = serde_json::to_value(&list).unwrap();
    let alpha = &json["pacts"][0];
    assert_eq!(alpha["alias"], "alpha");
    assert_eq!(alpha["pact_name"], "Alpha");
    assert_eq!(alpha["role"], "creator");
    assert_eq!(alpha["pact_purpose"], serde_json::Value::Null);
    assert_eq!(alpha["is_current"], false);
    assert_eq!(
        alpha["data_dir"],
        dir.pact_dir("alpha").display().to_string()
    );
    let beta = &json["pacts"][1];
    assert_eq!(beta["is_current"], true);
    for key in ["pact_name", "pact_purpose", "display_name", "role"] {
        assert_eq!(beta[key], serde_json::Value::Null, "{key}");
    }
}

#[test]
fn an_empty_host_lists_as_null_and_no_pacts() {
    let (_t, dir) = temp_dir();
    let json = serde_json::to_value(dir.list().unwrap()).unwrap();
    assert_eq!(json, serde_json::json!({"current": null, "pacts": []}));
}
