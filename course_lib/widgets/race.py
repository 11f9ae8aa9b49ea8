"""The optimizer race: several optimizers on one problem, drawn together.

:class:`RaceDashboard` runs any set of the optimizers of
:mod:`course_lib.optim`, each with its own hyperparameters, on a 2-D surface
or on a data set (:func:`course_lib.race.race`), and draws their paths over
the surface's contours beside their loss curves. ``status`` names who
reached the target first and who diverged. Presets reproduce the comparisons of the
chapters on adaptive step sizes and on the Adam family.

Each optimizer's run depends only on the problem, the number of steps and
its own settings, so runs are cached by those: moving one optimizer's
learning rate reruns that optimizer only, and changing the target reruns
nothing.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib import colormaps

from course_lib.data import Dataset, load_dataset
from course_lib.landscapes import Surface, draw_contours, get_surface
from course_lib.optim import OPTIMIZERS, default_hyperparameters
from course_lib.race import (
    Entrant,
    RaceResult,
    combine_results,
    race_on_dataset,
    race_on_surface,
)
from course_lib.widgets.base import Dashboard

# Problem label -> (kind, name, keyword arguments of get_surface).
RACE_PROBLEMS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "bowl, curvatures 1 and 100": ("surface", "quadratic", {"condition_number": 100.0}),
    "bowl, curvatures 1 and 100, rotated 45°": (
        "surface",
        "quadratic",
        {"condition_number": 100.0, "angle": math.pi / 4},
    ),
    "bowl, condition number 10": ("surface", "quadratic", {"condition_number": 10.0}),
    "ravine": ("surface", "ravine", {}),
    "rosenbrock": ("surface", "rosenbrock", {}),
    "beale": ("surface", "beale", {}),
    "himmelblau": ("surface", "himmelblau", {}),
    "saddle": ("surface", "saddle", {}),
    "two_basins": ("surface", "two_basins", {}),
    "digits (data set, full batch)": ("dataset", "digits", {}),
}

# Hyperparameter controls: control name -> (torch name, slider settings).
# beta1 and beta2 are the entries of torch's ``betas``.
_SLIDERS: dict[str, dict[str, Any]] = {
    "momentum": dict(min=0.0, max=0.99, step=0.01),
    "beta1": dict(min=0.0, max=0.999, step=0.001),
    "beta2": dict(min=0.5, max=0.9999, step=0.0001),
    "alpha": dict(min=0.5, max=0.999, step=0.001),
    "rho": dict(min=0.5, max=0.999, step=0.001),
    "weight_decay": dict(min=0.0, max=0.5, step=0.005),
}
_CHECKBOXES = ("amsgrad", "nesterov")
SETTING_CONTROLS: tuple[str, ...] = ("lr", *_SLIDERS, *_CHECKBOXES)

# At most this many single-optimizer runs are kept. Each contains its path
# and loss curve, about 50 kB at 2000 steps, so the cache stays below 30 MB.
_CACHE_SIZE = 512
# Learning-rate slider positions on each side of a new setting that one
# batched run also computes, so that the next moves are cache hits.
_PREFETCH_POSITIONS = 4

# Floor of the log-scale loss panel, where a run reaches the minimum exactly.
_GAP_FLOOR = 1e-16

# Presets: the chapters' comparisons. "optimizers" maps each optimizer to
# the setting controls it changes from torch's defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "ravine: momentum against RMSprop and Adam": dict(
        problem="ravine",
        steps=300,
        target=1e-3,
        optimizers={
            "SGD": {"lr": 0.05, "momentum": 0.9},
            "RMSprop": {"lr": 0.01},
            "Adam": {"lr": 0.1},
        },
    ),
    "08 · badly scaled bowl: SGD against Adagrad, RMSprop, Adadelta": dict(
        problem="bowl, curvatures 1 and 100",
        steps=500,
        target=1e-6,
        optimizers={
            "SGD": {"lr": 0.0198},
            "Adagrad": {"lr": 0.5},
            "RMSprop": {"lr": 0.01},
            "Adadelta": {"lr": 1.0},
        },
    ),
    "08 · the same bowl rotated 45°: per-coordinate steps no longer help": dict(
        problem="bowl, curvatures 1 and 100, rotated 45°",
        steps=500,
        target=1e-6,
        optimizers={
            "SGD": {"lr": 0.0198},
            "Adagrad": {"lr": 0.5},
            "RMSprop": {"lr": 0.01},
            "Adadelta": {"lr": 1.0},
        },
    ),
    "09 · the Adam family at lr 0.1 on Rosenbrock": dict(
        problem="rosenbrock",
        steps=1000,
        target=1e-3,
        optimizers={
            "Adam": {"lr": 0.1},
            "AdamW": {"lr": 0.1},
            "Adamax": {"lr": 0.1},
            "NAdam": {"lr": 0.1},
            "RAdam": {"lr": 0.1},
        },
    ),
    "09 · every optimizer at torch's defaults on Beale": dict(
        problem="beale",
        steps=500,
        target=1e-3,
        optimizers={name: {} for name in OPTIMIZERS},
    ),
    "09 · every optimizer at torch's defaults on digits": dict(
        problem="digits (data set, full batch)",
        steps=100,
        target=0.1,
        optimizers={name: {} for name in OPTIMIZERS},
    ),
    "learning rates too large: who diverges": dict(
        problem="rosenbrock",
        steps=200,
        target=1e-3,
        optimizers={
            "SGD": {"lr": 0.01},
            "RMSprop": {"lr": 0.5},
            "Adam": {"lr": 1.0},
        },
    ),
}
CUSTOM = "custom"
DEFAULT_PRESET = "ravine: momentum against RMSprop and Adam"


def _uses(optimizer: str) -> set[str]:
    """Return the setting controls that ``optimizer`` takes."""
    names = set(OPTIMIZERS[optimizer].hyperparameters)
    used = {"lr"} | (names & set(SETTING_CONTROLS))
    if "betas" in names:
        used |= {"beta1", "beta2"}
    return used


def default_settings(optimizer: str) -> dict[str, Any]:
    """Return torch's defaults of the setting controls ``optimizer`` takes."""
    defaults = default_hyperparameters(optimizer)
    settings = {}
    for name in _uses(optimizer):
        if name == "beta1":
            settings[name] = float(defaults["betas"][0])
        elif name == "beta2":
            settings[name] = float(defaults["betas"][1])
        else:
            settings[name] = defaults[name]
    return settings


def entrant_hyperparameters(
    optimizer: str, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """Map setting-control values to torch's keyword arguments of ``optimizer``.

    >>> entrant_hyperparameters("Adam", {"lr": 0.1, "beta1": 0.8, "beta2": 0.99})
    {'lr': 0.1, 'betas': (0.8, 0.99)}
    """
    used = _uses(optimizer)
    hyperparameters = {
        name: value
        for name, value in settings.items()
        if name in used and name not in ("beta1", "beta2")
    }
    if "beta1" in used:
        defaults = default_settings(optimizer)
        hyperparameters["betas"] = (
            float(settings.get("beta1", defaults["beta1"])),
            float(settings.get("beta2", defaults["beta2"])),
        )
    return hyperparameters


class RaceDashboard(Dashboard):
    """Several optimizers on one problem, with who reached the target first.

    Controls (``controls``):

    - ``preset``: a comparison of :data:`PRESETS`, or ``"custom"``; choosing
      a preset sets every other control, and changing any other control
      afterwards switches this to ``"custom"``;
    - ``problem``: a label of :data:`RACE_PROBLEMS`, a surface or a data set
      (trained with full batches from one set of initial weights);
    - ``optimizers``: the optimizers in the race, any subset of
      :data:`course_lib.optim.OPTIMIZERS`;
    - ``edit``: which optimizer the setting controls below show and change;
    - the setting controls ``lr`` (log scale), ``momentum``, ``beta1``,
      ``beta2``, ``alpha``, ``rho``, ``weight_decay``, ``amsgrad`` and
      ``nesterov``, each shown only for an optimizer that takes it;
    - ``steps``: optimizer steps of every optimizer;
    - ``target``: the loss above the minimum (for a data set, the training
      loss) that counts as arrived, log scale.

    ``status`` is :meth:`course_lib.race.RaceResult.summary` of the race,
    such as ``"first to gap 0.001: Adam (step 57) · then RMSprop (80) ·
    diverged: SGD (step 12)"``. An optimizer whose settings torch rejects
    sits out, and ``" · invalid: ..."`` with torch's message follows. With
    no optimizer selected it reads ``"choose at least one optimizer"``.

    Args:
        preset: the initial preset's name.
        device: where data-set races train; the data set's default device
            (:func:`course_lib.get_device`) when None. Surface races run on
            the CPU.
    """

    def __init__(self, preset: str = DEFAULT_PRESET, *, device: Any = None) -> None:
        if preset not in PRESETS:
            raise ValueError(
                f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}"
            )
        super().__init__(figsize=(10.4, 4.4))
        self.device = device
        self.settings: dict[str, dict[str, Any]] = {
            name: default_settings(name) for name in OPTIMIZERS
        }
        self.result: RaceResult | None = None
        self._cache: OrderedDict[tuple[Any, ...], RaceResult] = OrderedDict()
        self._surfaces: dict[str, Surface] = {}
        self._datasets: dict[str, Dataset] = {}
        self._contours: dict[str, list[Any]] = {}
        self._shown_problem: str | None = None
        self._legend_key: tuple[str, ...] | None = None
        self._loss_limits: tuple[int, tuple[float, float]] | None = None
        self._holding = False

        self.controls = {
            "preset": widgets.Dropdown(
                options=[*PRESETS, CUSTOM], value=preset, description="preset"
            ),
            "problem": widgets.Dropdown(
                options=list(RACE_PROBLEMS), description="problem"
            ),
            "optimizers": widgets.SelectMultiple(
                options=list(OPTIMIZERS), rows=len(OPTIMIZERS), description="optimizers"
            ),
            "edit": widgets.Dropdown(
                options=list(OPTIMIZERS), description="settings of"
            ),
            "lr": widgets.FloatLogSlider(
                value=1e-3,
                base=10,
                min=-5,
                max=1,
                step=0.05,
                description="lr",
                readout_format=".3g",
                continuous_update=False,
            ),
        }
        for name, spec in _SLIDERS.items():
            self.controls[name] = widgets.FloatSlider(
                description=name, readout_format=".4g", continuous_update=False, **spec
            )
        for name in _CHECKBOXES:
            self.controls[name] = widgets.Checkbox(description=name, indent=False)
        self.controls["steps"] = widgets.IntSlider(
            value=300,
            min=10,
            max=2000,
            step=10,
            description="steps",
            continuous_update=False,
        )
        self.controls["target"] = widgets.FloatLogSlider(
            value=1e-3,
            base=10,
            min=-8,
            max=0,
            step=0.5,
            description="target gap",
            readout_format=".0e",
            continuous_update=False,
        )
        self._build_figure()
        self._apply_preset(preset)
        self._connect()

    # -- figure ------------------------------------------------------------------

    def _build_figure(self) -> None:
        self.ax_surface = self.figure.add_axes((0.05, 0.12, 0.4, 0.78))
        self.ax_accuracy = self.figure.add_axes((0.12, 0.12, 0.33, 0.78))
        self.ax_loss = self.figure.add_axes((0.56, 0.12, 0.42, 0.78))
        colors = colormaps["tab10"].colors
        self.colors = {name: colors[i % 10] for i, name in enumerate(OPTIMIZERS)}

        # One path, end marker and loss curve per optimizer, empty until it
        # races, so an update only sets their data.
        self.paths: dict[str, Any] = {}
        self.ends: dict[str, Any] = {}
        self.curves: dict[str, Any] = {}
        for name in OPTIMIZERS:
            color = self.colors[name]
            (self.paths[name],) = self.ax_surface.plot(
                [], [], "-", color=color, linewidth=1.4, label=name
            )
            (self.ends[name],) = self.ax_surface.plot(
                [], [], "o", color=color, markeredgecolor="k", markersize=7
            )
            (self.curves[name],) = self.ax_loss.plot([], [], color=color, label=name)
        (self.start_marker,) = self.ax_surface.plot(
            [], [], "o", color="k", markersize=6, zorder=5
        )

        # Data sets have no 2-D path; their left panel shows accuracy bars.
        self.bars = self.ax_accuracy.barh(
            list(OPTIMIZERS),
            [0.0] * len(OPTIMIZERS),
            color=[self.colors[name] for name in OPTIMIZERS],
        )
        self.ax_accuracy.set_xlim(0.0, 1.0)
        self.ax_accuracy.invert_yaxis()
        self.ax_accuracy.set_xlabel("validation accuracy after the last step")
        self.ax_accuracy.set_title("digits: validation accuracy")
        self.ax_accuracy.grid(True, axis="x", alpha=0.3)

        self.target_line = self.ax_loss.axhline(1e-3, color="k", linestyle="--")
        self.ax_loss.set_yscale("log")
        self.ax_loss.set_xlabel("step")
        self.ax_loss.grid(True, which="major", alpha=0.3)

        self.animated = [
            *self.paths.values(),
            *self.ends.values(),
            self.start_marker,
            *self.curves.values(),
            self.target_line,
            *self.bars,
        ]

    def control_box(self) -> widgets.Widget:
        """Lay out the controls: the race on the left, one optimizer's settings."""
        c = self.controls
        settings = [c[name] for name in SETTING_CONTROLS]
        left = widgets.VBox([c["preset"], c["problem"], c["steps"], c["target"]])
        right = widgets.VBox(
            [
                c["edit"],
                widgets.Box(settings, layout=widgets.Layout(flex_flow="row wrap")),
            ]
        )
        return widgets.HBox([left, c["optimizers"], right])

    # -- problems ----------------------------------------------------------------

    def _problem(self, label: str) -> Surface | Dataset:
        kind, name, params = RACE_PROBLEMS[label]
        if kind == "surface":
            if label not in self._surfaces:
                self._surfaces[label] = get_surface(name, **params)
            return self._surfaces[label]
        if label not in self._datasets:
            self._datasets[label] = load_dataset(name, device=self.device)
        return self._datasets[label]

    def _show_problem(self, label: str) -> None:
        """Switch the left panel to ``label``'s contours or accuracy bars."""
        if self._shown_problem == label:
            return
        problem = self._problem(label)
        surface_shown = isinstance(problem, Surface)
        self.ax_surface.set_visible(surface_shown)
        self.ax_accuracy.set_visible(not surface_shown)
        # Animated artists are drawn one by one, whatever their axes' state.
        for bar in self.bars:
            bar.set_visible(not surface_shown)
        for artists in self._contours.values():
            for artist in artists:
                artist.set_visible(False)

        if surface_shown:
            self._show_contours(label, problem)
            self.ax_loss.set_ylabel("loss above the minimum")
            self.ax_loss.set_title("loss minus its minimum (log scale)")
        else:
            self.start_marker.set_data([], [])
            self.ax_loss.set_ylabel("training loss (cross-entropy)")
            self.ax_loss.set_title(f"{problem.name}: training loss (log scale)")
        self._shown_problem = label
        self.invalidate_background()

    def _show_contours(self, label: str, surface: Surface) -> None:
        """Show ``surface``'s contours, drawing them on first use."""
        ax = self.ax_surface
        if label in self._contours:
            for artist in self._contours[label]:
                artist.set_visible(True)
        else:
            before = set(ax.get_children())
            draw_contours(ax, surface, resolution=100)
            self._contours[label] = [a for a in ax.get_children() if a not in before]

        (x_min, x_max), (y_min, y_max) = surface.bounds
        ax.set_xlim(x_min, x_max)
        ax.set_ylim(y_min, y_max)
        ratio = (x_max - x_min) / (y_max - y_min)
        ax.set_aspect("equal" if 0.5 <= ratio <= 2.0 else "auto")
        ax.set_title(f"{label}: paths from the start (black)")

    # -- control bookkeeping -----------------------------------------------------

    def _set_quietly(self, name: str, **traits: Any) -> None:
        """Set traits of a control without triggering an update."""
        holding, self._holding = self._holding, True
        try:
            for trait, value in traits.items():
                setattr(self.controls[name], trait, value)
        finally:
            self._holding = holding

    def _apply_preset(self, preset: str) -> None:
        spec = PRESETS[preset]
        self.settings = {name: default_settings(name) for name in OPTIMIZERS}
        for name, overrides in spec["optimizers"].items():
            self.settings[name].update(overrides)
        selected = tuple(spec["optimizers"])
        self._set_quietly("problem", value=spec["problem"])
        self._set_quietly("steps", value=spec["steps"])
        self._set_quietly("target", value=spec["target"])
        self._set_quietly("optimizers", value=selected)
        self._sync_edit(selected)

    def _sync_edit(self, selected: Sequence[str]) -> None:
        """Offer the selected optimizers in ``edit`` and show the one chosen."""
        options = list(selected) or list(OPTIMIZERS)
        current = self.controls["edit"].value
        value = current if current in options else options[0]
        self._set_quietly("edit", options=options, value=value)
        self._load_settings(value)

    def _load_settings(self, optimizer: str) -> None:
        """Show ``optimizer``'s settings on the setting controls."""
        used = _uses(optimizer)
        for name in SETTING_CONTROLS:
            control = self.controls[name]
            control.layout.display = None if name in used else "none"
            if name in used:
                self._set_quietly(name, value=self.settings[optimizer][name])

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._holding:
            return
        owner = change.get("owner")
        name = next((key for key, c in self.controls.items() if c is owner), None)
        if name == "preset":
            if change["new"] != CUSTOM:
                self._apply_preset(change["new"])
        else:
            if name == "optimizers":
                self._sync_edit(change["new"])
            elif name == "edit":
                self._load_settings(change["new"])
            elif name in SETTING_CONTROLS:
                self.settings[self.controls["edit"].value][name] = change["new"]
            if name != "edit":
                self._set_quietly("preset", value=CUSTOM)
        super()._on_change(change)

    # -- update ------------------------------------------------------------------

    def entrants(self) -> list[Entrant]:
        """List the selected optimizers as race entrants, in registry order."""
        selected = set(self.controls["optimizers"].value)
        return [
            Entrant(
                name,
                entrant_hyperparameters(name, self.settings[name]),
                label=name,
            )
            for name in OPTIMIZERS
            if name in selected
        ]

    def _cache_key(self, label: str, steps: int, entrant: Entrant) -> tuple[Any, ...]:
        # Rounded, so that a learning rate the slider sends and the same one
        # computed here for prefetching give the same key.
        settings = tuple(
            (name, float(f"{value:.10g}") if isinstance(value, float) else value)
            for name, value in sorted(entrant.hyperparameters.items())
        )
        return (label, steps, entrant.optimizer, settings)

    def _store(self, key: tuple[Any, ...], result: RaceResult) -> None:
        self._cache[key] = result
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)

    def _neighbour_lrs(self, lr: float) -> list[float]:
        """Return the lr slider positions near ``lr``, where the learner may go next."""
        slider = self.controls["lr"]
        exponent = math.log(lr, slider.base)
        values = []
        for offset in range(-_PREFETCH_POSITIONS, _PREFETCH_POSITIONS + 1):
            position = exponent + offset * slider.step
            if slider.min - 1e-9 <= position <= slider.max + 1e-9:
                values.append(float(slider.base**position))
        return values

    def _run(self, label: str, entrant: Entrant, steps: int) -> RaceResult:
        key = self._cache_key(label, steps, entrant)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        problem = self._problem(label)
        if not isinstance(problem, Surface):
            result = race_on_dataset(problem, [entrant], steps=steps, target=None)
            self._store(key, result)
            return result

        # On a surface, one batched race over the learning rates near this
        # one costs about as much as this run alone (the steps are
        # overhead-bound on two-element tensors), and makes the next slider
        # moves cache hits.
        lr = entrant.hyperparameters.get("lr")
        if isinstance(lr, float) and lr > 0:
            lrs = self._neighbour_lrs(lr)
        else:
            lrs = []
        entrants = [entrant] + [
            Entrant(
                entrant.optimizer,
                {**entrant.hyperparameters, "lr": value},
                label=entrant.label,
            )
            for value in lrs
        ]
        batch = race_on_surface(problem, entrants, steps=steps, target=None)
        for index, neighbour in enumerate(entrants):
            one = _select_entrant(batch, index)
            neighbour_key = self._cache_key(label, steps, neighbour)
            if index == 0 or neighbour_key not in self._cache:
                self._store(neighbour_key, one)
        return self._cache[key]

    def update(self) -> None:
        """Run (or fetch) each selected optimizer's race and redraw."""
        label = self.controls["problem"].value
        steps = self.controls["steps"].value
        target = self.controls["target"].value
        self._show_problem(label)
        problem = self._problem(label)
        results, invalid = [], []
        for entrant in self.entrants():
            try:
                results.append(self._run(label, entrant, steps))
            except ValueError as error:
                # torch rejected this optimizer's settings (its message),
                # which is a fact about the setting; the others still race.
                invalid.append(str(error))
        self.result = combine_results(results, target=target) if results else None
        self._draw(problem, self.result, target)
        if self.result is None and not invalid:
            message = "choose at least one optimizer"
        elif self.result is None:
            message = ""
        else:
            message = self.result.summary()
        if invalid:
            message = " · ".join(
                filter(None, [message, "invalid: " + "; ".join(invalid)])
            )
        self.status.value = message
        self.redraw()

    def _draw(
        self, problem: Surface | Dataset, result: RaceResult | None, target: float
    ) -> None:
        surface = isinstance(problem, Surface)
        drawn = set(result.optimizers) if result is not None else set()
        for name in OPTIMIZERS:
            if name not in drawn or not surface:
                self.paths[name].set_data([], [])
                self.ends[name].set_data([], [])
            if name not in drawn:
                self.curves[name].set_data([], [])
        if surface:
            self.start_marker.set_data(
                [problem.default_start[0]], [problem.default_start[1]]
            )
        for bar in self.bars:
            bar.set_width(0.0)
        if result is None:
            self.target_line.set_visible(False)
            return

        names = list(OPTIMIZERS)
        for column, name in enumerate(result.optimizers):
            if surface and result.positions is not None:
                self._draw_path(name, result.positions[:, column].numpy())
                self.ends[name].set_marker(
                    "X" if int(result.diverged_at[column]) >= 0 else "o"
                )
            if not surface and result.val_accuracy is not None:
                accuracy = float(result.val_accuracy[column])
                self.bars[names.index(name)].set_width(
                    accuracy if math.isfinite(accuracy) else 0.0
                )
        self._draw_losses(result, target)

    def _draw_path(self, name: str, path: np.ndarray) -> None:
        self.paths[name].set_data(path[:, 0], path[:, 1])
        end = _last_finite(path)
        if end is None:
            self.ends[name].set_data([], [])
        else:
            self.ends[name].set_data([end[0]], [end[1]])

    def _draw_losses(self, result: RaceResult, target: float) -> None:
        """Draw the loss curves and the target, refitting the axes if needed."""
        steps = np.asarray(result.loss_steps)
        gaps = result.gaps.numpy()
        finite_gaps = []
        for column, name in enumerate(result.optimizers):
            gap = gaps[:, column]
            finite = np.isfinite(gap)
            values = np.where(finite, np.maximum(gap, _GAP_FLOOR), np.nan)
            self.curves[name].set_data(steps, values)
            finite_gaps.append(values[finite])
        self.target_line.set_visible(True)
        self.target_line.set_ydata([target, target])

        values = np.concatenate(finite_gaps) if finite_gaps else np.array([])
        starts = gaps[0][np.isfinite(gaps[0])]
        limits = _loss_limits(
            values, np.maximum(starts, _GAP_FLOOR), target, result.steps
        )
        if limits != self._loss_limits:
            # The axes are part of the cached background, so new limits
            # need a full draw. Rounding them to decades keeps that rare.
            (x_max, (y_min, y_max)) = limits
            self.ax_loss.set_xlim(0, x_max)
            self.ax_loss.set_ylim(y_min, y_max)
            self._loss_limits = limits
            self.invalidate_background()

        legend_key = tuple(result.optimizers)
        if legend_key != self._legend_key:
            self.ax_loss.legend(
                handles=[self.curves[name] for name in result.optimizers],
                loc="upper right",
                fontsize=8,
            )
            self._legend_key = legend_key
            self.invalidate_background()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.view._repr_mimebundle_(**kwargs)
        # The static picture for renderers without a kernel. render() draws
        # the animated artists too, which a plain savefig would skip.
        bundle["image/png"] = base64.b64encode(self.render()).decode()
        return bundle


def _select_entrant(result: RaceResult, index: int) -> RaceResult:
    """Return entrant ``index`` of ``result`` as a race of one entrant."""
    column = slice(index, index + 1)
    return dataclasses.replace(
        result,
        labels=[result.labels[index]],
        optimizers=[result.optimizers[index]],
        hyperparameters=[result.hyperparameters[index]],
        losses=result.losses[:, column].clone(),
        diverged_at=result.diverged_at[column].clone(),
        steps_to_target=result.steps_to_target[column].clone(),
        positions=None
        if result.positions is None
        else result.positions[:, column].clone(),
        val_accuracy=None
        if result.val_accuracy is None
        else result.val_accuracy[column].clone(),
    )


def _loss_limits(
    values: np.ndarray, starts: np.ndarray, target: float, steps: int
) -> tuple[int, tuple[float, float]]:
    """Choose the loss panel's x maximum and log-scale y range, in decades.

    The top is a decade above the highest starting loss, not the highest
    loss overall, so a run that climbs towards divergence (to 1e20, say)
    leaves the panel instead of flattening every other curve.
    """
    low = min(float(values.min()), target) if values.size else target
    high = max(float(starts.max()), target) if starts.size else target
    low = 10.0 ** math.floor(math.log10(max(low, _GAP_FLOOR)) - 0.25)
    high = 10.0 ** (math.ceil(math.log10(max(high, low * 10.0)) + 0.25) + 1)
    return max(steps, 1), (low, high)


def _last_finite(path: np.ndarray) -> np.ndarray | None:
    finite = np.isfinite(path).all(axis=1)
    if not finite.any():
        return None
    return path[np.flatnonzero(finite)[-1]]


__all__ = [
    "PRESETS",
    "RACE_PROBLEMS",
    "SETTING_CONTROLS",
    "RaceDashboard",
    "default_settings",
    "entrant_hyperparameters",
]
