"""The dashboard contract every interactive figure of the course follows.

A dashboard has

- ``controls``: a dict from name to ipywidgets control;
- ``figure``: one matplotlib figure, created once and redrawn in place;
- ``update()``: recompute from the current control values and redraw;
- ``status``: a text widget with the key number or message of the current
  setting, which is also what the tests read.

Setting ``controls[name].value`` from Python calls ``update()``
synchronously, so dashboards are tested headlessly. An exception raised by
``update()`` inside a control callback is shown in ``status`` and in the
``errors`` output area instead of vanishing in the browser console; calling
``update()`` directly still raises.

The figure is a plain ``matplotlib.figure.Figure`` rendered by Agg, outside
pyplot's figure registry, so no backend displays it on its own and closing
the dashboard frees it. The dashboard shows it as a PNG image widget that
each redraw refreshes, which works in any Jupyter frontend with ipywidgets.
The dashboard's display also carries a static PNG of its current state, so
a notebook opened without a kernel (GitHub, nbviewer, an nbconvert HTML
export) still shows the figure.
"""

from __future__ import annotations

import base64
import io
import logging
import traceback
from typing import Any

import ipywidgets as widgets
import PIL.Image
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


def figure_png(figure: Figure, dpi: float = 80) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def steps_text(count: int) -> str:
    """Format a step count for a status line: "1 step", "200 steps"."""
    return f"{count} step" if count == 1 else f"{count} steps"


def canvas_png(canvas: FigureCanvasAgg) -> bytes:
    """Encode what an Agg canvas last rendered as PNG bytes.

    Compression level 1 is several times faster than PIL's default and
    makes files only slightly larger for flat-coloured plots.
    """
    width, height = canvas.get_width_height(physical=True)
    image = PIL.Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba())
    buffer = io.BytesIO()
    image.save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


class Dashboard:
    """Base class: subclasses build controls and artists, then call ``_connect``.

    Subclasses implement :meth:`update` and, in ``__init__``, call
    ``super().__init__(figsize=...)``, fill ``self.controls``, draw their
    artists once on ``self.figure``, and finally call ``self._connect()``,
    which draws the first state.
    """

    # Resolution of the PNG the browser shows: 6.4 x 4 inches at 80 dpi is
    # 512 x 320 pixels.
    dpi: float = 80

    def __init__(self, figsize: tuple[float, float] = (6.4, 4.0)) -> None:
        self.controls: dict[str, widgets.ValueWidget] = {}
        self.figure = Figure(figsize=figsize, dpi=self.dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        # Artists that change on every update. The rest of the figure is
        # rendered once into a cached background and restored before these
        # are drawn on top (blitting), which is what keeps an update fast.
        self.animated: list[Artist] = []
        self._background: Any = None
        self.status = widgets.Label(value="")
        self.errors = widgets.Output()
        self.last_error: BaseException | None = None
        self._image: widgets.Image | None = None
        self._view: widgets.Widget | None = None

    # -- the contract ----------------------------------------------------

    def update(self) -> None:
        """Recompute from the control values and redraw the figure."""
        raise NotImplementedError

    def redraw(self) -> None:
        """Refresh the displayed image from the current artists.

        Before the dashboard is displayed there is no image to refresh, so
        headless tests that only read artists and ``status`` skip rendering.
        """
        if self._image is not None:
            self._image.value = self.render()

    def invalidate_background(self) -> None:
        """Mark the cached background stale after a change to static artists.

        Call it when an update changes anything outside ``self.animated``:
        axis limits, a contour plot, a title.
        """
        self._background = None

    def render(self) -> bytes:
        """Render the figure and return it as PNG bytes.

        Without ``self.animated`` every render is a full draw. With it, a
        full draw happens only when the background cache is stale; other
        renders restore the cached background and draw ``self.animated``.
        """
        if not self.animated:
            self.canvas.draw()
            return canvas_png(self.canvas)
        if self._background is None:
            for artist in self.animated:
                artist.set_animated(True)
            self.canvas.draw()
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        else:
            self.canvas.restore_region(self._background)
        for artist in self.animated:
            self.figure.draw_artist(artist)
        return canvas_png(self.canvas)

    # -- wiring ------------------------------------------------------------

    def _connect(self) -> None:
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        try:
            self.update()
        except Exception as error:  # shown to the learner, then logged
            self.last_error = error
            self.status.value = f"error: {type(error).__name__}: {error}"
            with self.errors:
                print(traceback.format_exc())
            logger.exception("dashboard update failed for %s", change.get("name"))
        else:
            self.last_error = None

    # -- display -----------------------------------------------------------

    def control_box(self) -> widgets.Widget:
        """Lay out the controls; subclasses may override."""
        return widgets.VBox(list(self.controls.values()))

    @property
    def view(self) -> widgets.Widget:
        """The widget tree: controls, figure, status and error output."""
        if self._view is None:
            self._image = widgets.Image(format="png")
            self._image.value = self.render()
            self._view = widgets.VBox(
                [self.control_box(), self._image, self.status, self.errors]
            )
            # CSS classes by which browser tests find the parts of a dashboard.
            self._view.add_class("course-dashboard")
            self._image.add_class("course-figure")
            self.status.add_class("course-status")
        return self._view

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.view._repr_mimebundle_(**kwargs)
        # A static picture beside the live widget: renderers without a kernel
        # (nbconvert, nbviewer, GitHub) fall back to it.
        # render(), not savefig(): savefig skips the artists marked animated.
        bundle["image/png"] = base64.b64encode(self.render()).decode()
        return bundle

    def close(self) -> None:
        """Close the figure and the widgets so nothing leaks."""
        self.figure.clear()
        for control in self.controls.values():
            control.close()
        if self._view is not None:
            self._view.close()
        self.status.close()
        self.errors.close()
