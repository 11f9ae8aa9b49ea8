"""The course's dashboards, all built on :class:`Dashboard`."""

from course_lib.widgets.adaptive import EffectiveStepDashboard  # noqa: F401
from course_lib.widgets.backprop import BackpropStepper  # noqa: F401
from course_lib.widgets.base import Dashboard, figure_png  # noqa: F401
from course_lib.widgets.capstone import CapstoneDashboard  # noqa: F401
from course_lib.widgets.loss import LossExplorer, LossSurface  # noqa: F401
from course_lib.widgets.momentum import (  # noqa: F401
    MomentumDashboard,
    NesterovStepper,
    RateMapDashboard,
)
from course_lib.widgets.race import RaceDashboard  # noqa: F401
from course_lib.widgets.schedule import ScheduleDesigner  # noqa: F401
from course_lib.widgets.surface import SurfaceDashboard  # noqa: F401
from course_lib.widgets.training import TrainingDashboard  # noqa: F401
from course_lib.widgets.welcome import BallOnCurve  # noqa: F401
