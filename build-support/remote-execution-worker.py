# Copyright 2026 pex-release contributors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# A TEST STAND-IN for buildbox-worker, as SeaweedFS stands in for S3: no maintained REAPI worker
# installs on this machine kind, so build-support/remote-execution runs these to execute actions.
# Production uses a real worker instead: buildbox-worker + buildbox-run (with BuildGrid), Buildbarn's
# bb_worker + bb_runner, or the executors of BuildBuddy or EngFlow.
"""One REAPI bot: takes leases from BuildGrid's Bots service and runs each action in a sandbox.

    <BuildGrid's python> remote-execution-worker.py --remote grpc://127.0.0.1:PORT --instance NAME
        --dir DIR --name NAME [--python VERSION=INSTALL_ROOT ...]

It runs with BuildGrid's interpreter, for BuildGrid's bundled REAPI/Bots protos, CAS client and grpc.
Each action runs in new user, mount and pid namespaces, chrooted into a root that holds /usr, /etc and
/dev of this machine (read-only but /dev), the offered interpreters at /opt/rex/python<VERSION>, the
input root at /rex/work and an empty /tmp: the client's paths (its repository, $HOME, ~/.cache,
pyenv) do not exist there, so a command that leaks one fails instead of passing by accident. The
pid namespace dies with its first process, and that with this worker (--pdeathsig), so a worker
killed mid-action leaves nothing running, and BuildGrid re-queues the lease when the bot's session
expires.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import grpc
from google.protobuf import any_pb2
from buildgrid._protos.build.bazel.remote.execution.v2.remote_execution_pb2 import (
    Action,
    ActionResult,
    Command,
    Digest,
    OutputDirectory,
    OutputFile,
    OutputSymlink,
)
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc, worker_pb2
from buildgrid._protos.google.rpc import code_pb2
from buildgrid.server.client.cas import download, upload
from buildgrid.server.client.channel import setup_channel

WORK_DIR = "/rex/work"  # Where the input root is inside the sandbox.
HEARTBEAT_SECONDS = 5.0  # Between UpdateBotSession calls while an action runs (BuildGrid's keepalive is longer).
POLL_SECONDS = 30.0  # How long an UpdateBotSession without a lease may wait for one (a long poll).
# CreateBotSession long-polls for work too, unless its deadline is under 1.25 x BuildGrid's network
# timeout (3 s): then it returns the session at once, and the start of a worker is not 24 s long.
CREATE_SECONDS = 2.0
# REAPI's platform lexicon names x86_64 "x86-64"; Pants' and BuildGrid's OSFamily is "linux".
ISA = "x86-64" if platform.machine() == "x86_64" else platform.machine()


def log(message: str) -> None:
    print(f"remote-execution-worker: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str  # An absolute path inside the sandbox.
    read_only: bool = True


@dataclass(frozen=True)
class Sandbox:
    """How to build the filesystem view of an action, and run a command in it."""

    mounts: tuple[Mount, ...]

    def make_root(self, root: Path) -> None:
        root.mkdir(parents=True)
        for link in ("bin", "lib", "lib64", "sbin"):  # Debian's merged /usr.
            os.symlink(f"usr/{link}", root / link)
        # A file's mount point (ld.so.cache) is the file itself, inside an earlier mount (/etc).
        directories = [m.target.lstrip("/") for m in self.mounts if m.source.is_dir()]
        for directory in ("proc", "tmp", WORK_DIR.lstrip("/"), *directories):
            (root / directory).mkdir(parents=True, exist_ok=True)

    def argv(self, root: Path, command: Sequence[str], env: dict[str, str], cwd: str) -> list[str]:
        """unshare + a shell that mounts the view, then chroots into it and execs the command with env."""
        script = ["set -e"]
        for mount in self.mounts:
            target = shlex.quote(f"{root}{mount.target}")
            script.append(f"mount --rbind {shlex.quote(str(mount.source))} {target}")
            if mount.read_only:
                script.append(f"mount -o remount,bind,ro {target}")
        variables = [f"{name}={value}" for name, value in env.items()]
        script.append(shlex.join(["exec", "chroot", str(root), "/usr/bin/env", "-i", "-C", cwd, *variables, *command]))
        unshare = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child"]
        return ["setpriv", "--pdeathsig", "KILL", *unshare, f"--mount-proc={root}/proc", "sh", "-c", "\n".join(script)]

    def with_mount(self, mount: Mount) -> Sandbox:
        return Sandbox((*self.mounts, mount))


def base_sandbox(pythons: dict[str, Path]) -> Sandbox:
    system = [Mount(Path("/usr"), "/usr"), Mount(Path("/etc"), "/etc"), Mount(Path("/dev"), "/dev", read_only=False)]
    offered = [Mount(root, f"/opt/rex/python{version}") for version, root in sorted(pythons.items())]
    return Sandbox((*system, *offered))


def library_cache(sandbox: Sandbox, pythons: dict[str, Path], workdir: Path) -> Path:
    """An ld.so.cache that also lists the offered interpreters' libpython, mounted over /etc/ld.so.cache:
    pyenv's interpreters find it through a RUNPATH under the pyenv root, which the sandbox hides."""
    root, cache = workdir / "ld-root", workdir / "ld.so.cache"
    shutil.rmtree(root, ignore_errors=True)
    sandbox.make_root(root)
    lib_dirs = [f"/opt/rex/python{version}/lib" for version in sorted(pythons)]
    ldconfig = ["/usr/sbin/ldconfig", "-X", "-C", "/tmp/ld.so.cache", *lib_dirs]
    subprocess.run(sandbox.argv(root, ldconfig, {}, "/"), check=True)
    shutil.move(str(root / "tmp" / "ld.so.cache"), cache)
    shutil.rmtree(root)
    return cache


class Bot:
    """A bot session with one lease at a time, kept alive while its action runs."""

    def __init__(self, remote: str, instance: str, name: str, workdir: Path, sandbox: Sandbox) -> None:
        self.channel, _ = setup_channel(remote)
        self.instance, self.workdir, self.sandbox = instance, workdir, sandbox
        self.bots = bots_pb2_grpc.BotsStub(self.channel)
        device = worker_pb2.Device(handle=name)
        for key, value in (("OSFamily", "linux"), ("ISA", ISA)):
            device.properties.add(key=key, value=value)
        session = bots_pb2.BotSession(bot_id=f"{platform.node()}-{name}", status=bots_pb2.OK)
        session.worker.devices.append(device)
        self.session = self.bots.CreateBotSession(
            bots_pb2.CreateBotSessionRequest(parent=instance, bot_session=session), timeout=CREATE_SECONDS
        )
        log(f"bot session {self.session.name} open at {remote}")

    def update(self, timeout: float) -> None:
        request = bots_pb2.UpdateBotSessionRequest(name=self.session.name, bot_session=self.session)
        try:
            self.session = self.bots.UpdateBotSession(request, timeout=timeout)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:  # a long poll that found no work
                raise

    def lease(self, lease_id: str) -> bots_pb2.Lease | None:
        return next((lease for lease in self.session.leases if lease.id == lease_id), None)

    def serve(self) -> None:
        while True:
            states = (bots_pb2.PENDING, bots_pb2.ACTIVE)  # BuildGrid hands leases out ACTIVE already
            lease = next((lease for lease in self.session.leases if lease.state in states), None)
            if lease is None:
                self.update(timeout=POLL_SECONDS)
                continue
            if lease.state == bots_pb2.PENDING:
                lease.state = bots_pb2.ACTIVE
                self.update(timeout=POLL_SECONDS)
                if self.lease(lease.id) is None:  # cancelled meanwhile
                    continue
            self.run_lease(lease.id, lease.payload)

    def run_lease(self, lease_id: str, payload: any_pb2.Any) -> None:
        action_dir = self.workdir / "actions" / lease_id.replace("/", "_")
        shutil.rmtree(action_dir, ignore_errors=True)
        try:
            result, status = self.execute(payload, action_dir)
        except Exception as failure:  # A bad action or a CAS error fails the lease (BuildGrid retries it), not the bot.
            log(f"lease {lease_id} failed: {failure!r}")
            result, status = ActionResult(), code_pb2.INTERNAL
        finally:
            shutil.rmtree(action_dir, ignore_errors=True)
        lease = self.lease(lease_id)
        if lease is None:
            return
        lease.state = bots_pb2.COMPLETED
        lease.status.code = status
        lease.result.Pack(result)
        self.update(timeout=POLL_SECONDS)

    def execute(self, payload: any_pb2.Any, action_dir: Path) -> tuple[ActionResult, int]:
        with download(self.channel, instance=self.instance) as cas:
            action = Action()
            if not payload.Unpack(action):
                digest = Digest()
                if not payload.Unpack(digest):
                    raise ValueError(f"lease payload is neither an Action nor a Digest: {payload.type_url}")
                action = cas.get_message(digest, Action())
            command = cas.get_message(action.command_digest, Command())
            root = action_dir / "root"
            self.sandbox.make_root(root)
            cas.download_directory(action.input_root_digest, str(root / WORK_DIR.lstrip("/")))
        cwd = root / WORK_DIR.lstrip("/") / command.working_directory
        outputs = list(command.output_paths) or [*command.output_files, *command.output_directories]
        for output in outputs:
            (cwd / output).parent.mkdir(parents=True, exist_ok=True)
        env = {variable.name: variable.value for variable in command.environment_variables}
        argv = self.sandbox.argv(root, command.arguments, env, f"{WORK_DIR}/{command.working_directory}".rstrip("/"))
        timeout = action.timeout.ToTimedelta().total_seconds() or None
        stdout, stderr = action_dir / "stdout", action_dir / "stderr"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
            status = self.wait(proc, timeout)
        result = ActionResult(exit_code=proc.returncode if status == code_pb2.OK else -1)
        result.execution_metadata.worker = self.session.bot_id
        with upload(self.channel, instance=self.instance) as cas:
            result.stdout_digest.CopyFrom(cas.upload_file(str(stdout)))
            result.stderr_digest.CopyFrom(cas.upload_file(str(stderr)))
            for output in outputs:
                path = cwd / output
                if path.is_symlink():
                    result.output_symlinks.append(OutputSymlink(path=output, target=os.readlink(path)))
                elif path.is_file():
                    digest, executable = cas.upload_file(str(path)), os.access(path, os.X_OK)
                    result.output_files.append(OutputFile(path=output, digest=digest, is_executable=executable))
                elif path.is_dir():
                    tree = cas.upload_tree(str(path))
                    result.output_directories.append(OutputDirectory(path=output, tree_digest=tree))
            cas.flush()
        return result, status

    def wait(self, proc: subprocess.Popen, timeout: float | None) -> int:
        """Waits for the action, heartbeating; kills it on its timeout or when the lease goes away."""
        deadline = None if timeout is None else time.monotonic() + timeout
        lease_ids = {lease.id for lease in self.session.leases}
        while True:
            left = HEARTBEAT_SECONDS if deadline is None else min(HEARTBEAT_SECONDS, deadline - time.monotonic())
            try:
                proc.wait(max(0.0, left))
                return code_pb2.OK
            except subprocess.TimeoutExpired:
                pass
            if deadline is not None and time.monotonic() >= deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return code_pb2.DEADLINE_EXCEEDED
            self.update(timeout=POLL_SECONDS)
            if not lease_ids & {lease.id for lease in self.session.leases}:
                log("lease cancelled: killing its action")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return code_pb2.CANCELLED


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="remote-execution-worker.py", description=__doc__)
    parser.add_argument("--remote", required=True, help="BuildGrid's address, grpc://127.0.0.1:PORT")
    parser.add_argument("--instance", default="", help="REAPI instance name")
    parser.add_argument("--dir", type=Path, required=True, help="this worker's scratch dir (action roots)")
    parser.add_argument("--name", required=True, help="this worker's name, unique on the machine")
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="VERSION=INSTALL_ROOT",
        help="an interpreter to offer at /opt/rex/python<VERSION>/bin/python<VERSION> (repeatable)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    pythons = {version: Path(root) for version, root in (spec.split("=", 1) for spec in args.python)}
    args.dir.mkdir(parents=True, exist_ok=True)
    sandbox = base_sandbox(pythons)
    sandbox = sandbox.with_mount(Mount(library_cache(sandbox, pythons, args.dir), "/etc/ld.so.cache"))
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    Bot(args.remote, args.instance, args.name, args.dir, sandbox).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
