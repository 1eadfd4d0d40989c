"""The student edition's Sphinx extension: every exercise keeps its place, every solution is left out.

sphinx-exercise has an option for this, ``hide_solutions``, but in version 1.2.1 it drops only
``{solution}`` directives and the opening half of gated ones (``solution-start`` ...
``solution-end``, which the chapters use because their solutions hold code cells): the cells in
between stay in the page and the lone end node stops the HTML writer. This transform runs right
after sphinx-exercise has merged each gated pair into one solution node and removes the whole
solution. ``python -m booktools.book build --student`` loads it (see ``staged_config``).
"""
from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx_exercise.nodes import solution_node


class RemoveSolutions(SphinxTransform):
    """Remove every solution node, gated solutions included, from the document."""

    default_priority = 11  # after sphinx_exercise.transforms.MergeGatedSolutions (10)

    def apply(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(solution_node)):
            node.parent.remove(node)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the transform (Sphinx's extension entry point)."""
    app.add_transform(RemoveSolutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
