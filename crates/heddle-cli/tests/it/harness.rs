//! Runs the `heddle` binary in a temp directory and talks to it over loopback.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_heddle");

/// A `heddle` command in `dir`, with test-only variables removed so the parent's
/// environment cannot leak into the configuration under test.
pub fn heddle(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HEDDLE_") {
            command.env_remove(key);
        }
    }
    command.env("HEDDLE_LOG__LEVEL", "warn");
    command
}

pub fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = heddle(dir);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = command.spawn().expect("spawn heddle");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running `heddle serve`, killed on drop if still running.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// What the server printed before it listened (bootstrap credentials, demo accounts).
    pub banner: Vec<String>,
    /// Where the server's logs (stderr) go.
    pub log_path: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let run_id = uuid::Uuid::new_v4();
        let ready_file = dir.join(format!("ready-{run_id}"));
        let log_path = dir.join(format!("heddle-{run_id}.log"));
        let log_file = std::fs::File::create(&log_path).unwrap();
        let mut command = heddle(dir);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready_file)
            .args(extra_args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = command.spawn().expect("spawn heddle serve");
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        // A generous bound on start-up so a broken build fails instead of hanging CI.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match lines_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.starts_with("Heddle is listening") => break,
                Ok(line) => banner.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = child.try_wait().unwrap() {
                        let logs = std::fs::read_to_string(&log_path).unwrap_or_default();
                        panic!(
                            "heddle serve exited early with {status}; printed {banner:?}; logs:\n{logs}"
                        );
                    }
                    assert!(Instant::now() < deadline, "heddle serve did not start");
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().unwrap();
                    let logs = std::fs::read_to_string(&log_path).unwrap_or_default();
                    panic!("heddle serve exited with {status}; printed {banner:?}; logs:\n{logs}")
                }
            }
        }
        let addr = std::fs::read_to_string(&ready_file).unwrap();
        Self {
            child,
            base: format!("http://{addr}"),
            banner,
            log_path,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The value after `label` in the start-up banner, e.g. `password:`.
    pub fn banner_value(&self, label: &str) -> Option<String> {
        self.banner.iter().find_map(|line| {
            line.trim()
                .strip_prefix(label)
                .map(|rest| rest.trim().to_owned())
        })
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap()
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }

    /// `kill -9`: the process gets no chance to finish anything.
    pub fn kill9(&mut self) {
        let status = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.wait();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&exit),
            Some(9),
            "{exit}"
        );
    }

    /// Waits until the server's stderr holds `line` `times` times (e.g. a failpoint's
    /// announcement), failing after `timeout`.
    pub async fn wait_for_log(&self, line: &str, times: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let logs = self.logs();
            if logs.lines().filter(|l| l.trim() == line).count() >= times {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{line}` did not appear {times} time(s) in the server's log:\n{logs}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    (dir, path)
}

pub async fn login(base: &str, tenant: &str, email: &str, password: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"tenant": tenant, "email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}
