"""Interactive explorers for the notebooks (ipywidgets). Presentation only.

Widgets are not live in the static book, so each chapter shows a static figure made by
the same plotting function beside every widget.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt

from .data import CueDataConfig, build_data, num_classes
from .plots import eval_set_examples, figure_html


def replace_output(out, obj) -> None:
    """Make ``obj`` (an IPython display object) the only output of the Output widget ``out``.

    It sets the widget's ``outputs`` from the kernel instead of capturing a display with
    ``with out:``. Captured output makes nbclient's stand-in for the Output widget send a
    message on the shell channel while it waits there for the cell's reply, which can leave
    papermill waiting until the cell timeout (nbclient issue #312;
    ``benchmarks/papermill_hang_repro.py``). Setting the state sends nothing back.
    """
    out.outputs = ()
    out.append_display_data(obj)


def show_figure(out, fig: plt.Figure, alt: str) -> None:
    """Show ``fig`` as the only output of the Output widget ``out`` (an image with the alt text ``alt``,
    :func:`~mmc_utils.plots.figure_html`) and close it."""
    replace_output(out, figure_html(fig, alt))
    plt.close(fig)


def cue_explorer(config: CueDataConfig, class_names: Sequence[str] | None = None, n: int = 8):
    """An explorer of cue type, cue proportion p, evaluation set and class.

    It rebuilds a small copy of ``config`` (at most 2,000 training images) on every change
    and shows ``n`` images of the chosen set and class, with the fraction of cued training
    images of that class.

    Returns:
        The ``ipywidgets`` container (display it as the cell's last expression).
    """
    import ipywidgets as w

    small = config.replace(n_train=min(config.n_train, 2000), n_clean=min(config.n_clean, 200),
                           n_test=min(config.n_test, 500))
    cue = w.Dropdown(options=["box", "dominoes"], value=config.cue if config.cue in ("box", "dominoes") else "box",
                     description="cue")
    p = w.FloatSlider(value=config.p, min=0.0, max=1.0, step=0.1, description="p", continuous_update=False)
    which = w.Dropdown(options=["train", "NC", "C", "RC", "RI"], value="C", description="set")
    label = w.Dropdown(options=[("all", -1)] + [(class_names[i] if class_names else str(i), i)
                                                 for i in range(num_classes(config.base))],
                       value=-1, description="class")
    out = w.Output()

    def draw(*_):
        data = build_data(small.replace(cue=cue.value, p=p.value))
        sets = {"train": data.train, **data.eval_sets()}
        chosen = sets[which.value]
        lab = None if label.value < 0 else label.value
        frac = data.train.cued.float().mean().item() if lab is None else \
            data.train.cued[data.train.labels == lab].float().mean().item()
        title = f"{cue.value} cue, p = {p.value:.1f}: {100 * frac:.0f}% of these training images cued"
        fig = eval_set_examples({which.value: chosen}, n=n, label=lab, class_names=class_names, title=title)
        show_figure(out, fig, f"{n} images of the {which.value} set, "
                              f"{'all classes' if lab is None else 'one class'}; {title}")

    for ctl in (cue, p, which, label):
        ctl.observe(draw, names="value")
    draw()
    return w.VBox([w.HBox([cue, p]), w.HBox([which, label]), out])


def path_explorer(model, path, sets, bn_data, class_names: Sequence[str] | None = None, n: int = 6,
                  bn_batches: int = 10):
    """A slider over t in [0, 1] that shows the predictions of γ(t) on ``n`` images of each set.

    BN statistics are re-estimated at every t on ``bn_data`` (as in the path evaluations).

    Returns:
        The ``ipywidgets`` container.
    """
    import ipywidgets as w

    from .paths import model_at
    from .plots import prediction_rows

    t = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.1, description="t", continuous_update=False)
    out = w.Output()

    def draw(*_):
        net = model_at(model, path, round(t.value, 3), bn_data=bn_data, bn_batches=bn_batches)
        fig = prediction_rows(net, sets, n=n, class_names=class_names, title=f"γ(t) at t = {t.value:.1f}")
        show_figure(out, fig, f"Predictions of the model at t = {t.value:.1f} on the path for {n} images of each "
                              f"set ({', '.join(sets)}), captioned with the predicted class")

    t.observe(draw, names="value")
    draw()
    return w.VBox([t, out])
