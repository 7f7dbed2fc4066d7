//! Certificates for a test https server, made with the `openssl` command at test time.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::run;

/// Which certificate an https server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCertificate {
    /// Valid for `127.0.0.1` and `localhost` for 30 days, signed by the test CA.
    Valid,
    /// Signed by the test CA for `127.0.0.1`, but its validity ended a day before it began.
    Expired,
    /// Valid for `127.0.0.1`, but signed by a CA nobody was told about.
    UnknownCa,
}

/// A test CA (`ca.pem`, the file to trust) and server certificates, in a directory.
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
}

impl TestPki {
    /// Makes a CA, a second CA nobody trusts, and one server key with a certificate of each
    /// [`ServerCertificate`] kind, under `dir`.
    pub fn create(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let pki = Self {
            dir: dir.to_owned(),
        };
        pki.make_ca("ca", "cfgupdate test CA")?;
        pki.make_ca("other-ca", "a CA nobody trusts")?;
        pki.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ])?;
        fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )?;
        pki.sign("ca", "valid.pem", "30")?;
        pki.sign("ca", "expired.pem", "-1")?;
        pki.sign("other-ca", "unknown-ca.pem", "30")?;
        Ok(pki)
    }

    fn openssl(&self, args: &[&str]) -> io::Result<String> {
        run(Command::new("openssl").current_dir(&self.dir).args(args))
    }

    fn make_ca(&self, name: &str, subject: &str) -> io::Result<()> {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "30",
            "-subj",
            &format!("/CN={subject}"),
        ])
        .map(drop)
    }

    fn sign(&self, ca: &str, out: &str, days: &str) -> io::Result<()> {
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            out,
            "-days",
            days,
            "-extfile",
            "server.ext",
        ])
        .map(drop)
    }

    /// The test CA's certificate: the file to give as `CFGUPDATE_GIT_CA_FILE`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server's private key.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The server certificate of `kind`.
    pub fn server_certificate(&self, kind: ServerCertificate) -> PathBuf {
        self.dir.join(match kind {
            ServerCertificate::Valid => "valid.pem",
            ServerCertificate::Expired => "expired.pem",
            ServerCertificate::UnknownCa => "unknown-ca.pem",
        })
    }
}
