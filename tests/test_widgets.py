"""The explorers set their Output widget's state directly (no captured output, which hung papermill)."""
import matplotlib
matplotlib.use("Agg")

import torch  # noqa: E402

from mmc_utils import plots_landscape, toy  # noqa: E402
from mmc_utils.widgets import replace_output  # noqa: E402


def test_replace_output_keeps_one_display():
    import ipywidgets as w
    from IPython.display import HTML

    out = w.Output()
    replace_output(out, HTML("<p>one</p>"))
    replace_output(out, HTML("<p>two</p>"))
    assert len(out.outputs) == 1 and out.outputs[0]["output_type"] == "display_data"
    assert "two" in out.outputs[0]["data"]["text/html"]


def test_toy_explorer_redraws_into_its_output():
    X, y = toy.make_toy_data(20, seed=0)
    a, b = toy.OneHiddenReLU(width=4), toy.OneHiddenReLU(width=4)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.1)
    box = plots_landscape.toy_path_explorer(a, b, X, y)
    slider, out = box.children
    first = out.outputs[0]["data"]["text/html"]
    slider.value = 1.0
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["text/html"] != first
    assert "t = 1.00" in out.outputs[0]["data"]["text/html"]
