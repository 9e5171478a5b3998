"""Tiny random ONNX human-parsing models with the real SCHP signature (tests and demos only)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vto.core.preprocess.parsing import ATR_CLASSES, ATR_SIZE, LIP_CLASSES, LIP_SIZE


def write_random_parsing_model(path: Path, kind: Literal["atr", "lip"], seed: int) -> None:
    """Write a tiny random ONNX parser with the real signature (for tests).

    Input ``input.1`` float32 (1, 3, S, S); outputs: 0 = "parsing" and 1 = "fusion" logits
    (1, C, s, s) at about 1/4 resolution (128 for ATR, 119 for LIP, as SCHP), 2 = "edge"
    (1, 2, s, s). A 4×4 average pool and two 1×1 convolutions, deterministic from ``seed``.
    """
    size, classes = (ATR_SIZE, ATR_CLASSES) if kind == "atr" else (LIP_SIZE, LIP_CLASSES)
    rng = np.random.default_rng(seed)
    hidden = 8

    def tensor(name: str, *shape: int, scale: float) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32),
                                       name)

    inits = [tensor("w1", hidden, 3, 1, 1, scale=1.0), tensor("b1", hidden, scale=0.5),
             tensor("w_parse", classes, hidden, 1, 1, scale=1.0),
             tensor("b_parse", classes, scale=0.5),
             tensor("w_fuse", classes, hidden, 1, 1, scale=1.0),
             tensor("b_fuse", classes, scale=0.5),
             tensor("w_edge", 2, hidden, 1, 1, scale=1.0), tensor("b_edge", 2, scale=0.5)]
    nodes = [helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[4, 4],
                              strides=[4, 4], ceil_mode=1),
             helper.make_node("Conv", ["pooled", "w1", "b1"], ["hidden_pre"]),
             helper.make_node("Tanh", ["hidden_pre"], ["hidden"]),
             helper.make_node("Conv", ["hidden", "w_parse", "b_parse"], ["parsing"]),
             helper.make_node("Conv", ["hidden", "w_fuse", "b_fuse"], ["fusion"]),
             helper.make_node("Conv", ["hidden", "w_edge", "b_edge"], ["edge"])]
    out = -(-(size - 4) // 4) + 1            # ceil_mode pooling: 128 for 512, 119 for 473
    graph = helper.make_graph(
        nodes, f"tiny_schp_{kind}",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("parsing", TensorProto.FLOAT, [1, classes, out, out]),
         helper.make_tensor_value_info("fusion", TensorProto.FLOAT, [1, classes, out, out]),
         helper.make_tensor_value_info("edge", TensorProto.FLOAT, [1, 2, out, out])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="vto-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
