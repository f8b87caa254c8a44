"""Which registry entry a file found on disk is: the file seen before, a copy of it, or a
new file with an identity of its own (see ``identity.py`` for the facts used).

For each file with a complete first line, in this order:

1. **The same file**: an entry last seen on its inode with its head (and not seen replaced
   there by its reader), followed by a reader or still holding what was read of it (at
   least the acknowledged offset's worth of bytes, and the bytes of its highest anchor). A
   file failing that is another one on a reused inode, or rewritten in place (a registry
   offset beyond the end of the file is that case).
2. **A copy** of an entry whose own file is gone (no file matched it in 1, nor at the
   round before, and no reader follows it): same head, on another inode, holding the bytes
   of the highest anchor it is long enough for, beyond its first line (a copy that is not
   taken for one only has its lines sent twice, under new ``_id``\\s; a file taken for a
   copy that is not one would have lines skipped, and the real file read again as a new
   one). A gzip is left alone otherwise, so the first line is enough there only for an
   entry read no further than it. "Nor at the round before": a rename while the
   directory is listed (the rotator shifting backups) can hide a file for one round, and
   another file with its first line must not take its identity meanwhile; a copy waits
   for that one round. Copy-truncate's copy, a gzip made by someone else, a file whose
   device number changed all keep their identity that way.
   An entry of a version 1 registry (no inode, no anchor) goes to the first file with its
   head and at least its offset's worth of bytes, at the entry's path first.
3. **Wait**: a plain backup that is a copy of a file still followed (copy-truncate seen
   between the copy and the truncation) is left for a later round.
4. **A new file**: a plain file gets the next generation on its inode and head. A gzip is
   left alone: compressed by us once every line was stored, or never ours.

Exactly once across restarts holds because each decision is taken again from the saved
registry and the files, and lands on the same identity: a file is only given a new one
when no saved entry is it, and identities are saved before any line is sent under them
(``tailer.py``), so a generation is never given twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from shipper.file_progress import FileProgress
from shipper.registry import FileRegistry
from shipper.source.files import Candidate
from shipper.source.identity import Anchor, Check, check_anchor

# Answers of "does this file (as it is now) hold this anchor" kept, before starting afresh.
CHECKS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class Match:
    candidate: Candidate
    progress: FileProgress


@dataclass(frozen=True, slots=True)
class Matches:
    """The files to follow, and the entries whose file could not be checked this round (its
    path was renamed meanwhile): they are neither followed nor forgotten until the next."""

    found: list[Match]
    unsure: set[str]


class _Unsure(Exception):
    """A file could not be checked (renamed meanwhile): decide at the next round."""


class FileMatcher:
    def __init__(self, registry: FileRegistry) -> None:
        self._registry = registry
        self._checks: dict[tuple[tuple[int, int, int, int], Anchor], Check] = {}
        # Entries no file was found to be at the last round: their file may be gone.
        self._missed: set[str] = set()

    async def match(self, candidates: Sequence[Candidate], followed: Collection[str]) -> Matches:
        """The registry entry of each candidate that is a file to follow (new entries are
        created); ``followed`` are the identities a reader follows now."""
        found: list[Match] = []
        unsure: set[str] = set()
        taken = set(followed)
        others: list[Candidate] = []
        known = self._registry.by_inode()
        for candidate in candidates:
            if candidate.head is None:
                continue
            progress = known.get((candidate.dev, candidate.ino, candidate.head.digest))
            if progress is None:
                others.append(candidate)
                continue
            try:
                same = progress.fingerprint in followed or await self._still_holds(
                    candidate, progress
                )
            except _Unsure:
                unsure.add(progress.fingerprint)
                taken.add(progress.fingerprint)
                continue
            if same:
                found.append(Match(candidate, progress))
                taken.add(progress.fingerprint)
            else:
                others.append(candidate)
        saved_paths = {p.path for p in self._registry if p.fingerprint not in taken}
        for candidate in sorted(others, key=lambda c: c.path not in saved_paths):
            try:
                identified = await self._identify(candidate, taken)
            except _Unsure:
                continue
            if identified is not None:
                found.append(Match(candidate, identified))
                taken.add(identified.fingerprint)
        self._missed = {p.fingerprint for p in self._registry if p.fingerprint not in taken}
        return Matches(found, unsure)

    async def _still_holds(self, candidate: Candidate, progress: FileProgress) -> bool:
        if not candidate.compressed and candidate.size < progress.acked:
            return False
        if not progress.anchors:
            return True
        return await self._check(candidate, progress.anchors[-1]) is Check.HOLDS

    async def _identify(self, candidate: Candidate, taken: set[str]) -> FileProgress | None:
        assert candidate.head is not None
        same_head = sorted(
            (
                p
                for p in self._registry
                if p.head == candidate.head.digest and (p.dev, p.ino) != candidate.inode
            ),
            key=lambda p: p.path != candidate.path,
        )
        for progress in same_head:
            # A removed file was stored whole: a copy of it holds nothing to read.
            if progress.fingerprint in taken or progress.removed:
                continue
            copied = await self._copied_up_to(candidate, progress)
            if copied is not None:
                if progress.fingerprint not in self._missed:
                    raise _Unsure(candidate.path)  # its own file may only be hidden this round
                # Anchors past the copy's end are of the original only.
                progress.keep_anchors_up_to(copied)
                progress.dev, progress.ino = candidate.dev, candidate.ino
                progress.replaced = False
                return progress
        if candidate.compressed:
            return None
        if not candidate.live:
            for progress in same_head:
                if progress.fingerprint in taken and progress.dev is not None:
                    if await self._copied_up_to(candidate, progress) is not None:
                        return None
        return self._registry.create(
            candidate.head.digest, candidate.dev, candidate.ino, candidate.path
        )

    async def _copied_up_to(self, candidate: Candidate, progress: FileProgress) -> int | None:
        """The offset up to which ``candidate`` is shown to be a copy of ``progress``'s file;
        None when it is not shown to be one."""
        assert candidate.head is not None
        if progress.dev is None:  # from a version 1 registry: the head is all there is
            return 0 if candidate.compressed or candidate.size >= progress.acked else None
        for anchor in reversed(progress.anchors):
            if not candidate.compressed and anchor.offset > candidate.size:
                continue
            check = await self._check(candidate, anchor)
            if check is Check.TOO_SHORT:
                continue
            beyond_head = anchor.offset > candidate.head.length or (
                candidate.compressed and progress.anchors[-1].offset <= candidate.head.length
            )
            return anchor.offset if check is Check.HOLDS and beyond_head else None
        return None

    async def _check(self, candidate: Candidate, anchor: Anchor) -> Check:
        """Does the candidate hold the anchor's bytes (raises _Unsure when it cannot tell)?"""
        key = (candidate.version, anchor)
        check = self._checks.get(key)
        if check is None:
            check = await asyncio.get_running_loop().run_in_executor(
                None, check_anchor, candidate.path, candidate.compressed, candidate.inode, anchor
            )
            if check is Check.UNSURE:
                raise _Unsure(candidate.path)
            if len(self._checks) >= CHECKS_KEPT:
                self._checks.clear()
            self._checks[key] = check
        return check
