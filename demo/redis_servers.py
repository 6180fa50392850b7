"""Redis as production runs it, made locally: TLS with certificates made here (openssl), an ACL user, a replica,
and Sentinel (`redis-server --sentinel`, the program Debian's redis-sentinel package starts).

Used by the tests and the benchmarks; everything is under one temporary directory, removed by `stop()`.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from demo.servers import free_port, wait_for

ACL_USER, ACL_PASSWORD = "trail-audit", "s3cret-acl-pass"


def make_certificates(directory: Path, name: str = "ca", names: str = "DNS:localhost,IP:127.0.0.1") -> Path:
    """A CA and a server certificate it signed, for `names` (localhost and 127.0.0.1); returns the CA file.
    The files are `<name>.crt` (the CA), `<name>-server.crt` and `<name>-server.key`."""
    ca_key, ca = directory / f"{name}.key", directory / f"{name}.crt"
    key, csr, crt = directory / f"{name}-server.key", directory / f"{name}-server.csr", directory / f"{name}-server.crt"
    ext = directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={names}\n")
    quiet = {"check": True, "capture_output": True}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
                    "-days", "2", "-subj", f"/CN=trail-audit test {name}"], **quiet)  # type: ignore[call-overload]  # fmt: skip
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", "/CN=localhost"], **quiet)  # type: ignore[call-overload]  # fmt: skip
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", crt, "-days", "2", "-extfile", ext], **quiet)  # type: ignore[call-overload]  # fmt: skip
    return ca


@dataclass
class Servers:
    """Redis processes sharing one temporary directory: `tls()`, `plain()`, `replica_of()`, `sentinel()`."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ta-redis-prod-")))
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _start(self, port: int, args: list[str], ready: str = "Ready to accept connections") -> int:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make setup` (it installs the Debian package)")
        data = self.directory / str(port)
        data.mkdir(exist_ok=True)
        log = data / "log"
        self.processes[port] = subprocess.Popen(
            [binary, *args, "--dir", str(data), "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: log.exists() and ready in log.read_text(), what=f"redis-server on {port}")
        return port

    def plain(self, *extra: str) -> int:
        """A redis-server on a free port (append-only), with an ACL user; returns its port."""
        port = free_port()
        acl = f"user {ACL_USER} on >{ACL_PASSWORD} ~* &* +@all"
        return self._start(port, ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                                  "--protected-mode", "no", *self._acl_file(port, acl), *extra])  # fmt: skip

    def _acl_file(self, port: int, *lines: str) -> list[str]:
        path = self.directory / f"users-{port}.acl"
        path.write_text("user default on nopass ~* &* +@all\n" + "".join(f"{line}\n" for line in lines))
        return ["--aclfile", str(path)]

    def tls(self, names: str = "DNS:localhost,IP:127.0.0.1") -> tuple[int, Path]:
        """A redis-server speaking only TLS, with the ACL user and a certificate for `names`; returns its port and
        the CA file that trusts it."""
        ca = make_certificates(self.directory, names=names)
        port = free_port()
        acl = f"user {ACL_USER} on >{ACL_PASSWORD} ~* &* +@all"
        args = ["--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--tls-cert-file", str(self.directory / "ca-server.crt"),
                "--tls-key-file", str(self.directory / "ca-server.key"),
                "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no", *self._acl_file(port, acl)]  # fmt: skip
        return self._start(port, args), ca

    def replica_of(self, primary: int) -> int:
        """A replica of the plain server on `primary`; returns its port once it is in sync."""
        port = self.plain("--replicaof", "127.0.0.1", str(primary))
        log = self.directory / str(port) / "log"
        wait_for(lambda: "MASTER <-> REPLICA sync: Finished with success" in log.read_text(), what="replica sync")
        return port

    def sentinel(self, master: str, primary: int, down_after_ms: int = 1000) -> int:
        """A Sentinel watching `primary` under the name `master` (quorum 1); returns its port."""
        port = free_port()
        conf = self.directory / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\nprotected-mode no\n"
            f"sentinel monitor {master} 127.0.0.1 {primary} 1\n"
            f"sentinel down-after-milliseconds {master} {down_after_ms}\n"
            f"sentinel failover-timeout {master} 5000\nsentinel parallel-syncs {master} 1\n"
        )
        return self._start(port, [str(conf), "--sentinel"], ready="+monitor master")

    def kill(self, port: int) -> None:
        """Kill one server at once (a host lost), leaving its files."""
        proc = self.processes.pop(port)
        proc.kill()
        proc.wait(10)

    def pause(self, port: int) -> None:
        """Make one server stop answering (SIGSTOP) until `resume`: a replica cut off from its primary."""
        self.processes[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        """Let a paused server answer again (SIGCONT)."""
        self.processes[port].send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop every server and remove the directory."""
        for proc in self.processes.values():
            proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.processes.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

