"""Words from fingerspelled letters: commit a letter held steadily, a space when the hand goes away.

Pure frame-by-frame logic (no I/O), fed by the live loop one frame at a time: the source time in
seconds, the first hand's landmarks (None without a hand), the letter the rejection rule accepted
(None when it rejected the hand: "?" or "none") and its longest letter capsule. Times are the
frames' own timestamps, so the same settings work at 10 fps and at 60 fps. The digits mode keeps
`signcaps.signs.compose.NumberComposer`; this is its counterpart for the letters:

* a letter is committed when the rule has accepted it on every frame for `hold_s` seconds while
  the hand stayed in place, on a frame where `MotionSpotter.moving()` is False: flicker, "?", "none"
  and the letters a hand passes through while it changes shape are shorter than that and commit
  nothing. In place: its centre (the mean of the 21 landmarks) within `steady` palm sizes of where
  the hold began. `moving()` only delays the commit, it does not restart the hold: it follows the
  fingertips too, so a change of handshape alone keeps it on for a while (about 0.5 s at 10 fps,
  measured), and a letter held 0.8 s would be lost;
* a letter held on is not repeated. The same letter commits again (a double letter) once the hand
  has slid or bounced (it travelled at least `slide` palm sizes away from where the letter was
  committed, then held still again for `hold_s`), or after `release_s` without it (hand lowered,
  "?" while it changes shape). A shaking hand travels too, but not that far: no double letter;
* a space is added when no hand has been seen for `space_s`, or a hand signed nothing ("none")
  for `rest_s`; never at the start of the text and never two in a row;
* J and Z move: the MotionSpotter watches the hand's track and names them on the frame the drawn
  shape completes. J starts from an I and Z from a D (index finger up), and a signer who pauses
  before drawing may have that letter committed first (or again, while the stroke slows down at
  its end): the drawn letter replaces the starting handshapes committed just before it, within
  the motion window.

`delete()` removes the last character and `clear()` everything (the live window's keys); after either,
no space is added until a letter has been shown again (else the hand still away would put back the
space just deleted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from signcaps.util.errors import UserError

if TYPE_CHECKING:  # numpy arrays pass through; the CLI's --help imports this module for its defaults
    import numpy as np

SPACE = " "
# The static handshape each moving letter starts from (ASL): replaced when the drawn letter follows it.
MOTION_START = {"J": ("I",), "Z": ("D", "G")}


class SpellError(UserError, ValueError):
    """Spelling settings that cannot work (one line)."""


@dataclass
class SpellConfig:
    """How long things take, in seconds of source time (CLI: --spell-hold, --spell-release, --spell-space)."""

    # a letter held steadily this long is committed: the test clips hold each letter 0.8 s, of which the hand's
    # first detection, the smoothing and the shape change took up to 0.4 s (0.4 here missed letters at 10 fps)
    hold_s: float = 0.3
    release_s: float = 0.3  # this long without the committed letter lets the same letter commit again
    space_s: float = 0.5  # this long without a hand adds a space
    rest_s: float = 1.0  # this long of a hand that signs nothing ("none") adds a space too
    slide: float = 0.5  # palm sizes (wrist to middle-finger base) a slide or bounce must reach for a double letter
    steady: float = 0.25  # palm sizes the hand's centre may drift while a letter is held

    def check(self) -> "SpellConfig":
        for value, flag in ((self.hold_s, "--spell-hold"), (self.release_s, "--spell-release"),
                            (self.space_s, "--spell-space"), (self.rest_s, "rest_s"), (self.slide, "slide"),
                            (self.steady, "steady")):
            if not (isinstance(value, (int, float)) and 0.01 <= value <= 60.0):  # NaN fails the comparison too
                raise SpellError(f"{flag} must be 0.01 to 60{' seconds' if flag.startswith('-') else ''}, got {value}")
        return self


class Spotter(Protocol):
    """What the speller needs from `signcaps.signs.motion.MotionSpotter` (the moving letters)."""

    def update(self, t: float, landmarks: np.ndarray | None, label: str | None,
               best: str | None) -> str | None: ...

    def moving(self) -> bool: ...

    def reset(self) -> None: ...


@dataclass
class SpellStep:
    """What one frame did: the character committed now (a letter or " "), the text so far, and how far
    the letter being held is towards being committed (0..1, for the overlay's bar)."""

    committed: str | None
    text: str
    progress: float

    def to_json(self) -> dict[str, Any]:
        return {"committed": self.committed, "text": self.text}


def default_spotter() -> Spotter:
    from signcaps.signs.motion import MotionSpotter

    return MotionSpotter()


@dataclass
class Speller:
    cfg: SpellConfig = field(default_factory=SpellConfig)
    spotter: Spotter = field(default_factory=default_spotter)
    chars: list[str] = field(default_factory=list)
    _run_label: str | None = None  # the letter held now
    _run_start: float | None = None  # since when it has been held still
    _run_at: tuple[float, float, float] | None = None  # (x, y, palm size) of the hand when the hold began
    _blocked: tuple[str, ...] = ()  # the letter just committed (a drawn one: its shapes): not again until released
    _blocked_seen: float = 0.0  # when the blocked letter was last shown
    _drawn: bool = False  # the block is a drawn J or Z's: only a release (no travel) lifts it
    _anchor: tuple[float, float, float] | None = None  # (x, y, palm size) of the hand when the block began
    _reach: float = 0.0  # the farthest the hand has been from the anchor since, in palm sizes
    _gone_since: float | None = None  # no hand since
    _rest_since: float | None = None  # a hand signing nothing since
    _stamps: list[float] = field(default_factory=list)  # when each character was committed
    _edited: bool = False  # deleted or cleared: no space is added until a letter is shown again

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def update(self, t: float, landmarks: np.ndarray | None, label: str | None, best: str | None = None,
               resting: bool = False) -> SpellStep:
        """One frame at source time `t` (seconds). `landmarks`: the first hand's (21, 2) pixels, None
        without a hand; `label`: the letter the rule accepted (None: rejected); `best`: its longest letter
        capsule even when rejected; `resting`: the rule said the hand signs nothing ("none")."""
        committed = self.spotter.update(t, landmarks, label, best)
        moving = self.spotter.moving()
        if committed is not None:
            self._commit_moving(committed, t)
        self._track_absence(t, landmarks is not None, resting and label is None)
        self._edited = self._edited and label is None
        if self._due_space(t):
            committed = self._append(SPACE, t)
        here = _where(landmarks)
        if label is None:  # no letter: nothing is being held
            self._run_label, self._run_start, self._run_at = label, None, None
        elif label != self._run_label or self._run_start is None or self._strayed(here):  # a new hold begins
            self._run_label, self._run_start, self._run_at = label, t, here
        if self._blocked:
            slid = moving and not self._drawn and self._travelled(here) >= self.cfg.slide
            if self._run_label in self._blocked and not slid:  # still shown (travelling or not)
                self._blocked_seen = t
            elif slid or t - self._blocked_seen >= self.cfg.release_s:  # a slide, a bounce or a release
                self._blocked = ()
        progress = 0.0
        if self._run_start is not None and self._run_label not in self._blocked:
            held = t - self._run_start
            if held >= self.cfg.hold_s - 1e-9 and not moving:
                committed = self._append(self._run_label, t)
                self._block((self._run_label,), t, anchor=here)
            else:
                progress = min(1.0, max(0.0, held / self.cfg.hold_s))
        return SpellStep(committed, self.text, progress)

    def _strayed(self, here: tuple[float, float, float] | None) -> bool:
        """Has the hand's centre left the place where the hold began (by more than `steady` palm sizes)?"""
        if here is None or self._run_at is None:
            return False
        x, y, size = self._run_at
        return math.hypot(here[0] - x, here[1] - y) / size > self.cfg.steady

    def _commit_moving(self, letter: str, t: float) -> None:
        """A drawn J or Z: it replaces the letters of its starting handshape committed just before it."""
        window = float(getattr(getattr(self.spotter, "cfg", None), "window_s", 1.2))
        starts = MOTION_START.get(letter, ())
        while self.chars and self.chars[-1] in starts and t - self._stamps[-1] <= window + self.cfg.hold_s:
            self.chars.pop()  # the I held before the J was drawn (or while its hook slowed down)
            self._stamps.pop()
        self._append(letter, t)
        self._block((letter, *MOTION_START.get(letter, ())), t, drawn=True)  # a J ends on an I: not an I too
        self._run_label = self._run_start = self._run_at = None

    def _block(self, letters: tuple[str, ...], t: float, drawn: bool = False,
               anchor: tuple[float, float, float] | None = None) -> None:
        """No repeat of `letters` until released; a drawn letter's travel (`drawn`) is no slide that releases."""
        self._blocked, self._blocked_seen, self._drawn = letters, t, drawn
        self._anchor, self._reach = anchor, 0.0

    def _travelled(self, here: tuple[float, float, float] | None) -> float:
        """The farthest the hand (`_where` of this frame) has been from where the blocked letter was
        committed, in palm sizes."""
        if here is not None and self._anchor is None:
            self._anchor = here
        elif here is not None and self._anchor is not None:
            x, y, size = self._anchor
            self._reach = max(self._reach, math.hypot(here[0] - x, here[1] - y) / size)
        return self._reach

    def _track_absence(self, t: float, hand: bool, resting: bool) -> None:
        self._gone_since = None if hand else (t if self._gone_since is None else self._gone_since)
        self._rest_since = (t if self._rest_since is None else self._rest_since) if resting else None

    def _due_space(self, t: float) -> bool:
        if not self.chars or self.chars[-1] == SPACE or self._edited:
            return False
        gone = self._gone_since is not None and t - self._gone_since >= self.cfg.space_s - 1e-9
        rest = self._rest_since is not None and t - self._rest_since >= self.cfg.rest_s - 1e-9
        return gone or rest

    def _append(self, char: str, t: float) -> str:
        self.chars.append(char)
        self._stamps.append(t)
        return char

    def delete(self) -> str:
        """Remove the last character (the window's backspace key); the same letter may be signed again."""
        if self.chars:
            self.chars.pop()
            self._stamps.pop()
        self._restart()
        return self.text

    def clear(self) -> None:
        """Start a new text (the window's clear key)."""
        self.chars.clear()
        self._stamps.clear()
        self._restart()
        self.spotter.reset()

    def _restart(self) -> None:
        """After an edit: the absent hand adds no space back, and the letter held on counts from now."""
        self._blocked, self._edited = (), True
        self._run_label = self._run_start = self._run_at = None

    def flush(self) -> str | None:
        """The text spelled, at the end of the input (trailing space left out); None when empty."""
        text = self.text.rstrip(SPACE)
        return text or None


def _where(landmarks: Any) -> tuple[float, float, float] | None:
    """(centre x, centre y, palm size) of a hand's (21, 2+) landmarks: the mean of the joints, and the wrist to
    the middle finger's base (it does not change with the handshape); None without a hand or a palm."""
    if landmarks is None or len(landmarks) < 21:
        return None
    xs, ys = [float(p[0]) for p in landmarks], [float(p[1]) for p in landmarks]
    size = math.hypot(xs[9] - xs[0], ys[9] - ys[0])
    return (sum(xs) / len(xs), sum(ys) / len(ys), size) if size > 0 and math.isfinite(size) else None


def spell_frames(frames: list[tuple[float, np.ndarray | None, str | None]], cfg: SpellConfig | None = None,
                 spotter: Spotter | None = None) -> str:
    """The text of a whole sequence of (time, landmarks or None, accepted letter or None) frames."""
    speller = Speller(cfg or SpellConfig(), spotter if spotter is not None else default_spotter())
    for t, landmarks, label in frames:
        speller.update(t, landmarks, label, label)
    return speller.flush() or ""
