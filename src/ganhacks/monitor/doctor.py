"""The doctor (ganhacks trick 10, "track failures early"): names a failing run from its metrics rows.

The doctor is a pure function of the stream of ``metrics.jsonl`` rows: the training loop feeds it
each row as it is logged, and ``ganhacks doctor RUN`` replays the file, so both see the same events.
Each detector watches one sign the seed lists, and raises a typed :class:`Event` once per episode:
when its condition has held for long enough, with the step where the evidence started, the numbers
behind it, and a hint naming the catalogue tricks to try. When the condition clears, a new episode
may be raised later.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ganhacks.config import DoctorConfig

HINTS: dict[str, str] = {
    "non_finite": "Lower optim.g.lr / optim.d.lr and check the data for NaN; doctor.action=rollback restores the "
    "last healthy checkpoint",
    "exploding_gradients": "Lower optim.g.lr / optim.d.lr, or try tricks.instance_noise or model.d_norm=layer",
    "d_wins": "D overpowers G: try tricks.label_smoothing, tricks.instance_noise or tricks.noisy_labels, a lower "
    "optim.d.lr (TTUR), or loss=nonsaturating",
    "g_fools_with_garbage": "G exploits a weak D: raise optim.d.lr or train.d_steps, or try tricks.replay or "
    "tricks.minibatch_discrimination",
    "mode_collapse": "Try tricks.minibatch_discrimination, tricks.minibatch_stddev, tricks.pack, tricks.replay, "
    "tricks.vae or a larger train.batch_size",
    "unstable": "Lower optim.g.lr / optim.d.lr, or try tricks.instance_noise, tricks.label_smoothing or tricks.swap",
    "stalled": "G's weights no longer move: check that optim.g.lr is not tiny and that D is not saturated (loss=nonsaturating)",
    "slow_collapse": "G keeps its precision but loses recall, a slow loss of variety: on MNIST the bench measured "
    "tricks.instance_noise and model.g_act=leaky_relu raising recall, a lower optim.d.lr can help, and tricks.pack "
    "cut recall on small image sets (docs/results.md)",
}
CODES = tuple(HINTS)
ADA_P = "trick/ada/p"  # ADA's augmentation probability, as the trick logs it
ADA_HIGH = 0.9  # a p above this leaves augmentation little more to give

# What doctor.action=rollback changes by default, per failure (doctor.remedy overrides it for all).
AUTO_REMEDIES: dict[str, list[str]] = {
    "non_finite": ["halve_lr"],
    "exploding_gradients": ["halve_lr"],
    "d_wins": ["halve_lr_d", "instance_noise"],
    "g_fools_with_garbage": ["halve_lr_g"],
    "mode_collapse": ["instance_noise"],
    "unstable": ["halve_lr"],
    "stalled": [],  # nothing to undo: a rollback cannot help, so the run stops instead
    "slow_collapse": ["instance_noise"],  # the bench's largest measured help to MNIST recall that a rollback can switch on
}


@dataclass
class Event:
    """One diagnosed failure."""

    code: str
    started: int  # the step of the first row whose evidence counts towards this event
    step: int  # the step at which it was raised
    evidence: dict[str, float]
    hint: str
    # The last step its sign was seen, once it has been gone for a whole window (or a rollback undid the
    # rows it was read from); None while it still holds. An event that ended is still a failure of the run.
    ended: int | None = None

    @property
    def message(self) -> str:
        numbers = ", ".join(f"{k}={_fmt(v)}" for k, v in self.evidence.items())
        until = f"; ended after step {self.ended}" if self.ended is not None else ""
        return f"doctor: {self.code} at step {self.step} (since step {self.started}; {numbers}{until}). {self.hint}."

    def to_json(self) -> dict[str, Any]:
        return {"event": self.code, **asdict(self), "message": self.message}


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _num(row: dict[str, Any], key: str) -> float | None:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


UNKNOWN = object()  # a detector's answer for a row that cannot tell


@dataclass
class _Streak:
    since: int | None = None
    count: int = 0
    raised: bool = False
    clear: int = 0  # rows without the sign since it was raised
    last: int | None = None  # the newest step that showed the sign


class Detector:
    """A condition on one row (and the history before it) that must hold on ``need`` rows in a row.

    :meth:`condition` returns the evidence (a dict of numbers) when the sign is there, None when it is
    not, and :data:`UNKNOWN` when the row cannot tell (a row without a probe), which neither extends
    nor breaks the streak.
    """

    code = ""
    slow = False  # slow detectors wait for the warm-up

    def __init__(self, cfg: DoctorConfig, info: dict[str, Any]):
        self.cfg, self.info = cfg, info
        self.need = cfg.window
        self.streak = _Streak()

    def condition(self, row: dict[str, Any], history: deque[dict[str, Any]]) -> dict[str, float] | None | object:
        raise NotImplementedError

    def update(self, row: dict[str, Any], history: deque[dict[str, Any]]) -> Event | None:
        evidence = self.condition(row, history)
        if evidence is UNKNOWN:
            return None
        s = self.streak
        if evidence is None:
            s.clear += 1
            # A raised episode ends only after the sign has been gone for a whole window, so a failure
            # that flickers around its threshold is reported once, not on every flicker.
            if not s.raised or s.clear >= self.cfg.window:
                self.streak = _Streak()
            return None
        s.clear = 0
        s.last = int(row["step"])
        if s.since is None:
            s.since = s.last
        s.count += 1
        if s.count >= self.need and not s.raised:
            s.raised = True
            return Event(self.code, s.since, int(row["step"]), evidence, self.hint(row))  # type: ignore[arg-type]
        return None

    def hint(self, row: dict[str, Any]) -> str:
        """What to try, as of the row that raised the event."""
        return HINTS[self.code]

    def warm_up(self, row: dict[str, Any]) -> None:
        """Called instead of :meth:`update` during the warm-up, for detectors that learn what is usual."""

    def state_dict(self) -> dict[str, Any]:
        """What this detector has learned so far (its streak, bests and baselines), as JSON-able values,
        so a resumed run raises exactly the events the uninterrupted run would."""
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            if key in ("cfg", "info"):
                continue
            if isinstance(value, _Streak):
                value = asdict(value)
            elif isinstance(value, deque):
                value = list(value)
            out[key] = value
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (keys this version does not know are ignored)."""
        for key, value in state.items():
            if key in ("cfg", "info") or not hasattr(self, key):
                continue
            current = getattr(self, key)
            if not isinstance(current, _Streak) and isinstance(current, dict) != isinstance(value, dict):
                continue  # written by a version that kept it in another shape (mode_collapse's one best coverage)
            if isinstance(current, _Streak):
                value = _Streak(**value)
            elif isinstance(current, deque):
                value = deque(value, maxlen=current.maxlen)
            setattr(self, key, value)

    @property
    def pending_since(self) -> int | None:
        """The step where a condition that still holds began (raised or not)."""
        return self.streak.since


class NonFinite(Detector):
    """NaN or Inf in a loss, a gradient norm, a D output or a weight."""

    code = "non_finite"
    KEYS = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "d_real", "d_fake")

    def __init__(self, cfg: DoctorConfig, info: dict[str, Any]):
        super().__init__(cfg, info)
        self.need = 1

    def condition(self, row, history):
        bad = {k: row[k] for k in self.KEYS if k in row and _num(row, k) is not None and not math.isfinite(row[k])}
        bad.update({k: row[k] for k in self.KEYS if k in row and row[k] is None})  # NaN written as null
        if row.get("doctor/finite") == 0.0:
            bad["weights_finite"] = 0.0
        for key in ("skipped_d", "skipped_g", "skipped_d_reg"):  # the share of updates the loop refused to apply
            if (_num(row, key) or 0.0) > 0.0:
                bad[key] = row[key]
        return {k: (float("nan") if v is None else v) for k, v in bad.items()} or None


class ExplodingGradients(Detector):
    """A global or per-layer gradient norm of G or D above ``grad_limit`` on two rows in a row."""

    code = "exploding_gradients"
    KEYS = ("grad_norm_d", "grad_norm_g", "grad_norm_d_layer", "grad_norm_g_layer")

    def __init__(self, cfg: DoctorConfig, info: dict[str, Any]):
        super().__init__(cfg, info)
        self.need = 2  # one averaged row over the limit can be a single bad batch

    def condition(self, row, history):
        norms = {k: _num(row, k) for k in self.KEYS}
        if any(v is not None and v > self.cfg.grad_limit for v in norms.values()):
            return {k: v for k, v in norms.items() if v is not None}
        return None


class DWins(Detector):
    """D separates real from fake almost perfectly: D(real) -> 1, D(fake) -> 0 (and D's loss -> 0)."""

    code = "d_wins"
    slow = True

    def condition(self, row, history):
        d_real, d_fake = _num(row, "d_real"), _num(row, "d_fake")
        if d_real is None or d_fake is None:
            return UNKNOWN
        if d_real - d_fake >= self.cfg.d_gap:
            evidence = {"d_real": d_real, "d_fake": d_fake, "loss_d": _num(row, "loss_d") or float("nan")}
            if (p := _num(row, ADA_P)) is not None:
                evidence["ada_p"] = p
            return evidence
        return None

    def hint(self, row: dict[str, Any]) -> str:
        p = _num(row, ADA_P)
        if p is None:
            if self.info.get("kind") == "2d":
                return HINTS[self.code]
            return HINTS[self.code] + "; on a small image data set, tricks.ada or tricks.diffaugment"
        if p >= ADA_HIGH:
            return (f"D overpowers G although ADA already augments at p={p:.2g}, near its limit: more data, a smaller "
                    "D (model.ndf), tricks.lecam or tricks.r1, or a lower optim.d.lr")  # fmt: skip
        return (f"D overpowers G and ADA's p={p:.2g} is still adjusting: it moves by tricks.ada.speed images from 0 to "
                "1, so lower tricks.ada.speed to let it react faster, or add tricks.lecam")  # fmt: skip


class GFoolsWithGarbage(Detector):
    """G's loss falls steadily while D rates fakes above reals and quality does not improve."""

    code = "g_fools_with_garbage"
    slow = True
    QUALITY = ("doctor/hq", "hq", "doctor/modes", "modes", "class_modes")  # higher is better

    def __init__(self, cfg: DoctorConfig, info: dict[str, Any]):
        super().__init__(cfg, info)
        self.need = 1

    def condition(self, row, history):
        rows = [*list(history)[-(self.cfg.trend - 1) :], row]
        losses = [_num(r, "loss_g") for r in rows]
        if len(rows) < self.cfg.trend or any(v is None or not math.isfinite(v) for v in losses):
            return None
        falls = sum(b < a for a, b in zip(losses, losses[1:], strict=False)) / (len(losses) - 1)
        gaps = [(_num(r, "d_fake") or 0.0) - (_num(r, "d_real") or 0.0) for r in rows[-self.cfg.window :]]
        if not (falls >= 0.6 and losses[-1] < 0.75 * losses[0] and min(gaps) >= self.cfg.fool_gap):
            return None
        for key in self.QUALITY:  # the first quality number seen at both ends of the window decides
            seen = [_num(r, key) for r in rows if _num(r, key) is not None]
            if len(seen) >= 2:
                if seen[-1] > seen[0] * 1.05 + 1e-9:
                    return None  # quality improves: G is learning, not fooling
                break
        return {"loss_g_first": losses[0], "loss_g": losses[-1], "d_fake": _num(row, "d_fake"), "d_real": _num(row, "d_real")}


def recall_lost(recall: float, best: float, cfg: DoctorConfig) -> bool:
    """mode_collapse's recall condition: below ``recall_fraction`` of a best of at least
    ``recall_min_best``, or below ``recall_floor`` when one is set."""
    if cfg.recall_floor is not None and recall < cfg.recall_floor:
        return True
    return best >= cfg.recall_min_best and recall < cfg.recall_fraction * best


class ModeCollapse(Detector):
    """G loses the variety it had: its fakes' diversity falls below ``diversity_floor`` of the real data's
    and below half the best it reached, or it covers under ``coverage_floor`` of the most modes (2D) or
    classes (eval rows) it once covered, after once covering at least that fraction of them all (the
    probe's mode count only while its recall is lost too, since blurred samples also lower it), or the
    probe's recall (the share of real samples that some fake's k-NN ball reaches) falls below
    ``recall_fraction`` of the best it reached (once that best is ``recall_min_best``), or below
    ``recall_floor`` when one is set.
    Judging against G's own best matters: early in training G covers few modes, or varies little,
    because it has not learned yet, which is not collapse."""

    code = "mode_collapse"
    slow = True

    def __init__(self, cfg: DoctorConfig, info: dict[str, Any]):
        super().__init__(cfg, info)
        self.best_diversity = 0.0
        # Per source: the probe's mode count (256 fakes, a mode needing 2 % of them) and an evaluation's
        # (thousands of samples, any high-quality one counts) measure coverage on different scales, so
        # each is judged against its own best. Mixing them made a probe's 7 modes look like a collapse
        # from an evaluation's 18 on a healthy grid25 run.
        self.best_covered: dict[str, float] = {}
        self.coverage_lost: dict[str, dict[str, float] | None] = {}
        self.best_recall = 0.0

    def _read(self, row: dict[str, Any]) -> tuple[float | None, tuple[str, float] | None]:
        keys = ("doctor/modes", "modes") if self.info.get("kind") == "2d" else ("class_modes",)
        source = next((k for k in keys if _num(row, k) is not None), None)
        covered = (source, float(row[source])) if source else None
        if covered:
            self.best_covered[covered[0]] = max(self.best_covered.get(covered[0], 0.0), covered[1])
        div = _num(row, "doctor/diversity")
        self.best_diversity = max(self.best_diversity, div if div is not None and math.isfinite(div) else 0.0)
        recall = _num(row, "doctor/recall")
        self.best_recall = max(self.best_recall, recall or 0.0)
        return div, covered

    def warm_up(self, row):
        self._read(row)

    def condition(self, row, history):
        div, covered = self._read(row)
        # On 2D data the mode count says what recall would, and recall itself swings with the blob an
        # early G draws (docs/doctor.md), so only image runs are judged by it.
        recall = _num(row, "doctor/recall") if self.info.get("kind") != "2d" else None
        if div is None and covered is None and recall is None:
            return UNKNOWN
        evidence: dict[str, float] = {}
        if recall is not None and recall_lost(recall, self.best_recall, self.cfg):
            evidence.update({"recall": recall, "best_recall": self.best_recall})
            if (precision := _num(row, "doctor/precision")) is not None:
                evidence["precision"] = precision
        if div is not None and div < self.cfg.diversity_floor and div < 0.5 * self.best_diversity:
            evidence.update({"diversity": div, "best_diversity": self.best_diversity})
        total = self.info.get("num_modes") if self.info.get("kind") == "2d" else self.info.get("num_classes")
        if covered is not None and total:
            (source, n), best = covered, self.best_covered[covered[0]]
            lost = best >= self.cfg.coverage_floor * total and n < self.cfg.coverage_floor * best
            probe_recall = _num(row, "doctor/recall") if source == "doctor/modes" else None
            if lost and probe_recall is not None and not recall_lost(probe_recall, self.best_recall, self.cfg):
                # The probe counts a mode once 2 % of its 256 fakes land on it with high quality, so the
                # count also falls when an early G's samples blur off the modes (a healthy ring8 run went
                # from 5 modes to 1 at HQ 0.05-0.15 while recall stayed at 0.8-0.98). Gathered samples
                # lose recall too; blurred ones still reach the real support, so recall tells them apart.
                lost = False
            self.coverage_lost[source] = {"covered": n, "best": best, "of": float(total)} if lost else None
        # A source's last reading stands until it is read again: an evaluation every few hundred steps
        # is not contradicted by the probe rows between two evaluations, which measure on their own scale.
        evidence.update(next((e for e in self.coverage_lost.values() if e), {}))
        return evidence or None


class Unstable(Detector):
    """The losses' row-to-row swings spike far above their recent size. A swing is the change between
    consecutive rows; the window's median swing is compared with the median over the last
    ``RECENT`` windows. Medians of changes ignore a single jump (a loss settling at a new level) and
    catch oscillation; a recent baseline follows a run whose losses start moving as G learns."""

    code = "unstable"
    slow = True
    RECENT = 20

    def __init__(self, cfg: DoctorConfig, info: dict[str, Any]):
        super().__init__(cfg, info)
        # One jump that D and G relax back from keeps a window's median swing high for as long as the
        # jump and its first recovery rows are inside it, and D's and G's lagged recoveries stretch
        # that to about a window (a healthy mnist5k baseline held it for 4 rows). Oscillation outlasts
        # the window that saw its first jump; a single excursion does not.
        self.need = cfg.window + 1
        self.baseline: deque[float] = deque(maxlen=self.RECENT)

    def condition(self, row, history):
        rows = [*list(history)[-self.cfg.window :], row]
        if len(rows) <= self.cfg.window:
            return None
        swings = []
        for key in ("loss_d", "loss_g"):
            values = [_num(r, key) for r in rows]
            if any(v is None or not math.isfinite(v) for v in values):
                return None
            swings.append(statistics.median(abs(b - a) for a, b in zip(values, values[1:], strict=False)))
        swing = max(swings)
        if len(self.baseline) < self.cfg.window:
            self.baseline.append(swing)
            return None
        usual = statistics.median(self.baseline)
        if swing > self.cfg.spike_factor * usual and swing > self.cfg.swing_floor:
            return {"loss_swing": swing, "usual_swing": usual}
        self.baseline.append(swing)  # a spike does not raise the bar for the next one
        return None


class Stalled(Detector):
    """G's weights stop moving between probes: nothing is being learned."""

    code = "stalled"
    slow = True

    def condition(self, row, history):
        change = _num(row, "doctor/g_change")
        if change is None:
            return UNKNOWN
        return {"g_change": change} if change < self.cfg.stall_tol else None


class SlowCollapse(Detector):
    """Recall drifts down over a long window while precision holds or rises: G narrows onto what it
    does well, the loss of variety that no single probe shows. Over the last ``collapse_trend``
    probes of an image run, recall's least-squares slope is negative and it fell by at least ``recall_drop`` of its
    level at the window's start, while precision stayed within 0.05 of its start or rose. Once recall
    is past mode_collapse's thresholds, that detector names it, so this one stays quiet: it is the
    early warning for a decline that no threshold has caught yet."""

    code = "slow_collapse"
    slow = True

    def __init__(self, cfg: DoctorConfig, info: dict[str, Any]):
        super().__init__(cfg, info)
        self.need = 1  # the window is the trend itself
        self.probes: deque[list[float]] = deque(maxlen=cfg.collapse_trend)  # [step, recall, precision]
        self.best_recall = 0.0

    def _read(self, row: dict[str, Any]) -> bool:
        recall, precision = _num(row, "doctor/recall"), _num(row, "doctor/precision")
        if recall is None or precision is None or self.info.get("kind") == "2d":  # images only, as in ModeCollapse
            return False
        self.probes.append([float(row["step"]), recall, precision])
        self.best_recall = max(self.best_recall, recall)
        return True

    def warm_up(self, row):
        self._read(row)

    def condition(self, row, history):
        if not self._read(row):
            return UNKNOWN
        if len(self.probes) < self.cfg.collapse_trend:
            return None
        if self.best_recall < self.cfg.recall_min_best or recall_lost(self.probes[-1][1], self.best_recall, self.cfg):
            return None  # too coarse to read a trend in, or mode_collapse's territory
        steps, recalls, precisions = zip(*self.probes, strict=True)
        mean_s, mean_r = statistics.fmean(steps), statistics.fmean(recalls)
        slope = sum((s - mean_s) * (r - mean_r) for s, r in zip(steps, recalls, strict=True)) / sum(
            (s - mean_s) ** 2 for s in steps
        )
        # Both ends as the mean of three probes: one noisy probe (256 fakes) should not make a trend.
        first_r, last_r = statistics.fmean(recalls[:3]), statistics.fmean(recalls[-3:])
        first_p, last_p = statistics.fmean(precisions[:3]), statistics.fmean(precisions[-3:])
        if slope < 0 and last_r <= (1 - self.cfg.recall_drop) * first_r and last_p >= first_p - 0.05:
            return {
                "recall_first": first_r,
                "recall": last_r,
                "precision_first": first_p,
                "precision": last_p,
                "over_steps": steps[-1] - steps[0],
            }
        return None


DETECTORS: tuple[type[Detector], ...] = (
    NonFinite,
    ExplodingGradients,
    DWins,
    GFoolsWithGarbage,
    ModeCollapse,
    SlowCollapse,
    Unstable,
    Stalled,
)


@dataclass
class Doctor:
    """Feed it rows with :meth:`observe`; it returns the events raised by each row."""

    cfg: DoctorConfig
    info: dict[str, Any]  # kind ('2d' / 'image'), num_modes (2D), num_classes
    events: list[Event] = field(default_factory=list)
    detectors: list[Detector] = field(init=False)
    history: deque[dict[str, Any]] = field(init=False)
    last_step: int = -1

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget all windows (after a rollback the history before it no longer describes the run).
        Events still open end at the last step seen: the rows that showed them are no longer the run's."""
        for event in self.events:
            if event.ended is None:
                event.ended = max(self.last_step, event.step)
        self.detectors = [cls(self.cfg, self.info) for cls in DETECTORS]
        self.history = deque(maxlen=max(self.cfg.trend, self.cfg.window) + 1)
        self.last_step = -1

    def observe(self, row: dict[str, Any]) -> list[Event]:
        step = int(row["step"])
        if step <= self.last_step:  # a replayed file after a rollback: steps go back
            self.reset()
        self.last_step = step
        warm = step > (self.cfg.warmup or 0)
        raised = []
        for det in self.detectors:
            if det.slow and not warm:
                det.warm_up(row)
                continue
            streak = det.streak
            event = det.update(row, self.history)
            if streak.raised and det.streak is not streak:  # a raised episode's streak was dropped: it ended
                self._end(det.code, streak.last)
            if event is not None:
                raised.append(event)
        self.history.append(row)
        self.events += raised
        return raised

    def _end(self, code: str, step: int | None) -> None:
        for event in reversed(self.events):
            if event.code == code:
                if event.ended is None:
                    event.ended = step
                return

    def state_dict(self) -> dict[str, Any]:
        """The doctor's whole memory: its events, the rows it still looks back on, and each detector."""
        return {
            "events": [asdict(e) for e in self.events],
            "history": list(self.history),
            "last_step": self.last_step,
            "detectors": {d.code: d.state_dict() for d in self.detectors},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (a resumed run)."""
        self.reset()
        self.events = [Event(**e) for e in state.get("events", [])]
        self.history.extend(state.get("history", []))
        self.last_step = int(state.get("last_step", -1))
        saved = state.get("detectors", {})
        for det in self.detectors:
            if det.code in saved:
                det.load_state_dict(saved[det.code])

    def healthy_before(self) -> int | None:
        """Every checkpoint before this step predates any evidence still open (None: no open evidence)."""
        starts = [d.pending_since for d in self.detectors if d.pending_since is not None]
        return min(starts) if starts else None


def run_info(info: dict[str, Any]) -> dict[str, Any]:
    """The doctor's view of a run's ``run.json`` data block."""
    data = info.get("data", info)
    return {
        "kind": data.get("kind"),
        "num_modes": len(data["modes"]) if data.get("modes") else None,
        "num_classes": data.get("num_classes"),
    }


def diagnose(rows: Iterable[dict[str, Any]], cfg: DoctorConfig, info: dict[str, Any]) -> list[Event]:
    """Replay ``rows`` (a run's metrics.jsonl) through a fresh doctor; the events it raises."""
    doctor = Doctor(cfg, run_info(info))
    for row in rows:
        if "step" in row:
            doctor.observe(row)
    return doctor.events


def verdict(events: list[Event], actions: list[dict[str, Any]], step: int, action: str) -> dict[str, Any]:
    """The contents of ``verdict.json``: healthy is true when no failure was raised. ``ongoing`` lists
    the failures still open at ``step``; the others ended (their sign was gone for a window, or a
    rollback undid it), so a run that failed and recovered has failures but nothing ongoing."""
    return {
        "healthy": not events,
        "step": step,
        "action": action,
        "failures": sorted({e.code for e in events}),
        "ongoing": sorted({e.code for e in events if e.ended is None}),
        "events": [e.to_json() for e in events],
        "actions": actions,
    }
