"""``inertia playground``: one offline HTML page where every optimizer of inertia runs on the 2-D surfaces.

The page runs a JavaScript port of inertia's 2-D update rules in float64 (SGD, momentum, Nesterov,
AdaGrad, RMSprop, Adam with and without bias correction, AdamW, L-BFGS with a fixed step, exact
Newton); the tests compare its trajectories with the library's. Sliders redraw the runs live, a
click on the map moves the start, the URL hash holds the whole view, and on the valley the theory
panel sets the stability limits and Goh's optimal momentum beside the rate measured on screen.

Example::

    from inertia.lab.playground import write_playground
    path = write_playground("inertia-report", lang="ko")
"""

from inertia.lab.playground.page import FILENAME, render_playground, surface_config, write_playground
from inertia.lab.playground.presets import chapter_hash

__all__ = ["FILENAME", "chapter_hash", "render_playground", "surface_config", "write_playground"]
