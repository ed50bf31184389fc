"""Throwaway PKI for the test control plane, made with the ``openssl`` CLI.

Why openssl and not a Python library: the harness may only depend on the stdlib, the
``kubernetes`` client and PyYAML, and openssl is on every machine image here. ECDSA P-256
keys keep generation at a few milliseconds each, so every control plane gets fresh keys.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key on disk (PEM)."""

    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("openssl CLI not found: install Debian's openssl package")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def _ec_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


class PKI:
    """A CA plus the leaf certificates the control plane needs, all under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = CertPair(self.dir / "ca.crt", self.dir / "ca.key")
        _ec_key(self.ca.key)
        _openssl(
            "req", "-x509", "-new", "-key", str(self.ca.key), "-out", str(self.ca.cert),
            "-days", "3650", "-subj", "/CN=store-platform-test-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )  # fmt: skip

    def issue(
        self,
        name: str,
        common_name: str,
        *,
        organizations: tuple[str, ...] = (),
        server_sans: tuple[str, ...] = (),
    ) -> CertPair:
        """Issue a leaf cert: a serving cert when ``server_sans`` is given, else a client cert.

        Kubernetes maps a client cert's CN to the user name and each O to a group, which is
        how the admin (``system:masters``) and the component identities are expressed.
        """
        pair = CertPair(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        _ec_key(pair.key)
        csr = self.dir / f"{name}.csr"
        subj = "".join(f"/O={o}" for o in organizations) + f"/CN={common_name}"
        _openssl("req", "-new", "-key", str(pair.key), "-out", str(csr), "-subj", subj)
        ext = self.dir / f"{name}.ext"
        lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature"]
        if server_sans:
            lines.append("extendedKeyUsage=serverAuth")
            lines.append("subjectAltName=" + ",".join(server_sans))
        else:
            lines.append("extendedKeyUsage=clientAuth")
        ext.write_text("\n".join(lines) + "\n")
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.ca.cert), "-CAkey", str(self.ca.key),
            "-CAcreateserial", "-out", str(pair.cert), "-days", "3650", "-extfile", str(ext),
        )  # fmt: skip
        csr.unlink()
        ext.unlink()
        return pair

    def service_account_keys(self) -> CertPair:
        """Key pair that signs ServiceAccount tokens (``cert`` holds the public key)."""
        pair = CertPair(self.dir / "sa.pub", self.dir / "sa.key")
        _ec_key(pair.key)
        _openssl("pkey", "-in", str(pair.key), "-pubout", "-out", str(pair.cert))
        return pair
