"""Ports checked before anything starts: a taken one is a one-line error, not a process that
fails half-way through start-up (after Elasticsearch spent twenty seconds starting)."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PortClaim:
    port: int
    what: str  # "the API"
    option: str  # "--port"


class PortProblem(Exception):
    """A port that cannot be used; the message names it and the option to change."""


def check_ports(claims: Sequence[PortClaim]) -> None:
    """Raise PortProblem for the first port given twice, out of range, or already listened
    on at 127.0.0.1."""
    seen: dict[int, PortClaim] = {}
    for claim in claims:
        if not 0 < claim.port < 65536:
            raise PortProblem(f"{claim.option} {claim.port} is not a TCP port")
        if claim.port in seen:
            other = seen[claim.port]
            raise PortProblem(
                f"port {claim.port} is given to both {other.what} ({other.option}) and"
                f" {claim.what} ({claim.option})"
            )
        seen[claim.port] = claim
        if not _free(claim.port):
            raise PortProblem(
                f"port {claim.port} ({claim.what}, {claim.option}) is already in use;"
                f" stop what listens there or choose another with {claim.option}"
            )


def _free(port: int) -> bool:
    with socket.socket() as probe:
        # As the servers themselves bind: a port whose last connection lingers in TIME_WAIT
        # is free; one that something listens on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
