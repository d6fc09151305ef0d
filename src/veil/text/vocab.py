"""A bound on the memory a long-running analyzer's spaCy pipeline gathers.

spaCy adds every word it has not seen to its vocabulary (the ``StringStore``, a
``Lexeme`` per word, the tokenizer's cache) and never forgets it. In a service that
reads new notes all day, names, typos and identifiers are new words, so memory grows
without end: about 500 bytes a word, 14 MB per 30,000 new notes (measured here with
``en_core_web_sm``: 121,000 new strings per 10,000 notes of twelve random words, 61 MB).

:class:`VocabBound` watches the size of the vocabulary in use and, once it holds
``max_new`` strings more than the pipeline had when loaded, loads a fresh pipeline and
swaps it in. Why a rebuild rather than spaCy's ``memory_zone`` (3.8): a zone frees the
strings added inside it when it closes, which is only safe if no other thread adds
strings meanwhile; the analyzer is shared by every thread of a process, so zones would
have to serialize all analysis. A rebuild needs no lock:

* the fresh pipeline is loaded in a background thread (``spacy.load`` takes 0.5-2 s,
  which must not land on one request), while the old one keeps serving;
* the swap is one assignment of the engine's ``nlp`` mapping, done between analyses:
  a batch already running keeps a reference to the old pipeline and finishes on it; the
  next one starts on the fresh pipeline; the old one is freed when its last batch ends;
* results do not change: the pipeline is the same model loaded again, and what a
  pipeline tags does not depend on the words it saw before (spaCy's vocabulary is a
  cache of lexical attributes, recomputed for a new word); a test checks it;
* a rebuild that fails leaves the pipeline in use as it is (logged, never raised into
  an analysis), and the next check tries again.

After a swap the old pipeline's memory is collected and, on glibc, trimmed back to
the system, so a process's RSS levels off instead of growing
(``benchmarks/soak_text.py``; docs/free-text.md, "Memory in a long-running service").
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("veil.text")

#: strings a pipeline may add to its vocabulary before it is replaced (about 25 MB)
MAX_NEW_STRINGS = 50_000


def _release_memory() -> None:
    """Collect the replaced pipeline's cycles and hand the freed heap back to the
    system (glibc's ``malloc_trim``; elsewhere, nothing). Without the trim the freed
    pages stay in the allocator's arenas, fragmented by the words the fresh pipeline
    allocates meanwhile, and RSS creeps up by a few MB per rebuild."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class VocabBound:
    """Keeps ``engine.nlp[language]``'s vocabulary within ``max_new`` strings (default:
    :data:`MAX_NEW_STRINGS` when the bound is made) of its size when loaded, by swapping
    in ``load()`` (see the module docstring)."""

    def __init__(
        self,
        engine: Any,
        language: str,
        load: Callable[[], Any],
        max_new: int | None = None,
        background: bool = True,
    ) -> None:
        self._engine = engine
        self._language = language
        self._load = load
        self._max_new = MAX_NEW_STRINGS if max_new is None else max_new
        self._background = background
        self._limit = self._size() + self._max_new
        self._lock = threading.Lock()
        self._running = False
        #: pipelines swapped in so far (tests and benchmarks read it)
        self.rebuilds = 0

    def _size(self) -> int:
        return len(self._engine.nlp[self._language].vocab.strings)

    def check(self) -> None:
        """Start a rebuild if the vocabulary passed its bound and none is running.
        Cheap (a length read); called after every analysis."""
        if self._running or self._size() <= self._limit:
            return
        with self._lock:
            if self._running:
                return
            self._running = True
        if self._background:
            threading.Thread(target=self._rebuild, name="veil-vocab-rebuild", daemon=True).start()
        else:
            self._rebuild()

    def _rebuild(self) -> None:
        try:
            fresh = self._load()
            size = len(fresh.vocab.strings)
            # One assignment: a pipe already running holds the old pipeline.
            self._engine.nlp = {**self._engine.nlp, self._language: fresh}
            self._limit = size + self._max_new
            self.rebuilds += 1
            del fresh
            _release_memory()
        except Exception as exc:  # the pipeline in use stays; the next check retries
            log.warning("text vocabulary rebuild failed (%s)", type(exc).__name__)
        finally:
            self._running = False
