"""The course's dashboards, all built on :class:`Dashboard`."""

from course_lib.widgets.base import Dashboard, figure_png  # noqa: F401
from course_lib.widgets.welcome import BallOnCurve  # noqa: F401
