"""The course's dashboards, all built on :class:`Dashboard`."""

from course_lib.widgets.base import Dashboard, figure_png

__all__ = ["Dashboard", "figure_png"]
