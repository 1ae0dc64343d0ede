"""Numbers from signed digits: commit a digit held steadily, end the number when the hand goes away.

Pure frame-by-frame logic (no I/O), fed one accepted label (or None) per frame by the live loop.
The label is the rejection rule's (`signcaps.signs.rejection`): None for a hand it rejects, "?"
(uncertain) or "none" (no sign) alike, so a rejected frame is never committed:

* a digit is committed when the same label has been shown for `hold` frames in a row (each of
  them accepted by the rule, so smoothing, "?" and "none" already filter flicker);
* a sign held on for longer is not repeated: the same digit commits again only after at least
  `gap` frames without it (hand lowered, "?" while it changes shape, or a hand that signs
  nothing - "none" - between two equal digits); a different digit commits as soon as it has
  been held for `hold` frames;
* the number is finished after `end` frames in a row without a hand (or at the end of the input):
  a hand showing "none" is still a hand, so it never ends the number.

With 30 fps input the defaults mean: hold a sign about 0.27 s, lower the hand about 0.67 s to end
the number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from signcaps.util.errors import UserError


class ComposeError(UserError, ValueError):
    """Compose settings that cannot work (one line)."""


@dataclass
class ComposeConfig:
    hold: int = 8  # frames a digit must be held to be committed
    gap: int = 2  # frames without the last committed digit before it may be committed again
    end: int = 20  # frames without a hand that finish the number

    def check(self) -> "ComposeConfig":
        if not 1 <= self.hold <= 300:
            raise ComposeError(f"--compose-hold must be 1 to 300 frames, got {self.hold}")
        if not 1 <= self.gap <= 300:
            raise ComposeError(f"--compose-gap must be 1 to 300 frames, got {self.gap}")
        if not 1 <= self.end <= 3000:
            raise ComposeError(f"--compose-end must be 1 to 3000 frames, got {self.end}")
        return self


@dataclass
class ComposeStep:
    """What one frame did: the digit committed now, the number finished now, the number being built."""

    committed: str | None
    finished: str | None
    building: str
    progress: float  # how far the current sign is towards being committed, 0..1

    def to_json(self) -> dict[str, Any]:
        return {"committed": self.committed, "finished": self.finished, "number": self.building}


@dataclass
class NumberComposer:
    cfg: ComposeConfig = field(default_factory=ComposeConfig)
    digits: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)  # every number finished so far
    _run_label: str | None = None
    _run: int = 0
    _blocked: str | None = None  # the digit just committed: no repeat until released
    _quiet: int = 0  # frames in a row without a confident label
    _no_hand: int = 0

    def update(self, label: str | None, hand: bool = True) -> ComposeStep:
        """One frame: `label` is the accepted class of the hand (None: no hand, or the rule rejected it:
        "?" or "none"); `hand` says whether a hand was there at all (only handless frames end a number)."""
        committed = done = None
        self._no_hand = 0 if hand else self._no_hand + 1
        if label is None:
            self._run_label, self._run = None, 0
            self._quiet += 1
            if self._quiet >= self.cfg.gap:
                self._blocked = None
        else:
            self._quiet = 0
            self._run = self._run + 1 if label == self._run_label else 1
            self._run_label = label
            if self._run == self.cfg.hold and label != self._blocked:
                self.digits.append(label)
                committed = self._blocked = label
        if self._no_hand >= self.cfg.end and self.digits:
            done = self._finish()
        counting = self._run_label is not None and self._run_label != self._blocked
        progress = min(1.0, self._run / self.cfg.hold) if counting else 0.0
        return ComposeStep(committed, done, "".join(self.digits), progress)

    def flush(self) -> str | None:
        """The end of the input finishes a number being built."""
        return self._finish() if self.digits else None

    def _finish(self) -> str:
        number = "".join(self.digits)
        self.digits = []
        self._blocked = None
        self.finished.append(number)
        return number


def compose_labels(labels: list[str | None], cfg: ComposeConfig | None = None) -> list[str]:
    """Numbers from a whole sequence of per-frame labels (None = no hand), flushed at the end."""
    composer = NumberComposer(cfg or ComposeConfig())
    for label in labels:
        composer.update(label, hand=label is not None)
    composer.flush()
    return composer.finished
