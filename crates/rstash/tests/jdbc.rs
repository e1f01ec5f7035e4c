//! The jdbc input against Debian's PostgreSQL server (a throwaway cluster on a free port) and
//! an SQLite file: typed columns, `:sql_last_value` with a tracking column across restarts,
//! parameters, paging, and a run-once statement that ends the pipeline.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, lines, wait_for, Rstash};

/// Runs a PostgreSQL binary as the `postgres` user when we are root (it refuses root).
fn pg_command(bin: &Path) -> Command {
    if common::is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn pg_bin(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL (Debian's postgresql package; scripts/install-peers.sh installs it)")
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no PostgreSQL {name}"))
}

/// A database server of a test's own, on 127.0.0.1, stopped when dropped; `query` runs SQL
/// through the server's own command-line client.
struct Db {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    query: fn(u16, &str) -> Option<String>,
}

impl Db {
    /// Waits until the server answers.
    fn ready(
        child: Child,
        port: u16,
        dir: tempfile::TempDir,
        query: fn(u16, &str) -> Option<String>,
    ) -> Db {
        let db = Db {
            child,
            port,
            _dir: dir,
            query,
        };
        wait_for("the database", Duration::from_secs(30), || {
            db.try_sql("SELECT 1").is_some()
        });
        db
    }

    fn try_sql(&self, sql: &str) -> Option<String> {
        (self.query)(self.port, sql)
    }

    fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|| panic!("SQL failed: {sql}"))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The output of a client run, when it succeeded.
fn client_output(c: &mut Command) -> Option<String> {
    let out = c.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A PostgreSQL server (Debian's postgresql) trusting connections from 127.0.0.1.
fn postgres() -> Db {
    let dir = tempfile::Builder::new()
        .prefix("rstash-pg")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(dir.path())
        .status()
        .unwrap();
    let _ = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir.path())
        .status();
    let st = pg_command(&pg_bin("initdb"))
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
        .arg(&data)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "initdb failed");
    let port = free_port();
    let child = pg_command(&pg_bin("postgres"))
        .arg("-D")
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-k",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Db::ready(child, port, dir, |port, sql| {
        client_output(Command::new(pg_bin("psql")).args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ]))
    })
}

/// The first three `orders` rows (the same in every database's test) as events, by id, with
/// the types both drivers give: bigint, decimal as float, double, boolean, text, timestamps,
/// dates as timestamps, NULL kept as null.
fn typed_orders(out: &Path) -> Vec<serde_json::Value> {
    wait_for("3 rows", Duration::from_secs(30), || lines(out).len() >= 3);
    let mut got = lines(out);
    got.sort_by_key(|e| e["id"].as_i64());
    let first = &got[0];
    assert_eq!(first["id"], 1);
    assert_eq!(first["big"], 9000000000i64);
    assert_eq!(first["price"], 12.5);
    assert_eq!(first["ratio"], 0.25);
    assert_eq!(first["paid"], true);
    assert_eq!(first["customer"], "ann");
    assert_eq!(first["created"], "2024-05-01T10:00:00.000Z");
    assert_eq!(first["day"], "2024-05-01T00:00:00.000Z");
    assert!(
        first["note"].is_null() && first.get("note").is_some(),
        "{first}"
    );
    got
}

#[test]
fn postgres_rows_become_typed_events_and_sql_last_value_tracks_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let pg = postgres();
    pg.sql(
        "CREATE TABLE orders (id serial PRIMARY KEY, qty int, big bigint, price numeric(10,2), ratio float8, \
         paid bool, customer text, created timestamptz, day date, meta jsonb, note varchar(20));
         INSERT INTO orders (qty, big, price, ratio, paid, customer, created, day, meta, note) VALUES
           (1, 9000000000, 12.50, 0.25, true, 'ann', '2024-05-01 10:00:00+00', '2024-05-01', '{\"a\": [1, 2]}', NULL),
           (2, 1, 0.01, 1.5, false, 'bob', '2024-05-02 11:30:00.123+00', '2024-05-02', '{}', 'x'),
           (3, -5, -3.75, 0, true, 'cy', '2024-05-03 00:00:00+02', '2024-05-03', 'null', 'y');",
    );
    let meta = dir.path().join("last_run");
    let cfg = format!(
        r#"input {{ jdbc {{
              jdbc_connection_string => "jdbc:postgresql://127.0.0.1:{}/postgres"
              jdbc_user => "postgres"
              jdbc_driver_library => "/opt/postgresql.jar"
              jdbc_driver_class => "org.postgresql.Driver"
              statement => "SELECT * FROM orders WHERE id > :sql_last_value AND customer <> :skip ORDER BY id"
              parameters => {{ "skip" => "nobody" }}
              use_column_value => true
              tracking_column => "id"
              schedule => "* * * * * *"
              last_run_metadata_path => "{}"
           }} }}
           output {{ file {{ path => "{}/out.json" codec => json_lines }} }}"#,
        pg.port,
        meta.display(),
        dir.path().display()
    );
    let rs = Rstash::start(&cfg, dir.path());
    let out = dir.path().join("out.json");
    let got = typed_orders(&out);
    assert_eq!(got[0]["qty"], 1);
    assert_eq!(got[0]["meta"], serde_json::json!({"a": [1, 2]}));
    assert_eq!(got[1]["created"], "2024-05-02T11:30:00.123Z");
    assert_eq!(got[2]["created"], "2024-05-02T22:00:00.000Z");
    assert_eq!(got[2]["price"], -3.75);

    pg.sql("INSERT INTO orders (qty, customer) VALUES (4, 'dee'), (5, 'eve')");
    wait_for("5 rows", Duration::from_secs(30), || lines(&out).len() >= 5);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        lines(&out).len(),
        5,
        "each row once: :sql_last_value moved past the delivered ids"
    );
    assert!(rs.stop().success());
    assert_eq!(std::fs::read_to_string(&meta).unwrap(), "--- 5\n");

    let rs = Rstash::start(&cfg, dir.path());
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        lines(&out).len(),
        5,
        "a restart resumes after the stored value"
    );
    pg.sql("INSERT INTO orders (qty, customer) VALUES (6, 'fay')");
    wait_for("row 6", Duration::from_secs(30), || lines(&out).len() >= 6);
    assert_eq!(lines(&out)[5]["customer"], "fay");
    assert!(rs.stop().success());
}

#[test]
fn sqlite_run_once_with_paging_and_explicit_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let con = rusqlite::Connection::open(&db).unwrap();
    con.execute_batch(
        "CREATE TABLE users (ID INTEGER PRIMARY KEY, Name TEXT, score REAL, blob BLOB, seen TEXT);
         INSERT INTO users (Name, score, blob, seen) VALUES ('a', 1.5, x'6869', '2024-01-01 00:00:00'),
           ('b', NULL, NULL, NULL), ('c', 3, NULL, NULL), ('d', 4, NULL, NULL), ('e', 5, NULL, NULL);",
    )
    .unwrap();
    drop(con);
    for (paging, n) in [
        (r#"jdbc_paging_enabled => true jdbc_page_size => 2"#, "auto"),
        (
            r#"jdbc_paging_enabled => true jdbc_paging_mode => "explicit" jdbc_page_size => 2"#,
            "explicit",
        ),
    ] {
        let sub = dir.path().join(n);
        std::fs::create_dir(&sub).unwrap();
        let statement = if n == "explicit" {
            "SELECT * FROM users ORDER BY ID LIMIT :size OFFSET :offset"
        } else {
            "SELECT * FROM users ORDER BY ID"
        };
        let cfg = format!(
            r#"input {{ jdbc {{ jdbc_connection_string => "jdbc:sqlite:{}" statement => "{statement}" {paging} record_last_run => false }} }}
               output {{ file {{ path => "{}/out.json" codec => json_lines }} }}"#,
            db.display(),
            sub.display()
        );
        let mut rs = Rstash::start(&cfg, &sub);
        wait_for("rstash to finish the run", Duration::from_secs(30), || {
            matches!(rs.child.try_wait(), Ok(Some(_)))
        });
        let mut got = lines(&sub.join("out.json"));
        // Two workers may reorder batches: order by id.
        got.sort_by_key(|e| e["id"].as_i64());
        let names: Vec<&str> = got.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"], "{n} paging");
        assert_eq!(got[0]["id"], 1, "lowercased column names");
        assert_eq!(got[0]["score"], 1.5);
        assert_eq!(got[0]["blob"], "hi");
        assert!(got[1]["score"].is_null());
        assert_eq!(got[2]["score"], 3.0);
    }
}

#[test]
fn an_unreachable_database_is_reported_and_does_not_crash() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = format!(
        r#"input {{ jdbc {{ jdbc_connection_string => "jdbc:postgresql://127.0.0.1:{port}/x" statement => "SELECT 1" connection_retry_attempts => 2 connection_retry_attempts_wait_time => 0.1 }} }}
           output {{ null {{}} }}"#
    );
    let mut rs = Rstash::start_with(
        &["--path.data", &dir.path().to_string_lossy()],
        &cfg,
        dir.path(),
    );
    wait_for("rstash to finish", Duration::from_secs(30), || {
        matches!(rs.child.try_wait(), Ok(Some(_)))
    });
    let logs = rs.logs();
    assert!(logs.contains("attempt 2 of 2"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

/// A MariaDB server (Debian's mariadb-server) without grant tables.
fn mariadb() -> Db {
    let dir = tempfile::Builder::new()
        .prefix("rstash-maria")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    let st = Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--skip-test-db"])
        .arg(format!("--datadir={}", data.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect(
            "mariadb-install-db (Debian's mariadb-server; scripts/install-peers.sh installs it)",
        );
    assert!(st.success(), "mariadb-install-db failed");
    let port = free_port();
    let child = Command::new("mariadbd")
        .args(["--no-defaults", "--user=root", "--skip-grant-tables"])
        .args(["--bind-address=127.0.0.1", "--skip-log-bin"])
        .arg(format!("--port={port}"))
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}/my.sock", dir.path().display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Db::ready(child, port, dir, |port, sql| {
        client_output(
            Command::new("mariadb")
                .args(["--no-defaults", "-h", "127.0.0.1", "-u", "root", "-N", "-B"])
                .arg(format!("--port={port}"))
                .args(["-e", sql]),
        )
    })
}

/// The jdbc input on MariaDB through a `jdbc:mysql://` URL, as a Logstash config written for
/// Connector/J names it: column types become event types as the driver gives them (TINYINT(1) a
/// boolean, DECIMAL a float, DATETIME and DATE timestamps), NULL stays null, and
/// `:sql_last_value` moves past what was delivered.
#[test]
fn mariadb_rows_become_typed_events_through_a_mysql_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = mariadb();
    db.sql(
        "CREATE DATABASE shop; USE shop;
         CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, qty int, big bigint, price decimal(10,2),
           ratio double, paid tinyint(1), customer varchar(20), created datetime(3), day date, note text);
         INSERT INTO orders (qty, big, price, ratio, paid, customer, created, day, note) VALUES
           (1, 9000000000, 12.50, 0.25, 1, 'ann', '2024-05-01 10:00:00', '2024-05-01', NULL),
           (2, 1, 0.01, 1.5, 0, 'bob', '2024-05-02 11:30:00.123', '2024-05-02', 'x'),
           (3, -5, -3.75, 0, 1, 'cy', '2024-05-03 00:00:00', '2024-05-03', 'y');",
    );
    let cfg = format!(
        r#"input {{ jdbc {{
              jdbc_connection_string => "jdbc:mysql://127.0.0.1:{}/shop?useSSL=false"
              jdbc_user => "root"
              jdbc_password => "unused"
              jdbc_driver_library => "/opt/mysql-connector-j.jar"
              jdbc_driver_class => "com.mysql.cj.jdbc.Driver"
              statement => "SELECT * FROM orders WHERE id > :sql_last_value ORDER BY id"
              use_column_value => true
              tracking_column => "id"
              schedule => "* * * * * *"
              last_run_metadata_path => "{}/last_run"
           }} }}
           output {{ file {{ path => "{}/out.json" codec => json_lines }} }}"#,
        db.port,
        dir.path().display(),
        dir.path().display()
    );
    let rs = Rstash::start(&cfg, dir.path());
    let out = dir.path().join("out.json");
    let got = typed_orders(&out);
    assert_eq!(got[1]["paid"], false);
    assert_eq!(got[1]["created"], "2024-05-02T11:30:00.123Z");
    assert_eq!(got[2]["price"], -3.75);
    db.sql("INSERT INTO shop.orders (qty, customer) VALUES (4, 'dee'), (5, 'eve')");
    wait_for("5 rows", Duration::from_secs(30), || lines(&out).len() >= 5);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(lines(&out).len(), 5, "each row once");
    assert!(rs.stop().success());
}

/// The TDS stand-in (tests/data/tds-stand-in.py, no SQL Server runs here): its port, and the
/// log of the logins and SQL batches it received.
fn sql_server(dir: &Path, user: &str, password: &str) -> (common::Killed, u16, PathBuf) {
    let certs = common::certs(dir);
    let (portfile, log) = (dir.join("tds.port"), dir.join("tds.log"));
    let child = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tds-stand-in.py"))
        .args([&portfile, &log, &certs.server_cert, &certs.server_key])
        .args([user, password])
        .spawn()
        .unwrap();
    let child = common::Killed(child);
    wait_for("the TDS stand-in", Duration::from_secs(10), || {
        portfile.exists()
    });
    let port = std::fs::read_to_string(&portfile).unwrap().parse().unwrap();
    (child, port, log)
}

fn tds_log(log: &Path) -> Vec<serde_json::Value> {
    lines(log)
}

/// The jdbc input on SQL Server through Microsoft's URL form, over TDS against a stand-in that
/// speaks the protocol (login encrypted as with `encrypt=false`): the credentials arrive,
/// column types become event types as the JDBC driver gives them, `:sql_last_value` is bound as
/// a SQL Server literal and tracks the id; a wrong password is logged, not a crash.
#[test]
fn sql_server_rows_become_typed_events_over_tds() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port, log) = sql_server(dir.path(), "logstash", "s3cr;et");
    let cfg = |password: &str, out: &str| {
        format!(
            r#"input {{ jdbc {{
              jdbc_connection_string => "jdbc:sqlserver://127.0.0.1:{port};databaseName=shop;encrypt=false;trustServerCertificate=true"
              jdbc_user => "logstash"
              jdbc_password => "{password}"
              jdbc_driver_class => "com.microsoft.sqlserver.jdbc.SQLServerDriver"
              statement => "SELECT * FROM orders WHERE id > :sql_last_value AND customer <> :skip ORDER BY id"
              parameters => {{ "skip" => "O'Neil" }}
              use_column_value => true
              tracking_column => "id"
              schedule => "* * * * * *"
              last_run_metadata_path => "{d}/last_run"
           }} }}
           output {{ file {{ path => "{d}/{out}" codec => json_lines }} }}"#,
            d = dir.path().display()
        )
    };
    let rs = Rstash::start(&cfg("s3cr;et", "out.json"), dir.path());
    let out = dir.path().join("out.json");
    let got = typed_orders(&out);
    assert_eq!(got[0]["qty"], 1);
    assert_eq!(got[0]["at"], "2024-05-01T10:00:00.000Z");
    assert_eq!(got[0]["legacy"], "2024-05-01T10:00:00.500Z");
    assert_eq!(got[0]["guid"], "6F9619FF-8B86-D011-B42D-00C04FC964FF");
    assert_eq!(got[1]["paid"], false);
    assert_eq!(got[1]["created"], "2024-05-02T11:30:00.123Z");
    assert_eq!(got[2]["price"], -3.75);
    assert_eq!(got[2]["at"], "2024-05-03T05:00:00.000Z");
    wait_for("a run after the last id", Duration::from_secs(30), || {
        tds_log(&log)
            .iter()
            .any(|e| e["sql"].as_str().is_some_and(|s| s.contains("id > 3")))
    });
    assert!(rs.stop().success());
    assert_eq!(lines(&out).len(), 3, "each row once");
    let entries = tds_log(&log);
    assert_eq!(
        entries[0],
        serde_json::json!({"login": "logstash", "database": "shop", "encrypted": false, "login_encrypted": true})
    );
    assert_eq!(
        entries[1]["sql"],
        "SELECT * FROM orders WHERE id > 0 AND customer <> N'O''Neil' ORDER BY id"
    );
    // A wrong password: SQL Server's refusal in the log, and the pipeline keeps running.
    let rs = Rstash::start(&cfg("wrong", "bad.json"), dir.path());
    wait_for("the refused login logged", Duration::from_secs(30), || {
        rs.logs().contains("Login failed for user 'logstash'")
    });
    let logs = rs.logs();
    assert!(rs.stop().success(), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

/// `encrypt=true` (the JDBC driver's default): everything over TLS, the user from `jdbc_user`
/// and the password from the URL; a run-once statement with
/// `jdbc_paging_enabled` pages with SQL Server's OFFSET … FETCH and binds the default
/// `:sql_last_value` (1970) as a SQL Server timestamp literal.
#[test]
fn sql_server_over_tls_pages_with_offset_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port, log) = sql_server(dir.path(), "sa", "pw");
    let cfg = format!(
        r#"input {{ jdbc {{
              jdbc_connection_string => "jdbc:sqlserver://localhost:{port};databaseName=shop;password=pw;encrypt=true;trustServerCertificate=true"
              jdbc_user => "sa"
              statement => "SELECT * FROM orders WHERE created > :sql_last_value"
              jdbc_paging_enabled => true
              jdbc_page_size => 2
              last_run_metadata_path => "{d}/last_run"
           }} }}
           output {{ file {{ path => "{d}/out.json" codec => json_lines }} }}"#,
        d = dir.path().display()
    );
    let mut rs = Rstash::start(&cfg, dir.path());
    wait_for("rstash to finish", Duration::from_secs(30), || {
        matches!(rs.child.try_wait(), Ok(Some(_)))
    });
    let out = lines(&dir.path().join("out.json"));
    assert_eq!(out.len(), 3, "{}", rs.logs());
    let entries = tds_log(&log);
    assert_eq!(entries[0]["encrypted"], true, "{entries:?}");
    let inner = "SELECT * FROM orders WHERE created > '1970-01-01T00:00:00.000'";
    let sql: Vec<&str> = entries.iter().filter_map(|e| e["sql"].as_str()).collect();
    assert_eq!(
        sql,
        [
            format!("SELECT * FROM ({inner}) AS t1 ORDER BY (SELECT 0) OFFSET 0 ROWS FETCH NEXT 2 ROWS ONLY"),
            format!("SELECT * FROM ({inner}) AS t1 ORDER BY (SELECT 0) OFFSET 2 ROWS FETCH NEXT 2 ROWS ONLY"),
        ]
    );
}
