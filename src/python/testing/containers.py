# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Real containers for tests and the bench: podman with runc, set up by build-support/containers
with its images, containers and configuration in a directory of its own.

    with podman_in(tmp_path / "podman") as podman:
        image = podman.load(oci_layout, "v1")
        assert podman.run(image, ["--help"]).returncode == 0
        server = podman.start(image, ["--port", str(port)], network="host")
        server.wait_for_port(port)

Containers run with a read-only root filesystem by default (podman mounts a tmpfs on /tmp), and
without a network unless `network="host"`. Everything is removed on the way out.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

# In a test sandbox, from the dependency on `//build-support:containers`.
CONTAINERS_SCRIPT = Path("build-support/containers")


def wait_for_port(port: int, timeout: float = 60.0, host: str = "127.0.0.1") -> None:
    """Returns once something accepts TCP connections on host:port; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepts connections on {host}:{port} after {timeout:.0f} s") from None
            time.sleep(0.05)


def container_args(
    image: str,
    args: Sequence[str] = (),
    *,
    read_only: bool = True,
    network: str = "none",
    env: Mapping[str, str] | None = None,
    entrypoint: str | None = None,
) -> list[str]:
    """`podman run` options, image and arguments: a read-only root filesystem (with a tmpfs on
    /tmp) unless read_only=False, network "none" or "host", extra environment, and the image's
    entrypoint replaced when `entrypoint` is given."""
    options = [f"--network={network}", *(["--read-only"] if read_only else [])]
    options += [arg for name, value in sorted((env or {}).items()) for arg in ("--env", f"{name}={value}")]
    options += ["--entrypoint", entrypoint] if entrypoint is not None else []
    return [*options, image, *args]


@dataclass(frozen=True)
class Container:
    """A container running in the background (see Podman.start)."""

    podman: Podman
    name: str

    def logs(self) -> str:
        return self.podman.podman("logs", self.name, check=False, stderr=subprocess.STDOUT).stdout

    def running(self) -> bool:
        state = self.podman.podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def wait_for_port(self, port: int, timeout: float = 60.0) -> None:
        """wait_for_port, which gives up early, with the container's output, if the container exits."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return wait_for_port(port, timeout=min(1.0, timeout))
            except TimeoutError:
                if not self.running():
                    raise AssertionError(f"container {self.name} exited before listening on port {port}; its output:\n{self.logs()}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"container {self.name} does not listen on port {port} after {timeout:.0f} s; its output:\n{self.logs()}") from None

    def stop(self) -> None:
        """Kills and removes the container: the app runs as PID 1, which ignores SIGTERM unless it handles it."""
        self.podman.podman("rm", "--force", "--time", "0", self.name, check=False)


@dataclass(frozen=True)
class Podman:
    """podman bound to one storage directory (see build-support/containers)."""

    env: Mapping[str, str]  # the process environment, with CONTAINERS_CONF and CONTAINERS_STORAGE_CONF

    def podman(self, *args: str, check: bool = True, timeout: float = 300.0, stderr: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["podman", *args], env=dict(self.env), stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"`podman {shlex.join(args)}` exited {done.returncode}:\n{done.stderr}")
        return done

    def _image_id(self, done: subprocess.CompletedProcess[str]) -> str:
        return done.stdout.strip().splitlines()[-1]  # pull prints the image ID last

    def load(self, oci_layout: Path, tag: str | None = None) -> str:
        """Stores the image `tag` of an OCI image layout directory (without a tag: its only image);
        returns its image ID."""
        return self._image_id(self.podman("pull", f"oci:{oci_layout}" + (f":{tag}" if tag else "")))

    def pull(self, reference: str) -> str:
        """Pulls from a registry (plain HTTP is allowed: tests use loopback registries); returns the image ID."""
        return self._image_id(self.podman("pull", "--tls-verify=false", reference))

    def run(self, image: str, args: Sequence[str] = (), *, timeout: float = 300.0, **options: Any) -> subprocess.CompletedProcess[str]:
        """Runs a container to its end and removes it; returns its exit code and output. On timeout
        the container is killed and subprocess.TimeoutExpired raised. `options`: container_args'."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        argv = ["podman", "run", "--rm", f"--name={name}", *container_args(image, args, **options)]
        try:
            return subprocess.run(argv, env=dict(self.env), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            Container(self, name).stop()
            raise

    def start(self, image: str, args: Sequence[str] = (), **options: Any) -> Container:
        """Starts a container in the background (a server: network="host" lets the host reach it).
        `options`: container_args'."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.podman("run", "--detach", f"--name={name}", *container_args(image, args, **options))
        return Container(self, name)

    def remove_all(self) -> None:
        """Removes every container (running ones are killed) and every image."""
        self.podman("rm", "--all", "--force", "--time", "0")
        self.podman("rmi", "--all", "--force")


@contextlib.contextmanager
def podman_in(directory: Path, driver: str = "overlay") -> Iterator[Podman]:
    """A Podman storing everything under `directory` with the storage `driver`, after
    `build-support/containers ensure` (which installs podman and runc when missing, or fails saying
    how). Resets that storage on the way out."""
    script = str(CONTAINERS_SCRIPT.resolve())
    ensured = subprocess.run([sys.executable, script, "ensure"], capture_output=True, text=True)
    assert ensured.returncode == 0, f"build-support/containers ensure failed:\n{ensured.stderr}"
    exported = subprocess.run([sys.executable, script, "env", "--dir", str(directory), "--driver", driver], capture_output=True, text=True)
    assert exported.returncode == 0, f"build-support/containers env failed:\n{exported.stderr}"
    env = dict(os.environ)
    for line in exported.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    podman = Podman(env)
    try:
        yield podman
    finally:
        # Unmounts and deletes the images and containers (a plain rm -r would meet busy mounts).
        podman.podman("system", "reset", "--force", check=False)
