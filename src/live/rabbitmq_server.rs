//! The private RabbitMQ that `--spawn rabbitmq` starts: the Debian
//! package's server script with every file in a temporary folder, on free
//! loopback ports, with its own `epmd` (so that nothing outlives the run
//! and no system broker is disturbed). Dropping the guard stops the broker
//! (SIGTERM to its process group, SIGKILL after a grace period), stops its
//! epmd and removes the folder: on success, on error and on Ctrl-C alike.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where the Debian package keeps the server script itself (the one on
/// PATH, /usr/sbin/rabbitmq-server, switches to the `rabbitmq` user and
/// writes to /var/lib/rabbitmq, which a private broker must not).
const PACKAGE_SCRIPT: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// How long the broker may take to accept AMQP connections (it takes
/// 10 to 20 s on two busy cores).
const START_LIMIT: Duration = Duration::from_secs(90);

/// How long a stopping broker gets after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A RabbitMQ (and its epmd) this process started, with its folder.
pub struct SpawnedRabbit {
    server: Option<Child>,
    epmd: Option<Child>,
    folder: PathBuf,
    pub url: String,
    /// The server's version, from the folder name of the installed release.
    pub version: String,
}

/// The prefix of the temporary folder, followed by the process id: the
/// clean-up tests look for it.
pub const FOLDER_PREFIX: &str = "mqsim-live-rabbitmq-";

/// The server script: the package's own, else `rabbitmq-server` on PATH.
fn server_script() -> PathBuf {
    if Path::new(PACKAGE_SCRIPT).exists() {
        PathBuf::from(PACKAGE_SCRIPT)
    } else {
        PathBuf::from("rabbitmq-server")
    }
}

/// The `epmd` of the Erlang the server runs on.
fn epmd_program() -> PathBuf {
    for candidate in ["/usr/lib/erlang/bin/epmd", "/usr/bin/epmd"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    PathBuf::from("epmd")
}

/// The installed release's version (`rabbitmq_server-3.10.8`), or "".
fn installed_version() -> String {
    let found = std::fs::read_dir("/usr/lib/rabbitmq/lib")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_prefix("rabbitmq_server-").map(str::to_string)
        })
        .next();
    found.unwrap_or_default()
}

impl SpawnedRabbit {
    /// Starts a private broker and waits until it accepts AMQP
    /// connections; `stop` (Ctrl-C) cuts the wait short, and the guard
    /// then stops what has started.
    pub fn start(stop: &AtomicBool) -> Result<SpawnedRabbit, String> {
        let [amqp_port, dist_port, epmd_port] = free_ports()?;
        let folder =
            std::env::temp_dir().join(format!("{FOLDER_PREFIX}{}-{amqp_port}", std::process::id()));
        let mut rabbit = SpawnedRabbit {
            server: None,
            epmd: None,
            folder,
            url: format!("amqp://127.0.0.1:{amqp_port}/%2f"),
            version: installed_version(),
        };
        rabbit.write_config()?;
        rabbit.epmd = Some(
            Command::new(epmd_program())
                .args(["-port", &epmd_port.to_string()])
                .env("ERL_EPMD_ADDRESS", "127.0.0.1")
                // Names the folder, as the broker's processes do, so that
                // a leftover can be told apart from other epmds.
                .env("HOME", &rabbit.folder)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(|e| format!("cannot start epmd (Debian: apt-get install rabbitmq-server brings it): {e}"))?,
        );
        let f = |name: &str| rabbit.folder.join(name);
        let log = std::fs::File::create(f("server.log"))
            .map_err(|e| format!("cannot create {}: {e}", f("server.log").display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot open the broker's log: {e}"))?;
        let child = Command::new(server_script())
            .current_dir(&rabbit.folder)
            .env("HOME", &rabbit.folder)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env(
                "RABBITMQ_NODENAME",
                format!("mqsim-{}-{amqp_port}@localhost", std::process::id()),
            )
            .env("RABBITMQ_MNESIA_BASE", f("mnesia"))
            .env("RABBITMQ_LOG_BASE", f("log"))
            .env("RABBITMQ_CONFIG_FILE", f("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", f("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", f("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", f("rabbitmq.pid"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start rabbitmq-server (Debian: apt-get install rabbitmq-server): {e}"
                )
            })?;
        rabbit.server = Some(child);
        rabbit.wait_ready(amqp_port, stop)?;
        Ok(rabbit)
    }

    /// The configuration files, in the temporary folder.
    fn write_config(&self) -> Result<(), String> {
        std::fs::create_dir_all(&self.folder).map_err(|e| {
            format!(
                "cannot create the broker's folder {}: {e}",
                self.folder.display()
            )
        })?;
        let files = [
            ("enabled_plugins", "[].\n"),
            ("advanced.config", "[].\n"),
            // A run's broker needs no disk or memory alarm: a nearly full
            // temporary disk would otherwise block publishers.
            (
                "rabbitmq.conf",
                "disk_free_limit.absolute = 1\nvm_memory_high_watermark.relative = 0.9\n",
            ),
        ];
        for (name, text) in files {
            let path = self.folder.join(name);
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }

    fn wait_ready(&mut self, port: u16, stop: &AtomicBool) -> Result<(), String> {
        let deadline = Instant::now() + START_LIMIT;
        while Instant::now() < deadline {
            if stop.load(Ordering::SeqCst) {
                return Err("interrupted while rabbitmq-server was starting".into());
            }
            if let Some(child) = self.server.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.server = None;
                    return Err(format!(
                        "rabbitmq-server exited at start ({status}); its log: {}",
                        self.log_tail()
                    ));
                }
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "rabbitmq-server did not accept connections on 127.0.0.1:{port} within {} s; its log: {}",
            START_LIMIT.as_secs(),
            self.log_tail()
        ))
    }

    /// The last lines of the broker's output, for an error message.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.folder.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

/// Signals a whole process group (the script, beam.smp and its helpers).
fn signal_group(child: &Child, signal: i32) {
    let group = child.id() as i32;
    // SAFETY: kill(2) with a negative pid signals the process group this
    // guard created with process_group(0); it touches no memory.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// Whether any process of the group is left.
fn group_alive(child: &Child) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-(child.id() as i32), 0) == 0 }
}

/// Waits until every process of the child's group has exited (the child
/// itself reaped), up to `limit`; true when they all did.
fn wait_group(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let _ = child.try_wait();
        if !group_alive(child) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for SpawnedRabbit {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // beam.smp stops cleanly on SIGTERM within a second or two;
            // its helpers (erl_child_setup, inet_gethost) leave with it.
            signal_group(&server, libc::SIGTERM);
            if !wait_group(&mut server, STOP_GRACE) {
                signal_group(&server, libc::SIGKILL);
                wait_group(&mut server, Duration::from_secs(5));
            }
            let _ = server.wait();
        }
        if let Some(mut epmd) = self.epmd.take() {
            let _ = epmd.kill();
            let _ = epmd.wait();
        }
        sweep_helpers(&self.folder);
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Ends the Erlang helpers that left the broker's process group
/// (`erl_child_setup`, `inet_gethost` run in groups of their own and
/// usually exit a moment after beam.smp): every process whose environment
/// names the broker's folder (its HOME) is killed, and waited for up to
/// 5 s.
fn sweep_helpers(folder: &Path) {
    let needle = format!("HOME={}", folder.display());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_naming(&needle);
        if left.is_empty() || Instant::now() >= deadline {
            return;
        }
        for pid in left {
            // SAFETY: kill(2) on a process found by its environment.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes (other than this one) whose environment holds `entry`.
fn processes_naming(entry: &str) -> Vec<i32> {
    let own = std::process::id() as i32;
    let mut found = Vec::new();
    for process in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = process.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(environment) = std::fs::read(process.path().join("environ")) else {
            continue;
        };
        if environment
            .split(|b| *b == 0)
            .any(|variable| variable == entry.as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

/// Three distinct free loopback ports: bound together, so none repeats.
fn free_ports() -> Result<[u16; 3], String> {
    let bind = || {
        std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| format!("cannot find a free local port: {e}"))
    };
    let listeners = [bind()?, bind()?, bind()?];
    let mut ports = [0u16; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .map_err(|e| format!("cannot find a free local port: {e}"))?
            .port();
    }
    Ok(ports)
}
